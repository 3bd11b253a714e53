/**
 * @module server/audit
 * The audit log of actions (docs/security.md): who did what, from where, with which
 * answer. Appended as JSON lines to a file when one is configured (the data directory by
 * default), and the last entries kept in memory for `GET /api/audit`.
 */
import { appendFile } from 'node:fs/promises';

/** One audited action. */
export interface AuditEntry {
  /** ISO-8601 UTC. */
  readonly at: string;
  readonly user: string | null;
  readonly role: string;
  readonly via: string;
  readonly ip: string;
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly status: number;
}

const KEPT = 1000;

/** Records actions. */
export class AuditLog {
  readonly #recent: AuditEntry[] = [];
  #writes: Promise<void> = Promise.resolve();

  constructor(
    readonly file: string | null,
    private readonly onError: (error: Error) => void = () => {},
  ) {}

  record(entry: AuditEntry): void {
    this.#recent.push(entry);
    if (this.#recent.length > KEPT) this.#recent.shift();
    const file = this.file;
    if (file === null) return;
    this.#writes = this.#writes.then(() => appendFile(file, `${JSON.stringify(entry)}\n`, { mode: 0o600 })).catch((e: unknown) => this.onError(e as Error));
  }

  /** Newest first. */
  recent(limit = 100): AuditEntry[] {
    return this.#recent.slice(-limit).reverse();
  }

  /** Waits for pending file writes. */
  flush(): Promise<void> {
    return this.#writes;
  }
}
