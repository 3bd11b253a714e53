/**
 * @module ingest/write-buffer
 * Events on their way to the {@link HistoryStore}. Each event is folded as it arrives into
 * one pending row per task (and per worker) plus its timeline entry, so a task's received,
 * started and succeeded events that arrive before the next write cost one row write. One
 * write is in flight at a time and takes everything pending: when the store is slow, the
 * next write is larger and folds more events per row, so the writer catches up instead of
 * queueing events.
 *
 * A writer that falls behind says so before anything is lost: {@link full} turns true once
 * `holdAt` entries are pending, and the ingest then stops folding, leaving the events it
 * receives undecoded in its bounded queue (monitor/event-receiver.ts) until this buffer takes
 * what is pending for the next write ({@link WriteBufferOptions.onTake}). So a write that
 * takes a second or two costs no timeline entry: the next write is larger instead.
 *
 * Memory is bounded by `maxBuffered` pending entries (task rows, worker rows, timeline
 * entries), reached only when events are folded past `holdAt` anyway (the ingest's queue is
 * full too: real overload, or a store that is down). Past it the oldest timeline entries are dropped first (the task rows still carry
 * every task's latest state); only when task rows alone fill the bound is the oldest pending
 * row dropped. Both are counted ({@link eventsDropped}, {@link tasksDropped}). A write that
 * fails is kept and written first next time, so at most twice the bound is held. Events that
 * keep arriving while the store is down do not retry it each time a batch fills: after a
 * failure they wait 100 ms, doubling to 5 s, before they start a write again, and so does the
 * ingest's timer ({@link flushDue}); an explicit {@link flush}, such as the ingest's close,
 * still tries at once.
 */
import type { EventDict } from 'celeriac/monitor';
import type { EventFolder, FoldedBatch } from '../store/fold-events.js';
import type { HistoryStore } from '../store/history-store.js';

/** Options of {@link WriteBuffer}. */
export interface WriteBufferOptions {
  /** Pending events that start a write without waiting for the next flush. @default 2000 */
  readonly batchSize?: number;
  /** Pending entries (task rows, worker rows, timeline entries) kept at most. @default 25000 */
  readonly maxBuffered?: number;
  /**
   * Pending entries at which {@link WriteBuffer.full} turns true (the caller should stop
   * adding until {@link onTake}). @default 80% of `maxBuffered`
   */
  readonly holdAt?: number;
  /** Called when a write takes what is pending (the buffer has room again). */
  readonly onTake?: () => void;
  /** Reports failed writes. */
  readonly onError?: (error: Error) => void;
}

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

/** The wait after the first failed write, doubled per failure up to {@link MAX_RETRY_MS}. */
const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 5000;

/** Folds events as they arrive and writes them to the store, one write at a time. */
export class WriteBuffer {
  readonly #store: HistoryStore;
  readonly #batchSize: number;
  readonly #maxBuffered: number;
  readonly #holdAt: number;
  readonly #onTake: () => void;
  readonly #onError: (error: Error) => void;
  readonly #folder: EventFolder;
  /** A batch whose write failed: written before anything newer. */
  #failed: FoldedBatch | undefined;
  #failedSize = 0;
  #writing: Promise<void> | undefined;
  /** Writes failed in a row, and the `now` of {@link add} before which events start none. */
  #failures = 0;
  #retryAt = Number.NEGATIVE_INFINITY;
  /** The latest `now` given to {@link add} or {@link flushDue}: the time a failure is dated by. */
  #lastNow = 0;
  /** Events stored (folded into a batch that was written). */
  eventsWritten = 0;
  /** Events whose timeline entry was dropped because the store fell behind. */
  eventsDropped = 0;
  /** Pending task rows dropped because the store fell behind (their latest changes are lost). */
  tasksDropped = 0;
  /** The last write error, null once a write succeeds. */
  storeError: string | null = null;

  constructor(store: HistoryStore, options: WriteBufferOptions = {}) {
    this.#store = store;
    this.#batchSize = options.batchSize ?? 2000;
    this.#maxBuffered = options.maxBuffered ?? 25_000;
    this.#holdAt = Math.min(options.holdAt ?? Math.floor(this.#maxBuffered * 0.8), this.#maxBuffered);
    this.#onTake = options.onTake ?? (() => {});
    this.#onError = options.onError ?? (() => {});
    this.#folder = store.newFolder();
  }

  /** Pending entries, a failed batch's included: never more than twice `maxBuffered`. */
  get buffered(): number {
    return this.#folder.size + this.#failedSize;
  }

  /** Whether `holdAt` entries are pending: events added now may cost timeline entries later. */
  get full(): boolean {
    return this.#folder.size >= this.#holdAt;
  }

  /** Folds one event; starts a write when `batchSize` events are pending. */
  add(event: EventDict, now: number): void {
    // Room for the row and timeline entry this event may add.
    while (this.#folder.size + 2 > this.#maxBuffered) {
      const dropped = this.#folder.dropOldestEntry();
      if (dropped === null) break;
      if (dropped === 'task') this.tasksDropped++;
      else this.eventsDropped++;
    }
    this.#folder.add(event, now);
    this.#lastNow = now;
    // A write in flight takes what is pending when it ends (#drain loops), so only start one:
    // asking the one in flight again would chain a promise per event onto it until it ends.
    if (this.#writing === undefined && this.#folder.events >= this.#batchSize && now >= this.#retryAt) void this.flush().catch(() => {});
  }

  /**
   * For a periodic caller: writes what is pending, unless a write failed less than its wait
   * ago (see the module's doc), so a timer does not retry a store that is down at its own pace.
   */
  flushDue(now: number): Promise<void> {
    if (now > this.#lastNow) this.#lastNow = now;
    if (this.#writing === undefined && now < this.#retryAt) return Promise.resolve();
    return this.flush();
  }

  /** Writes everything pending; callers share the write in flight. Rejects when a write fails. */
  flush(): Promise<void> {
    if (this.#writing !== undefined) return this.#writing;
    if (this.#failed === undefined && this.#folder.events === 0) return Promise.resolve();
    this.#writing = this.#drain().finally(() => {
      this.#writing = undefined;
    });
    return this.#writing;
  }

  async #drain(): Promise<void> {
    while (this.#failed !== undefined || this.#folder.events > 0) {
      let batch = this.#failed;
      if (batch === undefined) {
        batch = this.#folder.take();
        this.#onTake();
      }
      try {
        await this.#store.writeFolded(batch);
      } catch (error) {
        this.#failed = batch;
        this.#failedSize = batch.tasks.length + batch.workers.length + batch.events.length;
        this.#failures++;
        this.#retryAt = this.#lastNow + Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(this.#failures - 1, 16));
        this.storeError = asError(error).message;
        this.#onError(asError(error));
        throw error;
      }
      this.#failed = undefined;
      this.#failedSize = 0;
      this.#failures = 0;
      this.#retryAt = Number.NEGATIVE_INFINITY;
      this.eventsWritten += batch.folded;
      this.storeError = null;
    }
  }
}
