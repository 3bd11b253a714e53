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
 * message). An idle consumer waits in a BRPOP on doorbells with its fetch script behind it,
 * not in a BRPOP on the queue (bell.ts).
 *
 * Parts, each given the services it uses and none calling the broker back: each consumer
 * (redis-consumer.ts) runs its own fetch loop, holds its own unsettled deliveries and settles
 * them (settlements.ts); the publisher (publisher.ts) owns the publish paths; maintenance
 * (maintenance.ts) renews the consumers' leases, sweeps, promotes and advertises; each consumer
 * blocks on its own bell line (bell.ts), or on Sentinel the wake subscriber
 * (wake-subscriber.ts) wakes the consumers watching a queue. The broker keeps the
 * lifecycle (lifecycle.ts), the connections and the queue administration. docs/internals.md
 * walks a task through all of them.
 */
import { randomBytes } from 'node:crypto';
import type {
  BeatStoreHost,
  Broker,
  BrokerCapabilities,
  CarriedPublish,
  ConsumeOptions,
  Consumer,
  DelayedListing,
  DelayedRecord,
  PurgeCount,
  PublishOptions,
  PublishRequest,
  SetAsideListing,
  SetAsidePartStats,
  SetAsideRecord,
  Unsubscribe,
} from '../../core/spi/broker.js';
import type { Message } from '../../protocol/types.js';
import { IDLE_PING_INTERVALS, toTransportError } from '../../redis/client.js';
import { CeleriacError, ErrorCodes, coerceError } from '../../errors.js';
import { parseRedisUrl, serverIdentity, urlDefaults, type RedisTarget } from '../../redis/url.js';
import { ownCommandConnection, TURN_RANKS, type CommandConnection } from '../../redis/shared-commands.js';
import { LeaseKeeper } from './lease-keeper.js';
import { bindingMember, BrokerKeys } from '../../redis/keys.js';
import { ConsumerGroup } from './consumer-group.js';
import { Lifecycle, type RedisBrokerState } from './lifecycle.js';
import { Maintenance } from './maintenance.js';
import { resolveRedisBrokerOptions, type RedisBrokerOptions, type ResolvedRedisBrokerOptions } from './options.js';
import { RedisConsumer, type ConsumerDeps } from './redis-consumer.js';
import { Transitions } from './transitions.js';
import { DelayedSet } from './delayed.js';
import { RunningRecords } from './running.js';
import { WakeSubscriber } from './wake-subscriber.js';
import { BellLine } from './bell.js';
import { delayedOf, RedisFanout } from './fanout.js';
import { checkQueueName } from '../../core/spi/broker-args.js';
import { RedisBeatStore } from './beat-store.js';
import { command, RedisPublisher, type Commands } from './publisher.js';
import { parseSetAside, restoreInOrder } from './settlements.js';
import type { SetAsideCategory } from '../../core/set-aside.js';
import { CHECKED_PARAMETERS, serverConfigWarnings } from './server-checks.js';
import { replicaWarning } from '../../redis/replicas.js';

/** A plain client's raw command entry (bell lines exist only on plain clients). */
type RawCommands = { sendCommand(args: readonly string[]): Promise<unknown> };

export type { RedisBrokerOptions, ResolvedRedisBrokerOptions } from './options.js';
export type { RedisBrokerState } from './lifecycle.js';

/** A {@link Broker} on Redis, sharing kombu's layout. */
export class RedisBroker implements Broker, DelayedListing, SetAsideListing, BeatStoreHost {
  /** Adapter name. */
  readonly kind = 'redis';
  /** kombu's Redis transport serves priority 0 first. */
  readonly capabilities: BrokerCapabilities = Object.freeze({ priorityOrder: 'lowest-first', reportsLostTasks: true });
  /** The resolved options. */
  readonly options: ResolvedRedisBrokerOptions;
  /** Key names under the URL's `global_keyprefix`. */
  readonly keys: BrokerKeys;
  /**
   * This broker's member in celeriac.promoters while it consumes (unique per instance), and
   * the value of its running records (running.ts). 66 hex digits: longer than Redis's default
   * hash-max-listpack-value (64 bytes), so that celeriac.running, whose values are this id
   * alone, is a hash table; as a listpack (a UUID was 36 bytes) every HSET, HMGET and HDEL of
   * it scanned the whole list (measured in the commit that made this change).
   */
  readonly id = randomBytes(33).toString('hex');
  readonly #target: RedisTarget;
  /** Its server's identity (redis/url.ts): a result backend's connection to it may carry publishes (publisherOn). */
  readonly #server: string;
  readonly #lifecycle = new Lifecycle();
  /** The command connection (fetch, settlements, publish, maintenance), shared with the app's backend on the same server. */
  readonly #redis: CommandConnection;
  readonly #transitions: Transitions;
  readonly #consumers: ConsumerGroup;
  readonly #maintenance: Maintenance;
  readonly #wake: WakeSubscriber;
  readonly #fanout: RedisFanout;
  readonly #publisher: RedisPublisher;
  /** What every consumer of this broker is given. */
  readonly #consumerDeps: ConsumerDeps;
  #closed: Promise<void> | undefined;
  #beatStore: RedisBeatStore | undefined;

  /**
   * @param url `redis://`, `rediss://`, `sentinel://` or `redis+sentinel://` URL; its
   *   `global_keyprefix` query parameter prefixes every key, as kombu's transport option.
   */
  constructor(url: string, options: RedisBrokerOptions = {}) {
    const o = (this.options = resolveRedisBrokerOptions(options));
    this.#target = parseRedisUrl(url, urlDefaults(options));
    this.#server = serverIdentity(this.#target);
    const keys = (this.keys = new BrokerKeys(this.#target.transportOptions.globalKeyprefix, this.#target.db));
    const commandOptions = {
      name: 'celeriac-broker',
      commandTimeoutMs: o.commandTimeoutMs,
      connectTimeoutMs: o.connectTimeoutMs,
      offlineQueueTimeoutMs: o.connectTimeoutMs,
      // Idle for 3 PING intervals = a silently dead path: reconnect rather than wait forever.
      pingIntervalMs: o.pingIntervalMs,
      idleTimeoutMs: IDLE_PING_INTERVALS * o.pingIntervalMs,
      ...(o.log ? { log: o.log } : {}),
    };
    // Shared with the app's Redis backend on the same server (redis/shared-commands.ts).
    const redis = (this.#redis = options.connections?.acquire(this.#target, commandOptions) ?? ownCommandConnection(this.#target, commandOptions));
    const transitions = (this.#transitions = new Transitions((fn) => redis.send(fn), keys, o.lostTaskGraceMs === 0 ? '' : this.id, redis.turn));
    const delayed = new DelayedSet((fn) => redis.send(fn), keys);
    this.#consumers = new ConsumerGroup(o.log);
    const storesBeforeAcks = () => redis.shared && redis.turn.has(TURN_RANKS.resultStores);
    const running = o.lostTaskGraceMs === 0 ? undefined : new RunningRecords((fn) => redis.send(fn), transitions, keys, this.id, o.log, storesBeforeAcks);
    this.#maintenance = new Maintenance({ options: o, transitions, delayed, id: this.id, consumers: this.#consumers, target: this.#target, keys, ...(running ? { running } : {}) });
    const subscriberOptions = { pingIntervalMs: o.pingIntervalMs, idleTimeoutMs: IDLE_PING_INTERVALS * o.pingIntervalMs, ...(o.log ? { log: o.log } : {}) };
    this.#wake = new WakeSubscriber(this.#target, keys, subscriberOptions);
    this.#fanout = new RedisFanout(this.#target, keys, (ch, raw) => command(redis, `publish on ${ch}`, (c) => c.publish(ch, raw)), subscriberOptions);
    this.#publisher = new RedisPublisher({ keys, options: o, redis, transitions, delayed, maintenance: this.#maintenance, lifecycle: this.#lifecycle });
    // Bell lines block on a connection of their own (bell.ts); on Sentinel, consumers wait on
    // pub/sub. No offline-queue timeout: node-redis gives each command an AbortSignal.timeout
    // timer for it, which outlives the command, and a bell line queues nothing offline.
    const ring = (key: string) => redis.send((c) => (c as unknown as RawCommands).sendCommand(['LPUSH', key, '']));
    const bellOptions = { ...subscriberOptions, connectTimeoutMs: o.connectTimeoutMs, offlineQueueTimeoutMs: null };
    const bell = this.#target.sentinel === undefined ? { bell: (consumerId: string) => new BellLine(this.#target, bellOptions, keys.consumerBell(consumerId), ring) } : {};
    this.#consumerDeps = { keys, options: o, transitions, wake: this.#wake, maintenance: this.#maintenance, lifecycle: this.#lifecycle, ...bell, ...(running ? { running } : {}) };
  }

  /**
   * Where this broker renews its leases now: `'thread'` (lease-keeper.ts: a blocked event loop
   * keeps them) once the keeper thread runs, else `'event-loop'`.
   */
  get leaseRenewer(): 'thread' | 'event-loop' {
    return this.#maintenance.leaseRenewer;
  }

  /** 'open' until {@link RedisBroker.close}. */
  get state(): RedisBrokerState {
    return this.#lifecycle.state;
  }

  /** Connects the command connection (idempotent; other calls connect lazily). */
  async connect(): Promise<void> {
    this.#lifecycle.assertOpen('connect');
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
    this.#lifecycle.state = 'closing';
    this.#redis.failFast();
    this.#closed = (async () => {
      this.#maintenance.stop();
      const wakeClosed = this.#wake.close();
      const pending = await this.#consumers.closeAll();
      if (pending.length > 0) await restoreInOrder(this.#transitions, pending, this.options.log);
      await this.#maintenance.withdraw();
      await wakeClosed;
      await this.#fanout.close();
      await this.#beatStore?.close();
      await this.#transitions.flushRemovals().catch((error: unknown) => this.options.log?.('warn', 'could not remove running-task records on close', { err: coerceError(error) }));
      await this.#redis.release();
      this.#lifecycle.state = 'closed';
    })();
    return this.#closed;
  }

  /**
   * Warnings about the server's configuration (server-checks.ts: an evicting maxmemory-policy,
   * no persistence, fewer replicas than `waitReplicas`); none where CONFIG GET or INFO is not
   * allowed or fails.
   */
  async serverWarnings(): Promise<string[]> {
    const where = `${this.#target.host}:${this.#target.port}`;
    const warnings: string[] = [];
    try {
      const config = await this.#command('read server configuration', (c) => c.configGet([...CHECKED_PARAMETERS]));
      warnings.push(...serverConfigWarnings(config, where));
    } catch {
      // CONFIG not allowed: nothing to say.
    }
    if (this.options.waitReplicas > 0) {
      const info = await this.#command('read replication', (c) => c.info('replication')).catch(() => '');
      const warning = replicaWarning(info, this.options, 'broker', where);
      if (warning !== null) warnings.push(warning);
    }
    return warnings;
  }

  /** Binds the queue to its own name on the exchange of the same name, as Celery declares it. */
  async declareQueue(queue: string): Promise<void> {
    this.#lifecycle.assertOpen('declareQueue');
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
    this.#lifecycle.assertOpen('publish');
    return this.#publisher.publish(message, options);
  }

  /** QueueBroker.publisherOn: {@link RedisBroker.publish}'s commands on a backend's RESP3 connection to this server (publisher.ts). */
  publisherOn(server: string, message: Message, options: PublishOptions): CarriedPublish | undefined {
    if (this.#lifecycle.state !== 'open' || server !== this.#server) return undefined;
    return this.#publisher.publisherOn(message, options);
  }

  /** Many messages in one pipelined write (see bulk-publish.ts); same layout as {@link RedisBroker.publish}. */
  publishMany(batch: readonly PublishRequest[]): Promise<void> {
    this.#lifecycle.assertOpen('publishMany');
    return this.#publisher.publishMany(batch);
  }

  /** Beat's store on this Redis (same prefix), so publishes can be fenced by its lease. */
  beatStore(): RedisBeatStore {
    this.#lifecycle.assertOpen('beatStore');
    this.#beatStore ??= new RedisBeatStore(this.#target, this.options.log);
    return this.#beatStore;
  }

  /** Whether its command connection is known to be down now (QueueBroker.offline). */
  offline(): boolean {
    return this.#redis.offline;
  }

  /** Why its command connection fails now, while it does (QueueBroker.connectProblem). */
  connectProblem(): string | null {
    return this.#redis.client.failure;
  }

  /** Starts the lease keeper thread (when leases are renewed by one); settles once it runs, or after 2 s. */
  async prepareConsume(): Promise<void> {
    if (this.options.leaseRenewal === 'thread' && this.#target.sentinel === undefined) await LeaseKeeper.warm(2000, this.options.log);
  }

  /** Starts consuming `options.queues` (round robin) within the prefetch window. */
  consume(options: ConsumeOptions): Consumer {
    this.#lifecycle.assertOpen('consume');
    const consumer = new RedisConsumer(this.#consumerDeps, options);
    this.#consumers.add(consumer);
    this.#maintenance.start();
    this.#maintenance.consumersChanged();
    consumer.start();
    return consumer;
  }

  /** Removes the queue's ready and delayed messages; held deliveries are untouched. */
  async purge(queue: string): Promise<number> {
    const { ready, delayed } = await this.purgeCounted(queue);
    return ready + delayed;
  }

  /** Empties the queue's lists and takes its messages out of `celeriac.delayed`, in one step (purge.lua). */
  async purgeCounted(queue: string): Promise<PurgeCount> {
    this.#lifecycle.assertOpen('purge');
    checkQueueName(queue);
    try {
      return await this.#transitions.purge(queue);
    } catch (error) {
      throw toTransportError(error, `purge of ${queue}`);
    }
  }

  /** Ready messages of the queue over its four buckets (LLEN sum, as Flower counts). */
  async queueLength(queue: string): Promise<number> {
    this.#lifecycle.assertOpen('queueLength');
    checkQueueName(queue);
    return this.#command(`length of ${queue}`, async (c) => {
      const lengths = await Promise.all(this.keys.buckets(queue).map((k) => c.lLen(k)));
      return lengths.reduce((a, b) => a + b, 0);
    });
  }

  /** The set-aside records of both parts, oldest first (unreadable entries skipped). */
  async setAsideMessages(): Promise<SetAsideRecord[]> {
    this.#lifecycle.assertOpen('setAsideMessages');
    const parts = await this.#command('read set-aside messages', (c) => Promise.all([c.lRange(this.keys.setAside, 0, -1), c.lRange(this.keys.deadLetters, 0, -1)]));
    return parseSetAside(parts.flat()).sort((a, b) => a.at - b.at);
  }

  /** Count and bytes of each part of the set-aside store (its byte counter, or the records' lengths where a store predates it). */
  async setAsideStats(): Promise<Record<SetAsideCategory, SetAsidePartStats>> {
    this.#lifecycle.assertOpen('setAsideStats');
    const part = async (category: SetAsideCategory): Promise<SetAsidePartStats> => {
      const [list, bytesKey] = this.#transitions.setAsidePart(category);
      const [count, counted] = await this.#command(`read ${category} stats`, (c) => Promise.all([c.lLen(list), c.get(bytesKey)]));
      const bytes = counted !== null || count === 0 ? Number(counted ?? 0) : (await this.#command(`read ${category} records`, (c) => c.lRange(list, 0, -1))).reduce((n, r) => n + Buffer.byteLength(r), 0);
      const { maxCount, maxBytes } = this.options.setAside[category];
      return { count, bytes, maxCount, maxBytes };
    };
    return { malformed: await part('malformed'), 'dead-letter': await part('dead-letter') };
  }

  /** Removes set-aside records by id (or all), replaying their messages with `replay` (set-aside-take.lua). */
  async takeSetAside(ids: readonly string[] | 'all', action: 'replay' | 'purge'): Promise<SetAsideRecord[]> {
    this.#lifecycle.assertOpen('takeSetAside');
    if (action !== 'replay' && action !== 'purge') throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `takeSetAside: action must be 'replay' or 'purge', got ${String(action)}`);
    if (ids !== 'all' && ids.length === 0) return [];
    try {
      const taken = [...(await this.#transitions.takeSetAside(ids, action, 'malformed')), ...(await this.#transitions.takeSetAside(ids, action, 'dead-letter'))];
      return parseSetAside(taken).sort((a, b) => a.at - b.at);
    } catch (error) {
      throw toTransportError(error, `${action} of set-aside messages`);
    }
  }

  /** Reads `celeriac.delayed` (earliest first) and keeps entries of `queues` (fanout.ts); all of them for every queue. */
  async delayedMessages(queues: readonly string[] | null, limit: number): Promise<DelayedRecord[]> {
    this.#lifecycle.assertOpen('delayedMessages');
    if (limit <= 0) return [];
    // For every queue the first `limit` entries are the answer; else every entry is filtered.
    const last = queues === null ? limit - 1 : -1;
    const entries = await this.#command('read delayed messages', (c) => c.zRangeWithScores(this.keys.delayed, 0, last));
    return delayedOf(this.keys, entries, queues, limit);
  }

  /** Members of `celeriac.delayed` (ZCARD). */
  async delayedCount(): Promise<number> {
    this.#lifecycle.assertOpen('delayedCount');
    return this.#command('count delayed messages', (c) => c.zCard(this.keys.delayed));
  }

  /** SADDs kombu's binding member `rk␆␖␆␖queue` to `_kombu.binding.<exchange>`. */
  async bindQueue(queue: string, exchange: string, routingKey: string): Promise<void> {
    this.#lifecycle.assertOpen('bindQueue');
    checkQueueName(queue);
    await this.#command(`bind ${queue}`, (c) => c.sAdd(this.keys.binding(exchange), bindingMember(routingKey, queue)));
  }

  /** SREMs the binding member added by {@link RedisBroker.bindQueue}. */
  async unbindQueue(queue: string, exchange: string, routingKey: string): Promise<void> {
    this.#lifecycle.assertOpen('unbindQueue');
    await this.#command(`unbind ${queue}`, (c) => c.sRem(this.keys.binding(exchange), bindingMember(routingKey, queue)));
  }

  /** PUBLISH on kombu's fanout channel (fanout.ts); resolves with the subscribers it reached. */
  async publishFanout(exchange: string, routingKey: string, raw: string | Buffer): Promise<number> {
    this.#lifecycle.assertOpen('publishFanout');
    return this.#fanout.publish(exchange, routingKey, raw);
  }

  /** PSUBSCRIBE on kombu's fanout channel pattern (fanout.ts). */
  async subscribeFanout(exchange: string, bindingKey: string, listener: (raw: string, routingKey: string) => void): Promise<Unsubscribe> {
    this.#lifecycle.assertOpen('subscribeFanout');
    return this.#fanout.subscribe(exchange, bindingKey, listener);
  }

  #command<T>(what: string, run: (c: Commands) => Promise<T>): Promise<T> {
    return command(this.#redis, what, run);
  }
}
