/**
 * @module worker/outage-log
 * The worker's log of a consumer's failures: one warning for each state a failure shows
 * during one outage (core/failure-state.ts: `OOM`, `LOADING`, `ECONNREFUSED`...) with the next
 * retry time, a state already shown in this outage only at debug level, and one line when
 * fetching works again. Before this, a broker Redis at maxmemory logged an error with its stack
 * trace every retry. A state is news once per outage, not once per change: a replica whose
 * master is gone answers reads with MASTERDOWN and writes with READONLY, and the fetch and the
 * background duties take turns, so a log of changes warned on every other retry.
 */
import type { Logger } from 'pino';
import type { ConsumerRetry } from '../core/spi/broker.js';

/** Logs a run of consumer failures by state change (see the module header). */
export class OutageLog {
  #state: string | undefined;
  /** The states warned of since the outage began. */
  readonly #shown = new Set<string>();
  #since = 0;
  #failures = 0;

  constructor(
    private readonly log: Pick<Logger, 'warn' | 'info' | 'debug'>,
    private readonly now: () => number = Date.now,
  ) {}

  /** The state of the failure shown last; undefined while nothing fails. */
  get state(): string | undefined {
    return this.#state;
  }

  /** A failure of `state` (its text `message`); `retry`: when the consumer tries again. */
  failed(state: string, message: string, retry: ConsumerRetry | undefined): void {
    if (this.#state === undefined) this.#since = this.now();
    this.#failures++;
    const retryAt = retry === undefined ? undefined : new Date(this.now() + retry.inMs).toISOString();
    const fields = { state, failures: this.#failures, ...(retryAt === undefined ? {} : { retryAt }) };
    const next = retry === undefined ? '' : `; retrying in ${(retry.inMs / 1000).toFixed(1)} s (at ${retryAt})`;
    const line = `broker: ${message}${next}`;
    if (this.#shown.has(state)) this.log.debug(fields, line);
    else this.log.warn(fields, `${line}; logged again when this changes`);
    this.#shown.add(state);
    this.#state = state;
  }

  /** Fetching or the broker's background duties work again: one line if something had failed. */
  recovered(): void {
    if (this.#state === undefined) return;
    const failedForMs = this.now() - this.#since;
    this.log.info({ failures: this.#failures, failedForMs }, `broker: working again after ${this.#failures} failure${this.#failures === 1 ? '' : 's'} over ${(failedForMs / 1000).toFixed(1)} s (last: ${this.#state})`);
    this.#state = undefined;
    this.#shown.clear();
    this.#failures = 0;
  }
}
