/**
 * @module brokers/redis/redis-consumer
 * A consumption of some queues: its own fetch loop, its own unsettled deliveries (the
 * prefetch window counts them, renewals and close read them) and the settlement of each.
 * It uses the broker's services (transitions, wake-ups, maintenance, lifecycle) and never
 * calls the broker back; the broker only starts, wakes, reports to and closes it.
 *
 * Wait strategy. kombu waits with BRPOP, but a blocking pop cannot record the message in
 * `unacked` in the same atomic step (Lua cannot block), and a pop that is recorded a round
 * trip later is lost on kill -9 in between. So the fetch loop runs fetch.lua (pop +
 * bookkeeping, batched up to the window's room); a full batch is followed by the next fetches
 * at once (fetch-window.ts), sent before it is handed out so that Redis pops while the worker
 * decodes; a short one (every queue was empty) by a wait (waiting.ts): a blocked fetch on a doorbell
 * (bell.ts) or a pub/sub wake-up, a notification (queue or prefetch change, ETA promotion,
 * close), or the adaptive poll timer (waiting.ts `PollPace`).
 * Settlements wake the loop only while it waits for room in the window: with room to spare
 * and the queues just found empty, a settlement makes no message ready.
 * The prefetch window counts deliveries whose settlement was not sent yet: one leaves it as its
 * ack goes out, as AMQP's `basic.ack` frees a slot when sent (held until Redis answers, though:
 * renewed, given back on close; freed only by the reply, it refilled one ack batch at a time).
 * A second fetch may go while one is in flight, once half the window is free (fetch-window.ts).
 * Fetch errors (connection lost, OOM, LOADING...) go to `onError` with the wait before the
 * next fetch, which grows from 100 ms to 10 s ({@link FETCH_BACKOFF}) and is not cut short by
 * wake-ups (a publish during an outage would otherwise bring the next failure at once);
 * `onRecovered` hears the first fetch that works again. A failed fetch may have run in Redis,
 * its reply lost: what it took goes back then (lost-fetches.ts). The loop never stops on its
 * own, only through close().
 */
import { randomBytes } from 'node:crypto';
import type { ConsumeOptions, Consumer, LostDelivery, Settlement } from '../../core/spi/broker.js';
import { LinkedSet } from '../../core/linked-set.js';
import { coerceError } from '../../errors.js';
import { toTransportError } from '../../redis/client.js';
import { Backoff, type BackoffPolicy } from '../../core/backoff.js';
import { PRIORITY_STEPS, type BrokerKeys } from '../../redis/keys.js';
import { checkPrefetch, checkQueueName, uniqueQueueNames } from '../../core/spi/broker-args.js';
import type { Lifecycle } from './lifecycle.js';
import type { ResolvedRedisBrokerOptions } from './options.js';
import { RedisDelivery, type DeliveryHolder } from './redis-delivery.js';
import { restoreInOrder, settleDelivery, type SettleContext, type SettlementTransitions } from './settlements.js';
import type { RunningRecords } from './running.js';
import type { SendCommand, Transitions } from './transitions.js';
import { nextTurn } from './wakeup.js';
import { FetchWindow, type Fetch } from './fetch-window.js';
import type { BellLine } from './bell.js';
import { Waiting, type WaitingDeps } from './waiting.js';
import { QueueRotation } from './queue-rotation.js';
import { LostFetches } from './lost-fetches.js';

/** The transitions a consumer runs: fetch and the settlements. */
export type ConsumerTransitions = Pick<Transitions, 'fetch' | 'countStart' | 'reclaim'> & SettlementTransitions;

/** The broker's services a consumer uses (shared by every consumer of one broker). */
export interface ConsumerDeps extends Pick<WaitingDeps, 'wake' | 'bell'> {
  readonly keys: BrokerKeys;
  readonly options: ResolvedRedisBrokerOptions;
  readonly transitions: ConsumerTransitions;
  /** Told when a defer put a message in the delayed set. */
  readonly maintenance: {
    promoteSoon(): void;
    /** A delivery's task got a hard-limit deadline (lease-keeper.ts). */
    leaseLimited?(delivery: RedisDelivery): void;
  };
  /** Settlements are refused once the broker closes. */
  readonly lifecycle: Lifecycle;
  /** Where early-acked running tasks are recorded (running.ts); absent: not recorded. */
  readonly running?: Pick<RunningRecords, 'record' | 'storing'>;
}

/** Waits between failed fetches: 100 ms doubling to 10 s, with jitter. */
export const FETCH_BACKOFF: BackoffPolicy = Object.freeze({ firstMs: 100, growth: { factor: 2 }, maxMs: 10_000, jitter: true });

/** Process-wide fetch order of deliveries: the broker restores the latest first on close. */
let fetchSeq = 0;

/** Lifecycle of a {@link RedisConsumer}. */
export type RedisConsumerState = 'open' | 'closed';

/** A consumption of some queues within a prefetch window, with its own fetch loop. */
export class RedisConsumer implements Consumer, DeliveryHolder {
  /**
   * Unique per consumer: prefix of the lease tokens of its fetches. 64 hex digits, so that
   * every lease data value (`"<token> <bucket>"`) is longer than Redis's default
   * hash-max-listpack-value (64 bytes). With shorter values and no key prefix, the
   * celeriac.lease.data hash of a busy worker (hundreds of leases) stayed a listpack, where
   * every HSET, HMGET and HDEL scans the whole list.
   */
  readonly id = randomBytes(32).toString('hex');
  #state: RedisConsumerState = 'open';
  readonly #queues: QueueRotation;
  #fetches = 0;
  /** Held deliveries, in fetch order (a linked set: see core/linked-set.ts). */
  readonly #unsettled = new LinkedSet<RedisDelivery>();
  /** Those of them in the prefetch window (no settlement sent yet), and the fetches in flight. */
  readonly #window: FetchWindow;
  /** Fetches sent ahead of the loop's next round, in the order sent (their replies come so). */
  readonly #sent: Fetch[] = [];
  /** Restores of deliveries fetched after close, in flight. */
  readonly #givingBack = new Set<Promise<void>>();
  /** How it waits when its queues came up empty (waiting.ts), and its Wakeup. */
  readonly #waiting: Waiting;
  /** True while the loop waits because the prefetch window is full. */
  #waitingForRoom = false;
  #loop: Promise<void> = Promise.resolve();
  #loopEnded = false;
  readonly #settling: SettleContext;
  /** Its failed fetches, whose messages it gives back once a fetch works again or as it closes. */
  readonly #lost: LostFetches;

  constructor(
    private readonly deps: ConsumerDeps,
    private readonly options: ConsumeOptions,
  ) {
    this.#queues = new QueueRotation(uniqueQueueNames(options.queues));
    this.#window = new FetchWindow(checkPrefetch(options.prefetch));
    this.#settling = { ...deps, sent: (d) => this.#leaveWindow(d), release: (d) => this.#release(d) };
    this.#lost = new LostFetches((f) => deps.transitions.reclaim(f), () => deps.options.clock.now(), deps.options.log);
    this.#waiting = new Waiting({ wake: deps.wake, ...(deps.bell ? { bell: deps.bell } : {}), log: deps.options.log, options: deps.options, owner: this });
  }

  get state(): RedisConsumerState {
    return this.#state;
  }

  get queues(): readonly string[] {
    return Object.freeze([...this.#queues.names]);
  }

  /** Whether a blocked fetch is out (bell.ts): it waits in Redis for a doorbell. */
  get blocked(): boolean {
    return this.#waiting.blocked;
  }

  /** Unsettled deliveries it holds now (their settlement not answered yet). */
  get unsettled(): number {
    return this.#unsettled.size;
  }

  /** Closed, its loop ended, nothing held and nothing being given back: the broker may forget it. */
  get done(): boolean {
    return this.#loopEnded && this.#unsettled.size === 0 && this.#givingBack.size === 0;
  }

  /** Opens its bell line or subscribes to its queues' wake-ups, and starts the fetch loop (called once by the broker). */
  start(): void {
    this.#waiting.start(this.#queues.names);
    this.#loop = this.#run().finally(() => (this.#loopEnded = true));
  }

  setPrefetch(prefetch: number): void {
    this.#window.prefetch = checkPrefetch(prefetch);
    this.wake();
  }

  addQueue(queue: string): void {
    if (!this.#queues.add(checkQueueName(queue))) return;
    if (this.#state === 'open') this.#waiting.watch(queue);
    this.wake();
  }

  cancelQueue(queue: string): void {
    if (!this.#queues.remove(queue)) return;
    if (this.#state === 'open') this.#waiting.unwatch(queue);
  }

  /** Stops fetching; resolves once no fetch is in flight, so nothing is delivered after. Deliveries it holds can still be settled. */
  async close(): Promise<void> {
    if (this.#state === 'open') {
      this.#state = 'closed';
      this.#waiting.wakeup.notify();
      for (const q of this.#queues.names) this.#waiting.unwatch(q);
    }
    await this.#loop;
    await this.#waiting.close();
    // What its lost fetches took goes back now, not after their lease (fails fast on a closing broker).
    await this.#lost.reclaim();
  }

  /** Resolves once the deliveries fetched after close are back in their queues. */
  async givenBack(): Promise<void> {
    await Promise.all([...this.#givingBack]);
  }

  /** Something changed that may let the loop fetch (a message published or promoted, a queue or prefetch change). */
  wake(): void {
    this.#waiting.wakeup.notify();
  }

  /** Reports an error to the user callback (with the wait before the next try, if the loop retries), never throwing. */
  report(error: unknown, retryInMs?: number): void {
    try {
      this.options.onError?.(coerceError(error), retryInMs === undefined ? undefined : { inMs: retryInMs });
    } catch {
      // onError must not throw; if it does, the loop must still go on.
    }
  }

  /** Its deliveries whose lease is still held (for renewal). */
  held(): RedisDelivery[] {
    return this.#unsettled.values().filter((d) => d.state === 'held' || d.state === 'retrying');
  }

  /** A renewal found the leases of these tags taken back. */
  markLost(lost: ReadonlySet<string>): void {
    for (const d of this.#unsettled) if (lost.has(d.tag) && d.state === 'held') d.state = 'lost';
  }

  /** Hands over every unsettled delivery (the broker restores them on close) and forgets them. */
  takeUnsettled(): RedisDelivery[] {
    // Settlements being retried are not given back: their task ran. Their retry stops as the
    // broker closes, and the lease brings the message back if it never went through.
    const all = this.#unsettled.values().filter((d) => d.state !== 'retrying');
    for (const d of all) this.#release(d);
    return all;
  }

  /** Applies a settlement of one of its deliveries (settlements.ts). Not async: every task's ack comes here. */
  settle(d: RedisDelivery, s: Settlement): Promise<void> {
    return settleDelivery(this.#settling, d, s);
  }

  /** No longer held: out of the unsettled set, and of the window if its settlement did not take it out already. */
  #release(d: RedisDelivery): void {
    if (d.unsettled !== undefined) {
      this.#unsettled.delete(d.unsettled);
      d.unsettled = undefined;
    }
    this.#leaveWindow(d);
  }

  /** Out of the window; wakes the loop if it waits for room, or sends a second fetch if the one in flight is slow. */
  #leaveWindow(d: RedisDelivery): void {
    if (!d.windowed) return;
    d.windowed = false;
    this.#window.left();
    if (this.#waitingForRoom) this.#waiting.wakeup.notify();
    else if (this.#state === 'open' && !this.#waiting.blocked && this.#window.wantsAnother(this.deps.options.fetchBatchSize)) {
      const fetch = this.#startFetch();
      if (fetch !== undefined) this.#sent.push(fetch);
    }
  }

  async #run(): Promise<void> {
    const clock = this.deps.options.clock;
    const backoff = new Backoff(FETCH_BACKOFF);
    const poll = this.#waiting.pace;
    /** Whether the coming fetch was prompted by a notification; `polled`: the poll timer sent it (no token either). */
    let announced = false;
    let polled = false;
    while (this.#state === 'open') {
      let fetch = this.#sent.shift();
      if (fetch === undefined) {
        fetch = this.#startFetch();
        if (fetch === undefined) {
          const noRoom = (this.#waitingForRoom = this.#window.room(this.deps.options.fetchBatchSize) === 0);
          announced = (await this.#waiting.wakeup.wait(clock, undefined)) === 'notified';
          this.#waitingForRoom = false;
          // Room made by a settlement: the fetch is sized after the rest of this turn's.
          if (noRoom) await nextTurn();
          continue;
        }
      }
      let got: RedisDelivery[];
      try {
        got = await fetch.reply;
        if (backoff.failures > 0) {
          backoff.reset();
          this.recovered();
          void this.#lost.reclaim();
        }
      } catch (error) {
        polled = false;
        const waitMs = backoff.next();
        this.report(error, waitMs);
        await this.#waiting.wakeup.pause(clock, waitMs, () => this.#state === 'open');
        continue;
      }
      poll.fetched(got, polled);
      polled = false;
      const full = got.length >= fetch.room;
      if (got.length > 0) this.#queues.advance(fetch.queues, (got[got.length - 1] as RedisDelivery).queue);
      // A full batch: more may be waiting. The next fetches go before this batch is handed out
      // (fetch-window.ts), so Redis pops while the worker decodes; the client writes on
      // setImmediate, so the batch waits for that turn, or they would reach Redis only after it.
      if (full && this.#state === 'open' && this.#sendAhead()) await nextTurn();
      if (this.#state !== 'open') {
        this.#sent.unshift(fetch); // closed meanwhile: it goes back with those sent after it (below)
        break;
      }
      if (got.length > 0) this.#deliver(got);
      if (full) {
        poll.reset();
        announced = false;
        continue;
      }
      // A second fetch went while this one was in flight: its reply is next.
      if (this.#sent.length > 0) continue;
      if (got.length > 0 && !announced) poll.reset();
      announced = await this.#waiting.idle(clock, () => this.#state === 'open', (bell, pollMs) => this.#startFetch(bell, pollMs), this.#sent);
      polled = !announced;
    }
    // Closed: what the fetches still out bring goes back in one piece, latest first (#deliver).
    const late: RedisDelivery[] = [];
    for (const ahead of this.#sent.splice(0)) late.push(...(await ahead.reply.catch(() => [])));
    if (late.length > 0) this.#deliver(late);
  }

  /** Sends the fetches that go ahead of a full batch (fetch-window.ts); whether any went. */
  #sendAhead(): boolean {
    let any = false;
    for (let ahead; this.#window.wantsAhead(this.#sent.length, this.deps.options.fetchBatchSize) && (ahead = this.#startFetch()) !== undefined; any = true) this.#sent.push(ahead);
    return any;
  }

  /** Tells onRecovered (fetching or a background duty works again), never throwing. */
  recovered(): void {
    try {
      this.options.onRecovered?.();
    } catch {
      // Like onError: a throwing callback must not stop the loop.
    }
  }

  /** Sends a fetch for the room left in the window, blocked on `bell` for `pollMs` if given; undefined when there is no room or no queue. */
  #startFetch(bell?: BellLine, pollMs = this.deps.options.pollIntervalMs): Fetch | undefined {
    const room = this.#window.room(this.deps.options.fetchBatchSize);
    const queues = this.#queues.order();
    if (room === 0 || queues.length === 0) return undefined;
    // A blocked fetch keeps earlier wake-ups (they end it at once), and alone clears stale tokens.
    if (bell === undefined) this.#waiting.wakeup.clear();
    const bells = bell === undefined ? [] : queues.map((q) => this.deps.keys.bell(q));
    const sent = bell === undefined ? { reply: this.#fetch(queues, room, bells), rang: undefined } : bell.block(bells, pollMs, (via, slackMs) => this.#fetch(queues, room, bells, via, slackMs));
    // Awaited by the loop's next round; until then a failure must not count as unhandled.
    sent?.reply.catch(() => undefined);
    // One shape for every Fetch (not a spread of two): see bench/results/2026-11-26-vm-session16.md.
    return sent && { reply: sent.reply, room, queues, rang: sent.rang };
  }

  /**
   * fetch.lua over the queues' buckets (step-major); each message joins the unsettled set.
   * `via` and `slackMs`: a blocked fetch's connection, and how much longer its lease is written.
   */
  async #fetch(queues: readonly string[], max: number, bells: readonly string[], via?: SendCommand, slackMs = 0): Promise<RedisDelivery[]> {
    const { keys, options, transitions } = this.deps;
    const buckets = PRIORITY_STEPS.flatMap((step) => queues.map((q) => keys.bucket(q, step)));
    let got;
    const now = options.clock.now();
    const leaseMs = options.recoverAfterMs + slackMs;
    const prefix = `${this.id}:${this.#fetches++}`;
    this.#window.sent(max);
    try {
      got = await transitions.fetch(buckets, queues, max, now, leaseMs, prefix, bells, via);
    } catch (error) {
      this.#window.answered(max, 0);
      // It may have run, its reply lost with its connection: what it took goes back (lost-fetches.ts).
      this.#lost.note({ buckets, queues, expiresAt: now + leaseMs, prefix });
      throw toTransportError(error, `fetch from ${queues.join(', ')}`);
    }
    this.#window.answered(max, got.length);
    return got.map((m) => {
      const queue = queues[m.offset % queues.length] as string;
      const d = new RedisDelivery(this, queue, buckets[m.offset] as string, m.raw, m.tag, m.token, fetchSeq++, m.given + 1);
      if (m.tag.includes('~dup.')) options.log?.('warn', 'a message carries a delivery tag another held message has; it is held under the tag given (fetch.lua)', { queue, tag: m.tag });
      if (m.invalid !== undefined) d.refuseDecoding(m.invalid);
      d.unsettled = this.#unsettled.add(d);
      d.windowed = true;
      return d;
    });
  }

  /** One of its deliveries was acked early and its task runs: recorded until the returned call. */
  markRunning(d: RedisDelivery): () => void {
    return this.deps.running?.record(d) ?? noop;
  }

  /** The end of one of its deliveries' early-acked task is being stored (running.ts). */
  storingEnd(d: RedisDelivery, stored: Promise<unknown>): void {
    this.deps.running?.storing(d, stored);
  }

  /**
   * The task of one of its deliveries, given back before, starts: marked so that this
   * worker's death while it runs is counted against it alone (count-start.lua).
   */
  countStart(d: RedisDelivery): Promise<void> {
    return this.deps.transitions.countStart(d).then(noop, (error: unknown) =>
      this.deps.options.log?.('warn', 'could not mark the start of a redelivered message; if this worker dies while it runs, that death is not counted against it', { tag: d.tag, queue: d.queue, err: coerceError(error) }));
  }

  /** Whether it is open and takes lost-task reports ({@link ConsumeOptions.onLost}). */
  get hearsLost(): boolean {
    return this.state === 'open' && this.options.onLost !== undefined;
  }

  /** Hands lost early-acked tasks to the user callback, never throwing. */
  reportLost(lost: readonly LostDelivery[]): void {
    try {
      this.options.onLost?.(lost);
    } catch (error) {
      this.report(error);
    }
  }

  /** One of its deliveries got a hard-limit deadline. */
  leaseLimited(d: RedisDelivery): void {
    this.deps.maintenance.leaseLimited?.(d);
  }

  #deliver(got: RedisDelivery[]): void {
    if (this.#state !== 'open') {
      // Closed while the fetch was in flight: nobody will settle these, give them back now.
      this.#giveBack(got);
      return;
    }
    const back: RedisDelivery[] = [];
    for (const delivery of got) {
      // Its queue was cancelled since the fetch (by a handler of this batch, say): it goes back.
      if (!this.#queues.includes(delivery.queue)) {
        back.push(delivery);
        continue;
      }
      try {
        this.options.onDelivery(delivery);
      } catch (error) {
        this.report(error);
      }
    }
    if (back.length > 0) this.#giveBack(back);
  }

  /** Restores `got` to the front of their queues, latest first, so they keep their order. */
  #giveBack(got: readonly RedisDelivery[]): void {
    for (const d of got) {
      d.state = 'settled';
      this.#release(d);
    }
    const done = restoreInOrder(this.deps.transitions, [...got].reverse(), this.deps.options.log);
    this.#givingBack.add(done);
    void done.finally(() => this.#givingBack.delete(done));
  }
}

const noop = (): void => undefined;
