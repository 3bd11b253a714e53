/**
 * @module worker/shutdown-budget
 * How long a worker's shutdown may wait for each thing it waits for: running tasks get the
 * deadline; every other step (closing the consumer, settling abandoned tasks, stopping remote
 * control) {@link SHUTDOWN_STEP_MS}, all of them together {@link SHUTDOWN_CLEANUP_MS}, none
 * when the broker or backend is known to be down, and {@link COLD_STEP_MS} once a step went
 * unanswered or a cold shutdown was asked for. A broker or backend that is down must not hold
 * shutdown: what could not be settled comes back by its lease (Redis) or when the connection
 * drops (AMQP).
 */
import type { Logger } from 'pino';
import { clearLongTimeout, setLongTimeout, type TimerHandle } from '../core/clock.js';
import { coerceError } from '../errors.js';

/** Longest wait of each shutdown step other than running tasks (closing the consumer, settling abandoned tasks, stopping remote control, closing the pool). */
export const SHUTDOWN_STEP_MS = 2000;

/**
 * Longest time all those steps take together: a warm shutdown ends within its deadline plus
 * this, whatever the broker and backend do (the CLI adds at most 2 s to close connections).
 */
export const SHUTDOWN_CLEANUP_MS = 4000;

/**
 * Longest wait of all the steps left once a cold shutdown is asked for (the second signal),
 * together: the CLI then closes its connections within 200 ms more and exits well inside its
 * failsafe (cli/commands/worker.ts COLD_EXIT_MS).
 */
export const COLD_STEP_MS = 500;

/** One shutdown's waits (see the module header). */
export class ShutdownBudget {
  /** Set by {@link goCold}: every shutdown wait is cut short. */
  #cold = false;
  /** Time shutdown spent so far on steps other than running tasks (see SHUTDOWN_CLEANUP_MS). */
  #cleanupSpentMs = 0;
  /**
   * A cleanup step ran out of time: the broker or backend is not answering, and the steps after
   * it, which need them too, get {@link COLD_STEP_MS} each instead of waiting as long again.
   */
  #unanswered = false;
  #wakeCold!: () => void;
  readonly #coldAsked = new Promise<void>((resolve) => (this.#wakeCold = resolve));
  /** When the steps left after a cold shutdown was asked for must have ended (epoch ms). */
  #coldEndsAt = Number.POSITIVE_INFINITY;

  /** @param offline true while the broker or backend is known to be down (then a step waits not at all). */
  constructor(
    private readonly log: Logger,
    private readonly offline: () => boolean,
  ) {}

  /** Whether a cold shutdown was asked for. */
  get cold(): boolean {
    return this.#cold;
  }

  /** A cold shutdown was asked for: the steps left get {@link COLD_STEP_MS} together from now. */
  goCold(): void {
    if (!this.#cold) this.#coldEndsAt = performance.now() + COLD_STEP_MS;
    this.#cold = true;
    this.#wakeCold();
  }

  /**
   * Waits for `work` but at most `budgetMs` (less once a cold shutdown is asked for); true
   * when it finished. A broker or backend that is down must not hold shutdown: what could
   * not be settled stays held by the broker and comes back by its lease (Redis) or when the
   * connection drops (AMQP).
   */
  async bounded(work: Promise<unknown> | undefined, what: string, budgetMs: number | 'step'): Promise<boolean> {
    if (work === undefined) return true;
    if (budgetMs === 'step') {
      const startedAt = performance.now();
      // A broker or backend known to be down (Redis refused or closed) answers nothing: no wait then.
      const offline = this.offline();
      const stepMs = offline ? 0 : this.#unanswered ? COLD_STEP_MS : SHUTDOWN_STEP_MS;
      const done = await this.bounded(work, offline ? `${what} (the broker or backend is disconnected)` : what, Math.max(0, Math.min(stepMs, SHUTDOWN_CLEANUP_MS - this.#cleanupSpentMs)));
      this.#cleanupSpentMs += performance.now() - startedAt;
      if (!done) this.#unanswered = true;
      return done;
    }
    let timer: TimerHandle | undefined;
    const finished = work.then(
      () => true,
      (err: unknown) => {
        this.log.warn({ err: coerceError(err) }, `shutdown: ${what} failed`);
        return true;
      },
    );
    const coldLeft = (): number => Math.max(0, this.#coldEndsAt - performance.now());
    const late = new Promise<boolean>((resolve) => (timer = setLongTimeout(() => resolve(false), this.#cold ? Math.min(budgetMs, coldLeft()) : budgetMs)));
    const cold = this.#cold ? late : this.#coldAsked.then(() => new Promise<boolean>((resolve) => setLongTimeout(() => resolve(false), coldLeft())));
    const done = await Promise.race([finished, late, cold]);
    clearLongTimeout(timer);
    if (!done) this.log.warn({ budgetMs }, `shutdown: gave up waiting for ${what}`);
    return done;
  }
}
