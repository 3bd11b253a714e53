/**
 * @module ingest/write-buffer
 * Events on their way to the {@link HistoryStore}. Each event is folded as it arrives into
 * one pending row per task (and per worker) plus its timeline entry, so a task's received,
 * started and succeeded events that arrive before the next write cost one row write. A write
 * takes everything pending: when the store is slow, the next write is larger and folds more
 * events per row, so the writer catches up instead of queueing events. Up to `maxWrites`
 * writes are in flight at once (the ingest allows two on Postgres, whose second connection
 * works on another core while the first write runs; one on PGlite, which runs one statement
 * at a time): a second write starts when a batch fills while the first is still running. It
 * leaves out the task and worker rows the first is writing (they stay pending, folding what
 * arrives, for the next batch; their timeline entries go now), so the two never wait on each
 * other's row locks.
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
 * fails is kept and written first next time, so besides the bound at most `maxWrites` failed
 * batches (each at most the bound) are held. Events that
 * keep arriving while the store is down do not retry it each time a batch fills: after a
 * failure they wait 100 ms, doubling to 5 s, before they start a write again, and so does the
 * ingest's timer ({@link flushDue}); an explicit {@link flush}, such as the ingest's close,
 * still tries at once.
 */
import type { EventDict } from 'celeriac/monitor';
import { coerceError } from 'celeriac/spi';
import type { EventFolder, FoldedBatch } from '../store/fold-events.js';
import type { HistoryStore } from '../store/history-store.js';

/** Options of {@link WriteBuffer}. */
export interface WriteBufferOptions {
  /** Pending events that start a write without waiting for the next flush. @default 2000 */
  readonly batchSize?: number;
  /** Pending entries (task rows, worker rows, timeline entries) kept at most. @default 16000 */
  readonly maxBuffered?: number;
  /**
   * Pending entries at which {@link WriteBuffer.full} turns true (the caller should stop
   * adding until {@link onTake}). @default 80% of `maxBuffered`
   */
  readonly holdAt?: number;
  /**
   * Writes in flight at once; the store must accept that many concurrent `writeFolded` calls
   * (the SQL store orders each batch's rows by key, so two writes never deadlock). @default 1
   */
  readonly maxWrites?: number;
  /** Called when a write takes what is pending (the buffer has room again). */
  readonly onTake?: () => void;
  /** Reports failed writes. */
  readonly onError?: (error: Error) => void;
}

const entries = (batch: FoldedBatch): number => batch.tasks.length + batch.workers.length + batch.events.length;

/** The wait after the first failed write, doubled per failure up to {@link MAX_RETRY_MS}. */
const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 5000;

/** Folds events as they arrive and writes them to the store, one write at a time. */
export class WriteBuffer {
  readonly #store: HistoryStore;
  readonly #batchSize: number;
  readonly #maxBuffered: number;
  readonly #holdAt: number;
  readonly #maxWrites: number;
  readonly #onTake: () => void;
  readonly #onError: (error: Error) => void;
  readonly #folder: EventFolder;
  /** Batches whose write failed, oldest first: written before anything newer. */
  readonly #failed: FoldedBatch[] = [];
  #failedSize = 0;
  /** The writes in flight, each taking batches until nothing is pending ({@link #write}). */
  readonly #writes = new Set<Promise<void>>();
  /**
   * The keys of the task and worker rows of the batches being written. A batch taken meanwhile
   * leaves those rows pending: in Postgres the second write would otherwise wait on the first's
   * row locks until it commits (sampled at 30,000 events/s: one writer waiting in 23 of 53
   * samples), and two writes in flight would often run one after the other.
   */
  readonly #inFlight = { tasks: new Set<string>(), workers: new Set<string>() };
  /** Writes failed in a row, and the `now` of {@link add} before which events start none. */
  #failures = 0;
  #retryAt = Number.NEGATIVE_INFINITY;
  /** The latest `now` given to {@link add} or {@link flushDue}: the time a failure is dated by. */
  #lastNow = 0;
  /** Events folded into a batch that was written (their timeline entries dropped or not: see {@link eventsDropped}). */
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
    this.#maxBuffered = options.maxBuffered ?? 16_000;
    this.#holdAt = Math.min(options.holdAt ?? Math.floor(this.#maxBuffered * 0.8), this.#maxBuffered);
    this.#maxWrites = options.maxWrites ?? 1;
    if (!Number.isInteger(this.#maxWrites) || this.#maxWrites < 1) throw new RangeError(`WriteBuffer: maxWrites must be an integer of at least 1, got ${String(options.maxWrites)}`);
    this.#onTake = options.onTake ?? (() => {});
    this.#onError = options.onError ?? (() => {});
    this.#folder = store.newFolder();
  }

  /** Pending entries, failed batches' included: never more than `maxWrites + 1` times `maxBuffered`. */
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
    // A write in flight takes what is pending when it ends (#write loops), so start one only
    // while fewer than maxWrites run: asking one in flight again would chain a promise per
    // event onto it until it ends.
    if (this.#writes.size < this.#maxWrites && this.#folder.events >= this.#batchSize && now >= this.#retryAt) this.#startWrite();
  }

  /**
   * For a periodic caller: writes what is pending, unless a write failed less than its wait
   * ago (see the module's doc), so a timer does not retry a store that is down at its own pace.
   */
  flushDue(now: number): Promise<void> {
    if (now > this.#lastNow) this.#lastNow = now;
    if (this.#writes.size === 0 && now < this.#retryAt) return Promise.resolve();
    return this.flush();
  }

  /**
   * Writes everything pending and waits for the writes in flight, which callers share.
   * Rejects when one of them fails.
   */
  async flush(): Promise<void> {
    if (this.#writes.size === 0 && (this.#failed.length > 0 || this.#folder.pending)) this.#startWrite();
    await Promise.all(this.#writes);
  }

  #startWrite(): void {
    const write: Promise<void> = this.#write().finally(() => this.#writes.delete(write));
    // A failure is reported through onError and to flush()'s callers.
    write.catch(() => {});
    this.#writes.add(write);
  }

  /** Writes batches, failed ones first, until nothing is pending; throws at the first failure. */
  async #write(): Promise<void> {
    for (;;) {
      let batch = this.#failed.shift();
      const retried = batch !== undefined;
      if (batch !== undefined) this.#failedSize -= entries(batch);
      else if (this.#folder.pending) {
        batch = this.#folder.take(this.#inFlight);
        this.#onTake();
      } else return;
      // Only rows held for a write in flight were pending: that write takes them when it ends.
      if (batch.folded === 0 && batch.tasks.length === 0 && batch.workers.length === 0) return;
      for (const t of batch.tasks) this.#inFlight.tasks.add(t.uuid);
      for (const w of batch.workers) this.#inFlight.workers.add(w.hostname);
      try {
        await this.#store.writeFolded(batch);
      } catch (error) {
        if (retried) this.#failed.unshift(batch);
        else this.#failed.push(batch);
        this.#failedSize += entries(batch);
        this.#failures++;
        this.#retryAt = this.#lastNow + Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(this.#failures - 1, 16));
        this.storeError = coerceError(error).message;
        this.#onError(coerceError(error));
        throw error;
      } finally {
        for (const t of batch.tasks) this.#inFlight.tasks.delete(t.uuid);
        for (const w of batch.workers) this.#inFlight.workers.delete(w.hostname);
      }
      this.#failures = 0;
      this.#retryAt = Number.NEGATIVE_INFINITY;
      this.eventsWritten += batch.folded;
      this.storeError = null;
    }
  }
}
