/**
 * @module ingest/health-watch
 * Turns the ingest's running checks of what it depends on (the broker, the history database)
 * into news: one report when a part starts failing (unreachable, or refusing writes), one when
 * it works again. The ingest looks each second; a part that keeps failing, or fails with
 * another message, says nothing new. Before, `celeriac flower` said nothing at all about a broker it could not reach (a
 * wrong URL, a server down): only `/readyz` and the pages knew.
 */

/** Called when `part` starts failing (`problem`: why) or works again (`problem`: null). */
export type HealthReport = (part: string, problem: string | null) => void;

/** The last state reported per part. */
export class HealthWatch {
  readonly #failing = new Set<string>();

  constructor(private readonly report: HealthReport) {}

  /** Reports the parts whose state changed since the last look (null: answering). */
  look(parts: Readonly<Record<string, string | null>>): void {
    for (const [part, problem] of Object.entries(parts)) {
      if ((problem !== null) === this.#failing.has(part)) continue;
      if (problem === null) this.#failing.delete(part);
      else this.#failing.add(part);
      this.report(part, problem);
    }
  }
}
