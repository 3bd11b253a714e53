/**
 * @module brokers/memory/queue-store
 * Storage of the memory broker: ready messages per queue and priority bucket (kombu's Redis
 * layout, docs/protocol.md §2.4), and the time-ordered list of delayed messages. Pure data
 * structures: no clock, no timers, no consumers.
 */

/** One stored message: the envelope text plus what the broker needs to hand it out. */
export interface StoredMessage {
  /** Envelope JSON text. */
  readonly raw: string;
  /** The envelope's `properties.delivery_tag`, kept across requeues. */
  readonly tag: string;
  /** True once rejected with requeue (the envelope is then marked too). */
  readonly redelivered: boolean;
  /** How many times it was handed to a consumer (counted when it is). */
  deliveries?: number;
}

/** kombu's `priority_steps`: bucket i holds priorities from STEPS[i] up to the next step. */
const PRIORITY_STEPS = [0, 3, 6, 9] as const;

/** Number of priority buckets per queue. */
export const BUCKET_COUNT = PRIORITY_STEPS.length;

/**
 * Maps a priority to its bucket index 0..3 like kombu: clamp to 0..9, then take the largest
 * step <= p (0-2 -> 0, 3-5 -> 1, 6-8 -> 2, 9 -> 3). Missing or non-numeric counts as 0.
 */
export function bucketOf(priority: number | undefined): number {
  const p = typeof priority === 'number' && Number.isFinite(priority) ? priority : 0;
  const clamped = Math.min(9, Math.max(0, Math.trunc(p)));
  let bucket = 0;
  PRIORITY_STEPS.forEach((step, i) => {
    if (clamped >= step) bucket = i;
  });
  return bucket;
}

/** A double-ended queue on a growable ring buffer: O(1) at both ends. */
export class Deque<T> {
  #items: (T | undefined)[] = new Array<T | undefined>(8);
  #head = 0;
  #size = 0;

  /** Number of items. */
  get length(): number {
    return this.#size;
  }

  /** Appends at the back (the end served last). */
  pushBack(item: T): void {
    this.#grow();
    this.#items[(this.#head + this.#size) % this.#items.length] = item;
    this.#size++;
  }

  /** Inserts at the front (the end served next). */
  pushFront(item: T): void {
    this.#grow();
    this.#head = (this.#head - 1 + this.#items.length) % this.#items.length;
    this.#items[this.#head] = item;
    this.#size++;
  }

  /** Removes and returns the front item. */
  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#items.length;
    this.#size--;
    return item;
  }

  /** Removes everything; returns how many items there were. */
  clear(): number {
    const n = this.#size;
    this.#items = new Array<T | undefined>(8);
    this.#head = 0;
    this.#size = 0;
    return n;
  }

  #grow(): void {
    if (this.#size < this.#items.length) return;
    const next = new Array<T | undefined>(this.#items.length * 2);
    for (let i = 0; i < this.#size; i++) next[i] = this.#items[(this.#head + i) % this.#items.length];
    this.#items = next;
    this.#head = 0;
  }
}

/** Ready messages of every queue, one FIFO per priority bucket. */
export class ReadyQueues {
  readonly #queues = new Map<string, Deque<StoredMessage>[]>();

  /** Creates an empty queue if it does not exist. */
  ensure(queue: string): Deque<StoredMessage>[] {
    let buckets = this.#queues.get(queue);
    if (!buckets) {
      buckets = Array.from({ length: BUCKET_COUNT }, () => new Deque<StoredMessage>());
      this.#queues.set(queue, buckets);
    }
    return buckets;
  }

  /** Appends to the back of a bucket (new publishes, requeues, due delayed messages). */
  pushBack(queue: string, bucket: number, message: StoredMessage): void {
    this.ensure(queue)[bucket]?.pushBack(message);
  }

  /** Inserts at the front of a bucket (restores). */
  pushFront(queue: string, bucket: number, message: StoredMessage): void {
    this.ensure(queue)[bucket]?.pushFront(message);
  }

  /** Takes the next message of one bucket, if any. */
  take(queue: string, bucket: number): StoredMessage | undefined {
    return this.#queues.get(queue)?.[bucket]?.shift();
  }

  /** Ready messages over all buckets (0 for an unknown queue). */
  length(queue: string): number {
    return (this.#queues.get(queue) ?? []).reduce((n, d) => n + d.length, 0);
  }

  /** Empties a queue (it stays declared); returns how many messages were removed. */
  purge(queue: string): number {
    return (this.#queues.get(queue) ?? []).reduce((n, d) => n + d.clear(), 0);
  }
}

/** A message waiting for its delivery time. */
export interface DelayedEntry {
  /** Epoch ms when it becomes ready. */
  readonly at: number;
  readonly queue: string;
  readonly bucket: number;
  readonly message: StoredMessage;
}

/** Delayed messages sorted by due time; equal times keep insertion order. */
export class DelayedList {
  readonly #entries: DelayedEntry[] = [];

  /** Number of delayed messages. */
  get length(): number {
    return this.#entries.length;
  }

  /** Adds an entry at its place in time order (after any entry due at the same time). */
  insert(entry: DelayedEntry): void {
    let lo = 0;
    let hi = this.#entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#entries[mid] as DelayedEntry).at <= entry.at) lo = mid + 1;
      else hi = mid;
    }
    this.#entries.splice(lo, 0, entry);
  }

  /** The earliest due time, if any. */
  nextAt(): number | undefined {
    return this.#entries[0]?.at;
  }

  /** Removes and returns every entry due at or before `now`, in time order. */
  popDue(now: number): DelayedEntry[] {
    let n = 0;
    while (n < this.#entries.length && (this.#entries[n] as DelayedEntry).at <= now) n++;
    return this.#entries.splice(0, n);
  }

  /** Entries of the given queues (null: of every queue), earliest first, at most `limit`. */
  list(queues: ReadonlySet<string> | null, limit: number): DelayedEntry[] {
    const out: DelayedEntry[] = [];
    for (const entry of this.#entries) {
      if (out.length >= limit) break;
      if (queues === null || queues.has(entry.queue)) out.push(entry);
    }
    return out;
  }

  /** Removes every entry of `queue`; returns how many. */
  purge(queue: string): number {
    let removed = 0;
    for (let i = this.#entries.length - 1; i >= 0; i--) {
      if (this.#entries[i]?.queue === queue) {
        this.#entries.splice(i, 1);
        removed++;
      }
    }
    return removed;
  }
}
