/**
 * @module server/counts
 * The counts over the whole history that the overview page and `/metrics` show: tasks by
 * state, and tasks stuck in RECEIVED or STARTED. Each is a query whose cost grows with the
 * history (the count by state read every row: 180 ms at 200,000 tasks on Postgres, about a
 * second at a million), and they are asked for by every scrape and by every open overview
 * page every 2 s. So each is computed once at a time and reused while it is younger than
 * {@link REUSE_FACTOR} times what it took to compute (at least {@link MIN_REUSE_MS}): the
 * counts never take more than about a twentieth of one database connection, whatever the
 * size of the history and the number of readers.
 */
import type { HistoryStore } from '../store/history-store.js';

/** A count is reused while younger than this many times its own duration... */
export const REUSE_FACTOR = 20;
/** ...and at least this long (ms). */
export const MIN_REUSE_MS = 2000;

/** A value computed at most once at a time, and reused while young enough (see the module). */
export class ReusedValue<T> {
  readonly #compute: () => Promise<T>;
  readonly #now: () => number;
  #value: { value: T; until: number } | undefined;
  #inFlight: Promise<T> | undefined;

  constructor(compute: () => Promise<T>, now: () => number = Date.now) {
    this.#compute = compute;
    this.#now = now;
  }

  /**
   * The value: the kept one while it is young enough, else the one being computed, else a
   * new computation. A failure is not kept: every caller that waited on it gets the error,
   * and the next call tries again.
   */
  get(): Promise<T> {
    const kept = this.#value;
    if (kept !== undefined && this.#now() < kept.until) return Promise.resolve(kept.value);
    if (this.#inFlight !== undefined) return this.#inFlight;
    const started = this.#now();
    // An async wrapper, so a compute that throws instead of rejecting is a rejection too.
    const computing = (async () => this.#compute())().then((value) => {
      const took = this.#now() - started;
      this.#value = { value, until: this.#now() + Math.max(MIN_REUSE_MS, REUSE_FACTOR * took) };
      return value;
    });
    this.#inFlight = computing;
    const clear = () => {
      if (this.#inFlight === computing) this.#inFlight = undefined;
    };
    computing.then(clear, clear);
    return computing;
  }
}

/** The counts the pages and metrics show, each a {@link ReusedValue}. */
export interface HistoryCounts {
  /** Stored tasks by state. */
  tasksByState(): Promise<Readonly<Record<string, number>>>;
  /** Tasks RECEIVED or STARTED since before `stuckAfterSec` ago, by state (counted up to the store's cap). */
  stuck(): Promise<Readonly<Record<string, number>>>;
}

/** {@link HistoryCounts} of `store`; `now` is the clock (tests pass their own). */
export function historyCounts(store: HistoryStore, stuckAfterSec: number, now: () => number = Date.now): HistoryCounts {
  const byState = new ReusedValue(() => store.countByState(), now);
  const stuck = new ReusedValue(async () => {
    const before = now() - stuckAfterSec * 1000;
    const out: Record<string, number> = {};
    for (const [state, field] of [['RECEIVED', 'received'], ['STARTED', 'started']] as const) {
      const page = await store.queryTasks({ states: [state], timeField: field, to: before, limit: 1 });
      out[state] = page.total;
    }
    return out;
  }, now);
  return { tasksByState: () => byState.get(), stuck: () => stuck.get() };
}
