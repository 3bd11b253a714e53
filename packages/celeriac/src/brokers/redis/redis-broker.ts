/**
 * @module brokers/redis/redis-broker
 * The Redis broker, kombu-compatible: Python Celery workers and Celeriac workers share its
 * queues (docs/protocol.md §2). Layout: a list per queue and priority step (`q`,
 * `q␆␖3`, `q␆␖6`, `q␆␖9`; LPUSH to publish, pop from the right, step 0 first), the
 * `_kombu.binding.<exchange>` sets, and kombu's ack bookkeeping (`unacked` hash +
 * `unacked_index` zset) written for every delivery, so a Python worker's visibility sweep
 * can recover a crashed Celeriac worker's messages and vice versa. All key names: redis/keys.ts.
 *
 * Every transition is one Lua script (scripts/*.lua): fetch pops AND records the message
 * as held in one atomic step, so no popped message ever lives only in worker memory.
 *
 * Recovery, without taking a task away from a live Python worker:
 * - kombu scores `unacked_index` with the fetch time and never renews it; its sweep restores
 *   anything older than `visibility_timeout` (1 h). A fast sweep on those scores would steal
 *   every task a Python worker has run for more than a minute.
 * - So Celeriac keeps its own leases: fetch.lua also writes `celeriac.leases` (tag -> expiry)
 *   and `celeriac.lease.data` (tag -> token and source bucket). A consuming broker renews the
 *   leases of what it holds every `leaseRenewMs` (and bumps their unacked_index score, so
 *   Python's sweep leaves them alone too).
 * - The sweep (restore-stale.lua, under kombu's `unacked_mutex`) restores a tag in our lease
 *   set once its lease expired (`recoverAfterSec`, default 60 s: its holder is dead), and a
 *   tag NOT in our lease set (a Python worker's) only after the full `visibilityTimeoutSec`,
 *   exactly as kombu would.
 * - The token makes settlements safe: a holder whose lease was taken back (event loop stalled
 *   past `recoverAfterSec`) cannot ack or requeue the copy someone else now holds; its ack,
 *   defer or setAside fails with CELERIAC_ERR_STATE and the message runs again (at-least-once).
 *
 * ETA: a message published with a future `deliverAt`, or deferred by a worker, waits in
 * `celeriac.delayed` (a zset of [bucket, envelope] scored by due ms), never under a
 * visibility timeout; consuming brokers promote due ones (promote-due.lua) on a short timer.
 * A publish uses the delayed set only while a consuming Celeriac broker is alive to promote
 * it, else it goes to the queue with its `eta` header, as kombu's; the last worker to close
 * hands delayed messages back to their queues (delayed.ts).
 *
 * Requeue and restore mark the envelope redelivered as kombu does (in TypeScript here, by a
 * text edit in restore-stale.lua). Deviations from kombu: publishing to a named exchange
 * with no matching binding falls back to the routing key as queue name (kombu drops the
 * message). Waiting uses polling plus a pub/sub wake-up instead of BRPOP (redis-consumer.ts).
 */
import { randomUUID } from 'node:crypto';
import { LinkedSet } from '../../core/linked-set.js';
import type {
  BeatStoreHost,
  Broker,
  BrokerCapabilities,
  ConsumeOptions,
  Consumer,
  DelayedListing,
  DelayedRecord,
  PublishOptions,
  PublishRequest,
  SetAsideListing,
  SetAsideRecord,
  Settlement,
  Unsubscribe,
} from '../../core/spi/broker.js';
import { CeleriacError, ErrorCodes } from '../../errors.js';
import type { Message } from '../../protocol/types.js';
import { toTransportError } from '../../redis/client.js';
import { parseRedisUrl, type RedisTarget } from '../../redis/url.js';
import { GuardedRedisClient } from '../../redis/guarded-client.js';
import { bindingMember, PRIORITY_STEPS, BrokerKeys } from '../../redis/keys.js';
import { Maintenance } from './maintenance.js';
import { resolveRedisBrokerOptions, type RedisBrokerOptions, type ResolvedRedisBrokerOptions } from './options.js';
import { RedisConsumer, RedisDelivery, type RedisConsumerHost } from './redis-consumer.js';
import { Transitions } from './transitions.js';
import { DelayedSet } from './delayed.js';
import { WakeSubscriber } from './wake-subscriber.js';
import { delayedOf, RedisFanout } from './fanout.js';
import { checkQueueName } from '../../core/spi/broker-args.js';
import { RedisBeatStore } from './beat-store.js';
import { RedisPublisher, type Commands } from './publisher.js';
import { applySettlement, markedOrAsIs, parseSetAside } from './settlements.js';

export type { RedisBrokerOptions, ResolvedRedisBrokerOptions } from './options.js';

/** Lifecycle of a {@link RedisBroker}: usable until closed, never reopened. */
export type RedisBrokerState = 'open' | 'closing' | 'closed';

/** A {@link Broker} on Redis, sharing kombu's layout. */
export class RedisBroker implements Broker, DelayedListing, SetAsideListing, BeatStoreHost {
  /** Adapter name. */
  readonly kind = 'redis';
  /** kombu's Redis transport serves priority 0 first. */
  readonly capabilities: BrokerCapabilities = Object.freeze({ priorityOrder: 'lowest-first' });
  /** The resolved options. */
  readonly options: ResolvedRedisBrokerOptions;
  /** Key names under the URL's `global_keyprefix`. */
  readonly keys: BrokerKeys;
  readonly #target: RedisTarget;
  #state: RedisBrokerState = 'open';
  /** The command connection (fetch, settlements, publish, maintenance). */
  readonly #redis: GuardedRedisClient;
  readonly #t: Transitions;
  #delayed: DelayedSet | undefined;
  #closed: Promise<void> | undefined;
  readonly #consumers: RedisConsumer[] = [];
  /** Held deliveries, in fetch order (a linked set: see core/linked-set.ts). */
  readonly #unsettled = new LinkedSet<RedisDelivery>();
  readonly #givingBack = new Set<Promise<void>>();
  readonly #maintenance: Maintenance;
  readonly #wake: WakeSubscriber;
  readonly #fanout: RedisFanout;
  readonly #publisher: RedisPublisher;
  #seq = 0;
  #lastPromote = Number.NEGATIVE_INFINITY;
  /** This broker's member in celeriac.promoters while it consumes (unique per instance). */
  readonly id = randomUUID();
  #promoter = false;
  readonly #host: RedisConsumerHost;
  #beatStore: RedisBeatStore | undefined;

  /**
   * @param url `redis://`, `rediss://`, `sentinel://` or `redis+sentinel://` URL; its
   *   `global_keyprefix` query parameter prefixes every key, as kombu's transport option.
   */
  constructor(url: string, options: RedisBrokerOptions = {}) {
    this.options = resolveRedisBrokerOptions(options);
    this.#target = parseRedisUrl(url);
    this.keys = new BrokerKeys(this.#target.transportOptions.globalKeyprefix, this.#target.db);
    this.#redis = new GuardedRedisClient(this.#target, {
      name: 'celeriac-broker',
      commandTimeoutMs: this.options.commandTimeoutMs,
      // Idle for 3 PING intervals = a silently dead path: reconnect rather than wait forever.
      idleTimeoutMs: 30_000,
      ...(this.options.log ? { log: this.options.log } : {}),
    });
    this.#t = new Transitions((fn) => this.#redis.send(fn), this.keys);
    this.#wake = new WakeSubscriber(this.#target, this.keys, (q) => this.#wakeQueue(q), this.options.log);
    this.#fanout = new RedisFanout(this.#target, this.keys, (ch, raw) => this.#command(`publish on ${ch}`, (c) => c.publish(ch, raw)), this.options.log);
    this.#maintenance = new Maintenance({
      options: this.options,
      transitions: () => this.#transitions(),
      held: () => this.#unsettled.values().filter((d) => d.state === 'held'),
      lost: (tags) => this.#markLost(tags),
      ready: () => this.#consumers.forEach((c) => c.wake()),
      report: (error) => this.#report(error),
      advertise: () => this.#advertise(),
    });
    this.#publisher = new RedisPublisher({
      keys: this.keys,
      options: this.options,
      command: (what, run) => this.#command(what, run),
      delayedSet: () => this.#delayedSet(),
      promoteSoon: () => this.#maintenance.promoteSoon(),
      published: () => this.#promoteOnPublish(),
    });
    const o = this.options;
    this.#host = {
      clock: o.clock,
      pollIntervalMs: o.pollIntervalMs,
      fetchBatchSize: o.fetchBatchSize,
      fetch: (consumer, queues, max) => this.#fetch(consumer, queues, max),
      settle: (delivery, settlement) => this.#settle(delivery, settlement),
      giveBack: (deliveries) => this.#giveBack(deliveries),
      queuesChanged: () => this.#syncWake(),
      detach: (consumer) => this.#detach(consumer),
    };
  }

  /** 'open' until {@link RedisBroker.close}. */
  get state(): RedisBrokerState {
    return this.#state;
  }

  /** Connects the command connection (idempotent; other calls connect lazily). */
  async connect(): Promise<void> {
    this.#assertOpen('connect');
    try {
      await this.#redis.connect();
    } catch (error) {
      throw toTransportError(error, 'connect');
    }
  }

  /**
   * Stops consumers and background duties, gives every unsettled delivery back to the front
   * of its queue (latest first, so the earliest is first in line again, like kombu's warm
   * shutdown restore), and closes the connections. Deliveries that cannot be restored
   * (Redis down) stay under lease and are recovered by a sweep. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closed !== undefined) return this.#closed;
    this.#state = 'closing';
    this.#closed = (async () => {
      this.#maintenance.stop();
      await Promise.all([...this.#consumers].map((c) => c.close()));
      await Promise.all([...this.#givingBack]);
      const pending = this.#unsettled.values().sort((a, b) => b.seq - a.seq);
      this.#unsettled.clear();
      if (pending.length > 0) await this.#restoreAll(pending);
      if (this.#promoter) await this.#delayedSet().withdraw(this.id, this.options);
      await this.#wake.close();
      await this.#fanout.close();
      await this.#beatStore?.close();
      await this.#redis.close();
      this.#state = 'closed';
    })();
    return this.#closed;
  }

  /** Binds the queue to its own name on the exchange of the same name, as Celery declares it. */
  async declareQueue(queue: string): Promise<void> {
    this.#assertOpen('declareQueue');
    checkQueueName(queue);
    await this.#command(`declare queue ${queue}`, (c) => c.sAdd(this.keys.binding(queue), bindingMember(queue, queue)));
  }

  /**
   * LPUSHes the envelope (fresh delivery tag) to the queue's priority bucket and pings the
   * queue's wake-up channel; with a future `deliverAt`, adds it to the delayed set instead.
   * Exchange '' targets the queue named by the routing key; a named exchange is looked up in
   * its `_kombu.binding.<exchange>` set (direct match), falling back to the routing key.
   */
  publish(message: Message, options: PublishOptions): Promise<void> {
    this.#assertOpen('publish');
    return this.#publisher.publish(message, options);
  }

  /** Many messages in one pipelined write (see bulk-publish.ts); same layout as {@link RedisBroker.publish}. */
  publishMany(batch: readonly PublishRequest[]): Promise<void> {
    this.#assertOpen('publishMany');
    return this.#publisher.publishMany(batch);
  }

  /** Beat's store on this Redis (same prefix), so publishes can be fenced by its lease. */
  beatStore(): RedisBeatStore {
    this.#assertOpen('beatStore');
    this.#beatStore ??= new RedisBeatStore(this.#target, this.options.log);
    return this.#beatStore;
  }

  /** Starts consuming `options.queues` (round robin) within the prefetch window. */
  consume(options: ConsumeOptions): Consumer {
    this.#assertOpen('consume');
    const consumer = new RedisConsumer(this.#host, options);
    this.#consumers.push(consumer);
    this.#maintenance.start();
    this.#syncWake();
    consumer.start();
    return consumer;
  }

  /** Removes the queue's ready and delayed messages; held deliveries are untouched. */
  async purge(queue: string): Promise<number> {
    this.#assertOpen('purge');
    checkQueueName(queue);
    const t = await this.#transitions();
    try {
      return await t.purge(queue);
    } catch (error) {
      throw toTransportError(error, `purge of ${queue}`);
    }
  }

  /** Ready messages of the queue over its four buckets (LLEN sum, as Flower counts). */
  async queueLength(queue: string): Promise<number> {
    this.#assertOpen('queueLength');
    checkQueueName(queue);
    return this.#command(`length of ${queue}`, async (c) => {
      const lengths = await Promise.all(this.keys.buckets(queue).map((k) => c.lLen(k)));
      return lengths.reduce((a, b) => a + b, 0);
    });
  }

  /** The set-aside records, oldest first (unreadable entries skipped). */
  async setAsideMessages(): Promise<SetAsideRecord[]> {
    this.#assertOpen('setAsideMessages');
    const items = await this.#command('read set-aside messages', (c) => c.lRange(this.keys.setAside, 0, -1));
    return parseSetAside(items);
  }

  /** Reads `celeriac.delayed` (earliest first) and keeps entries of `queues` (fanout.ts). */
  async delayedMessages(queues: readonly string[], limit: number): Promise<DelayedRecord[]> {
    this.#assertOpen('delayedMessages');
    const entries = await this.#command('read delayed messages', (c) => c.zRangeWithScores(this.keys.delayed, 0, -1));
    return delayedOf(this.keys, entries, queues, limit);
  }

  /** SADDs kombu's binding member `rk␆␖␆␖queue` to `_kombu.binding.<exchange>`. */
  async bindQueue(queue: string, exchange: string, routingKey: string): Promise<void> {
    this.#assertOpen('bindQueue');
    checkQueueName(queue);
    await this.#command(`bind ${queue}`, (c) => c.sAdd(this.keys.binding(exchange), bindingMember(routingKey, queue)));
  }

  /** SREMs the binding member added by {@link RedisBroker.bindQueue}. */
  async unbindQueue(queue: string, exchange: string, routingKey: string): Promise<void> {
    this.#assertOpen('unbindQueue');
    await this.#command(`unbind ${queue}`, (c) => c.sRem(this.keys.binding(exchange), bindingMember(routingKey, queue)));
  }

  /** PUBLISH on kombu's fanout channel (fanout.ts). */
  async publishFanout(exchange: string, routingKey: string, raw: string): Promise<void> {
    this.#assertOpen('publishFanout');
    return this.#fanout.publish(exchange, routingKey, raw);
  }

  /** PSUBSCRIBE on kombu's fanout channel pattern (fanout.ts). */
  async subscribeFanout(exchange: string, bindingKey: string, listener: (raw: string, routingKey: string) => void): Promise<Unsubscribe> {
    this.#assertOpen('subscribeFanout');
    return this.#fanout.subscribe(exchange, bindingKey, listener);
  }

  /** The transitions; the connection opens on their first command. */
  #transitions(): Promise<Transitions> {
    return Promise.resolve(this.#t);
  }

  #command<T>(what: string, run: (c: Commands) => Promise<T>): Promise<T> {
    return this.#redis.run(what, (c) => run(c as unknown as Commands));
  }

  /**
   * Publishers help promote due ETA messages too, and move delayed messages back to their
   * queues when no Celeriac worker is left to promote them (at most once per promote interval).
   */
  #promoteOnPublish(): void {
    const now = this.options.clock.now();
    if (this.#maintenance.state === 'running' || now - this.#lastPromote < this.options.promoteIntervalMs) return;
    this.#lastPromote = now;
    this.#transitions()
      .then((t) => t.promoteDue(now, 500))
      .then(() => this.#delayedSet().rescue(now))
      .catch((error: unknown) => {
        // A publisher closed right after publishing cuts this short: nothing to report then.
        if (this.#state === 'open') this.options.log?.('warn', 'promoting due ETA messages failed', toTransportError(error, 'promote'));
      });
  }

  /** The ETA transitions; only called once connected. */
  #delayedSet(): DelayedSet {
    return (this.#delayed ??= new DelayedSet((fn) => this.#redis.send(fn), this.keys));
  }

  /** Maintenance's presence duty (delayed.ts). */
  async #advertise(): Promise<void> {
    await this.#transitions();
    if (this.#state !== 'open') return;
    this.#promoter = true;
    await this.#delayedSet().advertise(this.id, this.options);
  }

  async #fetch(consumer: RedisConsumer, queues: readonly string[], max: number): Promise<RedisDelivery[]> {
    const t = this.#t;
    const keys = PRIORITY_STEPS.flatMap((step) => queues.map((q) => this.keys.bucket(q, step)));
    let got;
    try {
      got = await t.fetch(keys, queues, max, this.options.clock.now(), this.options.recoverAfterMs, consumer.nextTokenPrefix());
    } catch (error) {
      throw toTransportError(error, `fetch from ${queues.join(', ')}`);
    }
    return got.map((m) => {
      const queue = queues[m.offset % queues.length] as string;
      const d = new RedisDelivery(this.#host, consumer, queue, keys[m.offset] as string, m.raw, m.tag, m.token, this.#seq++);
      d.unsettled = this.#unsettled.add(d);
      consumer.unsettled++;
      return d;
    });
  }

  /** Not async: every task's ack comes here, and the settlement's own promise is enough to chain on. */
  #settle(d: RedisDelivery, s: Settlement): Promise<void> {
    let applied: Promise<boolean>;
    try {
      this.#assertOpen(s.kind);
      if (d.state === 'settled') {
        throw new CeleriacError(ErrorCodes.STATE, `${s.kind}: delivery ${d.tag} is already settled`);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    d.state = 'settled';
    try {
      applied = applySettlement(this.#t, d, s, () => this.options.clock.now(), () => this.#maintenance.promoteSoon());
    } catch (error) {
      applied = Promise.reject(error);
    }
    return applied.then(
      (ok) => {
        this.#release(d);
        if (!ok && (s.kind === 'ack' || s.kind === 'defer' || s.kind === 'setAside' || (s.kind === 'reject' && !s.requeue))) {
          throw new CeleriacError(
            ErrorCodes.STATE,
            `${s.kind}: the lease of delivery ${d.tag} was lost (its holder stalled past recoverAfterSec, or a sweep gave it back); it will be delivered again`,
          );
        }
      },
      (error: unknown) => {
        this.#release(d);
        throw error instanceof CeleriacError ? error : toTransportError(error, `${s.kind} of delivery ${d.tag}`);
      },
    );
  }

  #release(d: RedisDelivery): void {
    if (d.unsettled !== undefined && this.#unsettled.delete(d.unsettled)) d.consumer.unsettled--;
    d.consumer.roomFreed();
  }

  #giveBack(deliveries: readonly RedisDelivery[]): Promise<void> {
    for (const d of deliveries) {
      d.state = 'settled';
      this.#release(d);
    }
    const done = this.#restoreAll([...deliveries].reverse());
    this.#givingBack.add(done);
    return done.finally(() => this.#givingBack.delete(done));
  }

  /** Restores in the given order, each to the front; failures stay under lease (swept later). */
  async #restoreAll(deliveries: readonly RedisDelivery[]): Promise<void> {
    const t = await this.#transitions().catch(() => undefined);
    for (const d of deliveries) {
      d.state = 'settled';
      try {
        await t?.restore(d, d.bucketKey, markedOrAsIs(d.raw));
      } catch (error) {
        this.options.log?.('warn', `restore of delivery ${d.tag} failed; a sweep will restore it`, toTransportError(error, 'restore'));
      }
    }
  }

  #markLost(tags: readonly string[]): void {
    const lost = new Set(tags);
    for (const d of this.#unsettled) if (lost.has(d.tag) && d.state === 'held') d.state = 'lost';
  }

  #wakeQueue(queue: string): void {
    for (const c of this.#consumers) if (c.queues.includes(queue)) c.wake();
  }

  #syncWake(): void {
    const queues = new Set(this.#consumers.flatMap((c) => [...c.queues]));
    this.#wake.sync(queues).catch((error: unknown) => this.#report(toTransportError(error, 'subscribe to wake-up channels')));
  }

  #detach(consumer: RedisConsumer): void {
    const i = this.#consumers.indexOf(consumer);
    if (i >= 0) this.#consumers.splice(i, 1);
    if (this.#state === 'open') this.#syncWake();
  }

  #report(error: unknown): void {
    for (const c of this.#consumers) c.report(error);
    if (this.#consumers.length === 0) this.options.log?.('warn', 'redis broker background duty failed', error as Error);
  }

  #assertOpen(operation: string): void {
    if (this.#state !== 'open') {
      throw new CeleriacError(ErrorCodes.STATE, `RedisBroker.${operation}: the broker is closed`);
    }
  }
}
