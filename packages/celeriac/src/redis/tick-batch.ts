/**
 * @module redis/tick-batch
 * Coalesces calls made in the same turn of the event loop into one Redis call.
 *
 * A worker running many tasks at once settles and stores them in bursts: a batch of replies
 * arrives, a hundred promise chains resume in the same turn, and each would send its own
 * EVALSHA. Added items go out as one `flush(items)` whose reply settles every caller: one
 * command, one reply to parse, one script call for Redis.
 *
 * When: once the microtask queue has run a few rounds with no new item. Every chain resumed by
 * one burst of replies runs in the same microtask checkpoint, so its items land in one batch;
 * and the batch reaches node-redis before the turn ends, so node-redis (which writes on
 * `setImmediate`) sends it in this turn. Waiting for `setImmediate` ourselves would cost a
 * whole extra turn of the event loop per round trip: node-redis's own `setImmediate`, queued
 * from ours, would only run in the next one.
 */

/** The call that sends a whole batch; resolves with one result per item, in order. */
export type FlushBatch<I, R> = (items: readonly I[]) => Promise<readonly R[]>;

/**
 * Microtask rounds without a new item before a batch goes out. An awaited call resumes its
 * caller one to three rounds later, so chains that add items a few awaits apart still share
 * a batch; each round costs a queued function, not a turn of the event loop.
 */
const QUIET_ROUNDS = 8;

/**
 * Schedules `fn` at the back of the microtask queue. Node's `queueMicrotask` wraps every call
 * in an AsyncResource (an async id, a bound function, before/after scope switches), several
 * times the cost of a reaction on a settled promise; a batch re-queues its check several times. `fn` must not throw (nothing would report it).
 */
const SETTLED = Promise.resolve();
const atBackOfMicrotasks = (fn: () => void): void => {
  void SETTLED.then(fn);
};

/** Items added in one event-loop turn, sent together. */
export class TickBatch<I, R> {
  readonly #flush: FlushBatch<I, R>;
  readonly #max: number;
  #items: I[] = [];
  /** Each item's settle functions, in item order (two arrays: no object per item). */
  #resolves: ((value: R) => void)[] = [];
  #rejects: ((error: unknown) => void)[] = [];
  #scheduled = false;
  /** Items seen by the last check, and checks in a row that found no new one. */
  #seen = 0;
  #quiet = 0;

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
      this.#resolves.push(resolve);
      this.#rejects.push(reject);
      if (this.#items.length >= this.#max) this.#send();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        this.#seen = this.#items.length;
        this.#quiet = 0;
        atBackOfMicrotasks(this.#check);
      }
    });
  }

  /** Goes to the back of the microtask queue until QUIET_ROUNDS rounds add nothing. */
  readonly #check = (): void => {
    if (!this.#scheduled) return;
    if (this.#items.length !== this.#seen) {
      this.#seen = this.#items.length;
      this.#quiet = 0;
    } else if (++this.#quiet >= QUIET_ROUNDS) {
      this.#scheduled = false;
      if (this.#items.length > 0) this.#send();
      return;
    }
    atBackOfMicrotasks(this.#check);
  };

  #send(): void {
    const items = this.#items;
    const resolves = this.#resolves;
    const rejects = this.#rejects;
    this.#items = [];
    this.#resolves = [];
    this.#rejects = [];
    let sent: Promise<readonly R[]>;
    try {
      sent = this.#flush(items);
    } catch (error) {
      sent = Promise.reject(error);
    }
    sent.then(
      (results) => {
        for (let i = 0; i < resolves.length; i++) (resolves[i] as (value: R) => void)(results[i] as R);
      },
      (error: unknown) => {
        for (const reject of rejects) reject(error);
      },
    );
  }
}
