/**
 * @module redis/tick-batch
 * Coalesces calls made in the same turn of the event loop into one Redis call.
 *
 * A worker running many tasks at once settles and stores them in bursts: a batch of replies
 * arrives, a hundred promise chains resume in the same turn, and each would send its own
 * EVALSHA. Added items wait for `setImmediate` (node-redis itself writes on `setImmediate`,
 * so a lone call costs no extra round trip), then go out as one `flush(items)` whose reply
 * settles every caller: one command, one reply to parse, one script call for Redis.
 */

/** The call that sends a whole batch; resolves with one result per item, in order. */
export type FlushBatch<I, R> = (items: readonly I[]) => Promise<readonly R[]>;

interface Waiter<R> {
  resolve(value: R): void;
  reject(error: unknown): void;
}

/** Items added in one event-loop turn, sent together. */
export class TickBatch<I, R> {
  readonly #flush: FlushBatch<I, R>;
  readonly #max: number;
  #items: I[] = [];
  #waiters: Waiter<R>[] = [];
  #scheduled = false;

  /**
   * @param flush Sends a batch. A rejection fails every item of that batch.
   * @param max Most items per call; a full batch is sent at once.
   */
  constructor(flush: FlushBatch<I, R>, max = 500) {
    this.#flush = flush;
    this.#max = max;
  }

  /** Items waiting for the next flush. */
  get pending(): number {
    return this.#items.length;
  }

  /** Queues `item` for the current turn's batch; resolves with its own result. */
  add(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#items.push(item);
      this.#waiters.push({ resolve, reject });
      if (this.#items.length >= this.#max) this.#send();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(this.#onTurn);
      }
    });
  }

  readonly #onTurn = (): void => {
    this.#scheduled = false;
    if (this.#items.length > 0) this.#send();
  };

  #send(): void {
    const items = this.#items;
    const waiters = this.#waiters;
    this.#items = [];
    this.#waiters = [];
    let sent: Promise<readonly R[]>;
    try {
      sent = this.#flush(items);
    } catch (error) {
      sent = Promise.reject(error);
    }
    sent.then(
      (results) => {
        for (let i = 0; i < waiters.length; i++) (waiters[i] as Waiter<R>).resolve(results[i] as R);
      },
      (error: unknown) => {
        for (const w of waiters) w.reject(error);
      },
    );
  }
}
