/**
 * @module brokers/redis/redis-consumer
 * The consumer and delivery objects of the Redis broker.
 *
 * Wait strategy. kombu waits with BRPOP, but a blocking pop cannot record the message in
 * `unacked` in the same atomic step (Lua cannot block), and a pop that is recorded a round
 * trip later is lost on kill -9 in between. So the fetch loop runs the non-blocking
 * fetch.lua (pop + bookkeeping, batched up to the window's room); a full batch is followed
 * by the next fetch at once, sent before the batch is handed out so that Redis pops while
 * the worker decodes; a short one (every queue was empty) by a wait for the first of:
 * - a wake-up PUBLISHed by a Celeriac publisher on the queue's channel (≈1 ms latency);
 * - a queue or prefetch change, an ETA promotion, or close;
 * - an adaptive poll timer, which bounds the latency of messages pushed by Python producers
 *   (they publish no wake-up): 1 ms after a poll found messages, doubling to
 *   `pollIntervalMs` otherwise. Messages a wake-up announced do not speed polling up: their
 *   producer announces the next ones too, and every empty poll costs Redis a script call.
 * Settlements wake the loop only while it waits for room in the window: with room to spare
 * and the queues just found empty, a settlement makes no message ready.
 * Fetch errors (connection lost...) go to `onError` and the loop retries with capped backoff:
 * it never stops on its own, only through close().
 */
import { randomBytes } from 'node:crypto';
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { ConsumeOptions, Consumer, Delivery, Settlement } from '../../core/spi/broker.js';
import type { Link } from '../../core/linked-set.js';
import { CeleriacError, ErrorCodes, coerceError } from '../../errors.js';
import { reconnectDelay } from '../../redis/client.js';
import { isRedelivered } from '../../protocol/envelope.js';
import { checkPrefetch, checkQueueName, uniqueQueueNames } from '../../core/spi/broker-args.js';


/** The settlement of every ack (made once: every task is acked). */
const ACK: Settlement = Object.freeze({ kind: 'ack' });

/** What consumers and deliveries need from the broker. */
export interface RedisConsumerHost {
  readonly clock: Clock;
  readonly pollIntervalMs: number;
  readonly fetchBatchSize: number;
  /** Pops up to `max` messages of `queues` (in this rotation order) for `consumer`. */
  fetch(consumer: RedisConsumer, queues: readonly string[], max: number): Promise<RedisDelivery[]>;
  /** Applies a settlement (the delivery is already marked settled). */
  settle(delivery: RedisDelivery, settlement: Settlement): Promise<void>;
  /** Gives back deliveries fetched for a consumer that closed meanwhile. */
  giveBack(deliveries: readonly RedisDelivery[]): Promise<void>;
  /** The consumer's queue set changed (wake-up subscriptions follow it). */
  queuesChanged(consumer: RedisConsumer): void;
  /** Forgets a closed consumer. */
  detach(consumer: RedisConsumer): void;
}

/** Lifecycle of a delivery: held until settled once; `lost` when a renewal found the lease gone. */
export type RedisDeliveryState = 'held' | 'lost' | 'settled';

/** One message handed to a consumer; settled exactly once. */
export class RedisDelivery implements Delivery {
  state: RedisDeliveryState = 'held';
  /** Its place among the broker's unsettled deliveries while it is there. */
  unsettled: Link<RedisDelivery> | undefined = undefined;
  #redelivered: boolean | undefined;

  constructor(
    private readonly host: RedisConsumerHost,
    /** The consumer whose window this delivery occupies. */
    readonly consumer: RedisConsumer,
    readonly queue: string,
    /** The bucket list it was popped from: where requeue / restore / defer put it back. */
    readonly bucketKey: string,
    readonly raw: string,
    readonly tag: string,
    /** Lease token from fetch.lua. */
    readonly token: string,
    /** Broker-wide fetch order, used to restore in order on close. */
    readonly seq: number,
  ) {}

  /** Read from the envelope when first asked (kombu marks headers and delivery_info). */
  get redelivered(): boolean {
    return (this.#redelivered ??= isRedelivered(this.raw));
  }

  ack(): Promise<void> {
    return this.host.settle(this, ACK);
  }

  reject(options: { requeue: boolean }): Promise<void> {
    return this.host.settle(this, { kind: 'reject', requeue: options.requeue });
  }

  restore(): Promise<void> {
    return this.host.settle(this, { kind: 'restore' });
  }

  async defer(deliverAt: number): Promise<void> {
    if (typeof deliverAt !== 'number' || !Number.isFinite(deliverAt)) {
      throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `defer: deliverAt must be epoch ms, got ${String(deliverAt)}`);
    }
    return this.host.settle(this, { kind: 'defer', deliverAt });
  }

  setAside(reason: string): Promise<void> {
    return this.host.settle(this, { kind: 'setAside', reason: String(reason) });
  }
}

/** How a wait of the fetch loop ended: told something changed, or its timer ran out. */
type WaitEnd = 'notified' | 'timeout';

/** Resolves a waiting fetch loop early; remembers a wake-up that came while not waiting. */
class Wakeup {
  #pending = false;
  #release: ((end: WaitEnd) => void) | undefined;

  notify(): void {
    this.#pending = true;
    this.#release?.('notified');
  }

  /** Forgets wake-ups older than the fetch about to start. */
  clear(): void {
    this.#pending = false;
  }

  wait(clock: Clock, ms: number | undefined): Promise<WaitEnd> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve('notified');
    }
    return new Promise((resolve) => {
      let timer: TimerHandle | undefined;
      this.#release = (end) => {
        if (timer !== undefined) clock.clearTimer(timer);
        this.#release = undefined;
        this.#pending = false;
        resolve(end);
      };
      if (ms !== undefined) timer = clock.setTimer(() => this.#release?.('timeout'), ms);
    });
  }
}

/** Resolves in the next turn of the event loop, after I/O callbacks and writes queued now. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A fetch in flight: its reply, and the room and rotation it was sent with. */
interface Fetch {
  readonly reply: Promise<RedisDelivery[]>;
  readonly room: number;
  readonly queues: readonly string[];
}

/** Lifecycle of a {@link RedisConsumer}. */
export type RedisConsumerState = 'open' | 'closed';

/** A consumption of some queues within a prefetch window, with its own fetch loop. */
export class RedisConsumer implements Consumer {
  /** Unsettled deliveries currently held (maintained by the broker). */
  unsettled = 0;
  /**
   * Unique per consumer: prefix of the lease tokens of its fetches. 64 hex digits, so that
   * every lease data value (`"<token> <bucket>"`) is longer than Redis's default
   * hash-max-listpack-value (64 bytes). With shorter values and no key prefix, the
   * celeriac.lease.data hash of a busy worker (hundreds of leases) stayed a listpack, where
   * every HSET, HMGET and HDEL scans the whole list.
   */
  readonly id = randomBytes(32).toString('hex');
  #state: RedisConsumerState = 'open';
  #queues: string[] = [];
  #prefetch: number;
  #next = 0;
  #fetches = 0;
  readonly #wakeup = new Wakeup();
  /** True while the loop waits because the prefetch window is full. */
  #waitingForRoom = false;
  #loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly host: RedisConsumerHost,
    private readonly options: ConsumeOptions,
  ) {
    this.#queues.push(...uniqueQueueNames(options.queues));
    this.#prefetch = checkPrefetch(options.prefetch);
  }

  get state(): RedisConsumerState {
    return this.#state;
  }

  get queues(): readonly string[] {
    return Object.freeze([...this.#queues]);
  }

  /** Starts the fetch loop (called once by the broker). */
  start(): void {
    this.#loop = this.#run();
  }

  setPrefetch(prefetch: number): void {
    this.#prefetch = checkPrefetch(prefetch);
    this.wake();
  }

  addQueue(queue: string): void {
    if (this.#queues.includes(checkQueueName(queue))) return;
    this.#queues.push(queue);
    this.host.queuesChanged(this);
    this.wake();
  }

  cancelQueue(queue: string): void {
    const i = this.#queues.indexOf(queue);
    if (i < 0) return;
    this.#queues.splice(i, 1);
    if (this.#next > i) this.#next--;
    this.host.queuesChanged(this);
  }

  /** Stops fetching; resolves once no fetch is in flight, so nothing is delivered after. */
  async close(): Promise<void> {
    if (this.#state === 'open') {
      this.#state = 'closed';
      this.#wakeup.notify();
      this.host.detach(this);
    }
    await this.#loop;
  }

  /** Something changed that may let the loop fetch (a message published or promoted, a queue or prefetch change). */
  wake(): void {
    this.#wakeup.notify();
  }

  /** One of this consumer's deliveries was settled: wakes the loop if it waits for room. */
  roomFreed(): void {
    if (this.#waitingForRoom) this.#wakeup.notify();
  }

  /** Reports an error to the user callback, never throwing. */
  report(error: unknown): void {
    try {
      this.options.onError?.(coerceError(error));
    } catch {
      // onError must not throw; if it does, the loop must still go on.
    }
  }

  #room(): number {
    const batch = this.host.fetchBatchSize;
    return this.#prefetch === 0 ? batch : Math.min(batch, Math.max(0, this.#prefetch - this.unsettled));
  }

  /** Queues in the order to try now: rotated so the one after the last hit comes first. */
  #rotation(): string[] {
    const n = this.#queues.length;
    const start = n === 0 ? 0 : this.#next % n;
    return [...this.#queues.slice(start), ...this.#queues.slice(0, start)];
  }

  async #run(): Promise<void> {
    let pollMs = 0;
    let failures = 0;
    /** Whether the coming fetch was prompted by a notification rather than the poll timer. */
    let announced = false;
    /** The next fetch, sent before the last full batch was handed out. */
    let ahead: Fetch | undefined;
    while (this.#state === 'open') {
      let fetch = ahead;
      ahead = undefined;
      if (fetch === undefined) {
        fetch = this.#startFetch();
        if (fetch === undefined) {
          this.#waitingForRoom = this.#room() === 0;
          announced = (await this.#wakeup.wait(this.host.clock, undefined)) === 'notified';
          this.#waitingForRoom = false;
          continue;
        }
      }
      let got: RedisDelivery[];
      try {
        got = await fetch.reply;
        failures = 0;
      } catch (error) {
        this.report(error);
        await this.#wakeup.wait(this.host.clock, reconnectDelay(failures++));
        continue;
      }
      const full = got.length >= fetch.room;
      if (got.length > 0) this.#advanceRotation(fetch.queues, got);
      // A full batch: more may be waiting. The next fetch is sent before this batch is
      // handed out, so Redis pops while the worker decodes and starts these messages. The
      // client writes on setImmediate: the batch waits for that turn, or its decoding would
      // run first and the fetch would reach Redis only after it.
      if (full && this.#state === 'open') {
        ahead = this.#startFetch();
        if (ahead !== undefined) await nextTurn();
      }
      if (got.length > 0) this.#deliver(got);
      if (full) {
        pollMs = 0;
        announced = false;
        continue;
      }
      pollMs = got.length > 0 && !announced ? 1 : Math.min(this.host.pollIntervalMs, Math.max(1, pollMs * 2));
      announced = (await this.#wakeup.wait(this.host.clock, pollMs)) === 'notified';
    }
    // Closed with a fetch sent ahead: whatever it brings is given back (see #deliver).
    if (ahead !== undefined) {
      const got = await ahead.reply.catch(() => []);
      if (got.length > 0) this.#deliver(got);
    }
  }

  /** Sends a fetch for the room left in the window; undefined when there is none or no queue. */
  #startFetch(): Fetch | undefined {
    const room = this.#room();
    const queues = this.#rotation();
    if (room === 0 || queues.length === 0) return undefined;
    this.#wakeup.clear();
    const reply = this.host.fetch(this, queues, room);
    // Awaited by the loop's next round; until then a failure must not count as unhandled.
    reply.catch(() => undefined);
    return { reply, room, queues };
  }

  /** The next rotation starts after the queue of the batch's last message. */
  #advanceRotation(rotation: readonly string[], got: readonly RedisDelivery[]): void {
    const last = got[got.length - 1] as RedisDelivery;
    const i = this.#queues.indexOf(last.queue);
    this.#next = i < 0 ? this.#next + rotation.length : i + 1;
  }

  #deliver(got: RedisDelivery[]): void {
    if (this.#state !== 'open') {
      // Closed while the fetch was in flight: nobody will settle these, give them back now.
      this.host.giveBack(got).catch((error: unknown) => this.report(error));
      return;
    }
    for (const delivery of got) {
      try {
        this.options.onDelivery(delivery);
      } catch (error) {
        this.report(error);
      }
    }
  }

  /** A fresh token prefix for one fetch call. */
  nextTokenPrefix(): string {
    return `${this.id}:${this.#fetches++}`;
  }
}
