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
 *
 * When a batch goes out is its {@link TickTurn}'s to decide: a turn of its own, or one shared
 * by the batches of one connection, which go out together, once no batch of the turn got a new
 * item for a few rounds, in the order of their ranks. An app's Redis result backend and broker
 * share one (redis/shared-commands.ts), so a turn's result stores are written before its acks,
 * in the same write (brokers/redis/running.ts relies on it).
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

/** What a {@link TickTurn} flushes: a batch's pending items. */
interface TurnMember {
  sendPending(): void;
}

/**
 * The batches of one connection, sent together in rank order (lowest first) once the
 * microtask queue has run {@link QUIET_ROUNDS} rounds with no new item in any of them, or at
 * once when one of them is full. Ordering the batches of a turn costs nothing on the wire:
 * every batch of a turn reaches node-redis before its write anyway.
 */
export class TickTurn {
  readonly #members: { readonly batch: TurnMember; readonly rank: number }[] = [];
  #scheduled = false;
  /** Items added so far (a counter, never reset), as seen by the last check. */
  #added = 0;
  #seen = 0;
  #quiet = 0;

  /** Makes `batch` go out with this turn's others, after those of a lower rank. */
  join(batch: TurnMember, rank: number): void {
    const at = this.#members.findIndex((m) => m.rank > rank);
    this.#members.splice(at < 0 ? this.#members.length : at, 0, { batch, rank });
  }

  /** Whether a batch of `rank` goes out with this turn. */
  has(rank: number): boolean {
    return this.#members.some((m) => m.rank === rank);
  }

  /** A member got an item: the turn goes out once the queue is quiet. */
  added(): void {
    this.#added++;
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#seen = this.#added;
    this.#quiet = 0;
    atBackOfMicrotasks(this.#check);
  }

  /** Sends every member's pending items now, in rank order. */
  sendAll(): void {
    this.#scheduled = false;
    for (const m of this.#members) m.batch.sendPending();
  }

  readonly #check = (): void => {
    if (!this.#scheduled) return;
    if (this.#added !== this.#seen) {
      this.#seen = this.#added;
      this.#quiet = 0;
    } else if (++this.#quiet >= QUIET_ROUNDS) {
      this.sendAll();
      return;
    }
    atBackOfMicrotasks(this.#check);
  };
}

/** Items added in one event-loop turn, sent together. */
export class TickBatch<I, R> implements TurnMember {
  readonly #flush: FlushBatch<I, R>;
  readonly #max: number;
  #items: I[] = [];
  /** Each item's settle functions, in item order (two arrays: no object per item). */
  #resolves: ((value: R) => void)[] = [];
  #rejects: ((error: unknown) => void)[] = [];
  /** When it goes out: with the turn it was given, or alone (a turn of its own). */
  readonly #turn: TickTurn;

  /**
   * @param flush Sends a batch. A rejection fails every item of that batch.
   * @param max Most items per call; a full batch is sent at once (with its turn's, lower ranks first).
   * @param turn The turn it goes out with, and its rank there; alone when absent.
   */
  constructor(flush: FlushBatch<I, R>, max = 500, turn?: { readonly turn: TickTurn; readonly rank: number }) {
    this.#flush = flush;
    this.#max = max;
    this.#turn = turn?.turn ?? new TickTurn();
    this.#turn.join(this, turn?.rank ?? 0);
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
      if (this.#items.length >= this.#max) this.#turn.sendAll();
      else this.#turn.added();
    });
  }

  /** Sends the items added since the last send, if any (its turn calls it). */
  sendPending(): void {
    if (this.#items.length > 0) this.#send();
  }

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
