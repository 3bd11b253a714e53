/**
 * @module brokers/memory/memory-broker
 * The in-process broker: the embedded default (`memory://`) and the reference the broker
 * conformance suite is written against. It behaves like kombu's Redis transport
 * (docs/protocol.md §2): four priority buckets per queue (0-2, 3-5, 6-8, 9) with bucket 0
 * served first, FIFO within a bucket, reject-with-requeue to the back marked redelivered,
 * restore to the front marked redelivered (as kombu's restore), delayed messages held by the
 * broker until due.
 *
 * Routing: exchange '' publishes to the queue named by the routing key. A non-empty
 * exchange is a direct exchange: queues bound with `bindQueue` whose key equals the routing
 * key get the message; with none, the routing key is taken as the queue name (every queue
 * is implicitly bound to its own name), unless `dropUnrouted` is set. Fanout/topic
 * exchanges (events, pidbox) are in-process pub/sub (fanout-hub.ts).
 */
import { randomUUID } from 'node:crypto';
import { systemClock, type Clock, type TimerHandle } from '../../core/clock.js';
import { LinkedSet } from '../../core/linked-set.js';
import type { TransportLog } from '../../core/transport-table.js';
import type {
  BeatStoreHost,
  Broker,
  BrokerCapabilities,
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
  Settlement,
  Unsubscribe,
} from '../../core/spi/broker.js';
import { CeleriacError, ErrorCodes } from '../../errors.js';
import { encodeEnvelope, markRedelivered } from '../../protocol/envelope.js';
import type { Message } from '../../protocol/types.js';
import { MemoryConsumer, MemoryDelivery, type ConsumerHost } from './memory-consumer.js';
import { resolveSetAsideLimits, type SetAsideCategory, type SetAsideFields, type SetAsideQuotaOptions, type SetAsideQuotas } from '../../core/set-aside.js';
import { SetAsideStore } from './set-aside-store.js';
import { BUCKET_COUNT, bucketOf, DelayedList, ReadyQueues, type StoredMessage } from './queue-store.js';
import { checkDeliverAt, checkQueueName } from '../../core/spi/broker-args.js';
import { FanoutHub } from './fanout-hub.js';
import { MemoryBeatStore } from './beat-store.js';

/** Options of {@link MemoryBroker}. */
export interface MemoryBrokerOptions extends SetAsideQuotaOptions {
  /**
   * Source of time for delayed delivery (`deliverAt`, `defer`) and set-aside timestamps.
   * @default systemClock
   */
  clock?: Clock;
  /** Receives the broker's warnings (set-aside records dropped). @default process.emitWarning */
  log?: TransportLog;
}

/** {@link MemoryBrokerOptions} resolved once. */
export interface ResolvedMemoryBrokerOptions {
  readonly clock: Clock;
  readonly setAside: SetAsideQuotas;
  readonly log: TransportLog;
}

/** Lifecycle of a {@link MemoryBroker}: usable until closed, never reopened. */
export type MemoryBrokerState = 'open' | 'closed';

/** A {@link Broker} held in process memory. */
export class MemoryBroker implements Broker, DelayedListing, SetAsideListing, BeatStoreHost {
  /** Adapter name. */
  readonly kind = 'memory';
  /** Like kombu's Redis transport, priority 0 is served first. */
  readonly capabilities: BrokerCapabilities = Object.freeze({ priorityOrder: 'lowest-first', reportsLostTasks: true });
  /** The resolved options. */
  readonly options: ResolvedMemoryBrokerOptions;

  #state: MemoryBrokerState = 'open';
  readonly #ready = new ReadyQueues();
  readonly #delayed = new DelayedList();
  readonly #setAside: SetAsideStore;
  readonly #consumers: MemoryConsumer[] = [];
  /** Delivered, not settled yet (a linked set: see core/linked-set.ts). */
  readonly #unsettled = new LinkedSet<MemoryDelivery>();
  #deliverySeq = 0;
  #firstConsumer = 0;
  #pumpScheduled = false;
  #timer: TimerHandle | undefined;
  readonly #fanout = new FanoutHub();
  /** exchange -> binding members `routingKey\0queue`. */
  readonly #bindings = new Map<string, Set<string>>();
  #beatStore: MemoryBeatStore | undefined;
  readonly #host: ConsumerHost = {
    settle: (delivery, settlement) => this.#settle(delivery, settlement),
    wake: () => this.#wake(),
    detach: (consumer) => this.#detach(consumer),
  };

  constructor(options: MemoryBrokerOptions = {}) {
    this.options = Object.freeze({
      clock: options.clock ?? systemClock,
      setAside: resolveSetAsideLimits(options, 'MemoryBroker'),
      log: options.log ?? ((_level: string, message: string) => process.emitWarning(message)),
    });
    this.#setAside = new SetAsideStore(this.options.setAside);
  }

  /** 'open' until {@link MemoryBroker.close}. */
  get state(): MemoryBrokerState {
    return this.#state;
  }

  /** Nothing to connect; fails only once closed. */
  async connect(): Promise<void> {
    this.#assertOpen('connect');
  }

  /**
   * Stops every consumer and the delay timer, and gives every unsettled delivery back to
   * the front of its queue in delivery order; settling one afterwards fails. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    if (this.#timer !== undefined) this.options.clock.clearTimer(this.#timer);
    this.#timer = undefined;
    this.#fanout.clear();
    for (const consumer of this.#consumers) consumer.markClosed();
    this.#consumers.length = 0;
    // Latest first, each to the front: the earliest delivered ends up first in line again.
    const pending = this.#unsettled.values().sort((a, b) => b.seq - a.seq);
    for (const delivery of pending) {
      delivery.settled = true;
      this.#ready.pushFront(delivery.queue, delivery.bucket, delivery.message);
    }
    this.#unsettled.clear();
  }

  /** Creates the queue, empty, if it does not exist. */
  async declareQueue(queue: string): Promise<void> {
    this.#assertOpen('declareQueue');
    this.#ready.ensure(checkQueueName(queue));
  }

  /**
   * Stores the message's envelope (fresh delivery tag) in its queue and priority bucket, or
   * in the delayed list when `deliverAt` is in the future. Consumers are served afterwards,
   * never synchronously inside this call.
   */
  async publish(message: Message, options: PublishOptions): Promise<void> {
    this.#assertOpen('publish');
    checkQueueName(options.routingKey);
    const deliverAt = options.deliverAt;
    checkDeliverAt(deliverAt);
    if (options.fence !== undefined && this.#beatStore?.applyFence(options.fence) !== true) {
      throw new CeleriacError(ErrorCodes.FENCED, 'publish refused: the beat lease is no longer held by this sender');
    }
    const bucket = bucketOf(options.priority);
    for (const queue of this.#route(options)) {
      const tag = randomUUID();
      const raw = encodeEnvelope(message, { deliveryTag: tag, exchange: options.exchange, routingKey: options.routingKey });
      const stored: StoredMessage = { raw, tag, redelivered: false };
      this.#ready.ensure(queue);
      this.#delay(deliverAt ?? Number.NEGATIVE_INFINITY, queue, bucket, stored);
    }
  }

  /** Delayed messages of `queues` (null: every queue), earliest first. */
  async delayedMessages(queues: readonly string[] | null, limit: number): Promise<DelayedRecord[]> {
    this.#assertOpen('delayedMessages');
    return this.#delayed.list(queues === null ? null : new Set(queues), limit).map((e) => ({ raw: e.message.raw, queue: e.queue, deliverAt: e.at }));
  }

  /** Number of delayed messages. */
  async delayedCount(): Promise<number> {
    this.#assertOpen('delayedCount');
    return this.#delayed.length;
  }

  /** Adds a direct binding of `queue` on `exchange` with `routingKey`. */
  async bindQueue(queue: string, exchange: string, routingKey: string): Promise<void> {
    this.#assertOpen('bindQueue');
    checkQueueName(queue);
    let members = this.#bindings.get(exchange);
    if (members === undefined) this.#bindings.set(exchange, (members = new Set()));
    members.add(`${routingKey}\0${queue}`);
    this.#ready.ensure(queue);
  }

  /** Removes a binding added by {@link MemoryBroker.bindQueue}. */
  async unbindQueue(queue: string, exchange: string, routingKey: string): Promise<void> {
    this.#assertOpen('unbindQueue');
    this.#bindings.get(exchange)?.delete(`${routingKey}\0${queue}`);
  }

  /** Hands the envelope to matching in-process subscribers (asynchronously); resolves with how many. */
  async publishFanout(exchange: string, routingKey: string, raw: string | Buffer): Promise<number> {
    this.#assertOpen('publishFanout');
    return this.#fanout.publish(exchange, routingKey, typeof raw === 'string' ? raw : raw.toString('utf8'));
  }

  /** Subscribes in-process; see {@link Broker.subscribeFanout}. */
  async subscribeFanout(exchange: string, bindingKey: string, listener: (raw: string, routingKey: string) => void): Promise<Unsubscribe> {
    this.#assertOpen('subscribeFanout');
    return this.#fanout.subscribe(exchange, bindingKey, listener);
  }

  /** Queues a publish reaches: see the module comment. */
  #route(options: PublishOptions): string[] {
    if (options.exchange === '') return [options.routingKey];
    const bound: string[] = [];
    for (const member of this.#bindings.get(options.exchange) ?? []) {
      const cut = member.indexOf('\0');
      if (member.slice(0, cut) === options.routingKey) bound.push(member.slice(cut + 1));
    }
    if (bound.length > 0 || options.dropUnrouted === true) return bound;
    return [options.routingKey];
  }

  /** The beat store of this broker (one per broker, so fences are checked in `publish`). */
  beatStore(): MemoryBeatStore {
    this.#beatStore ??= new MemoryBeatStore(this.options.clock);
    return this.#beatStore;
  }

  /** Publishes each message in order, as {@link MemoryBroker.publish} (checked all first). */
  async publishMany(batch: readonly PublishRequest[]): Promise<void> {
    this.#assertOpen('publishMany');
    for (const { options } of batch) {
      checkQueueName(options.routingKey);
      checkDeliverAt(options.deliverAt);
    }
    for (const { message, options } of batch) await this.publish(message, options);
  }

  /** Starts consuming `options.queues`, round robin, within the prefetch window. */
  consume(options: ConsumeOptions): Consumer {
    this.#assertOpen('consume');
    const consumer = new MemoryConsumer(this.#host, options);
    this.#consumers.push(consumer);
    this.#wake();
    return consumer;
  }

  /** Removes the queue's ready and delayed messages; unsettled deliveries are untouched. */
  async purge(queue: string): Promise<number> {
    const { ready, delayed } = await this.purgeCounted(queue);
    return ready + delayed;
  }

  /** {@link MemoryBroker.purge}, ready and delayed messages counted apart. */
  async purgeCounted(queue: string): Promise<PurgeCount> {
    this.#assertOpen('purge');
    const counted = { ready: this.#ready.purge(queue), delayed: this.#delayed.purge(queue) };
    this.#armTimer();
    return counted;
  }

  /** Ready messages of the queue over all buckets (delayed and unsettled ones excluded). */
  async queueLength(queue: string): Promise<number> {
    this.#assertOpen('queueLength');
    return this.#ready.length(queue);
  }

  /** Copies of the set-aside records, oldest first. */
  async setAsideMessages(): Promise<SetAsideRecord[]> {
    this.#assertOpen('setAsideMessages');
    return this.#setAside.list();
  }

  /** Removes set-aside records by id (or all); with `replay`, each message goes to the back of its queue. */
  async takeSetAside(ids: readonly string[] | 'all', action: 'replay' | 'purge'): Promise<SetAsideRecord[]> {
    this.#assertOpen('takeSetAside');
    if (action !== 'replay' && action !== 'purge') throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `takeSetAside: action must be 'replay' or 'purge', got ${String(action)}`);
    const taken = this.#setAside.take(ids, action === 'replay');
    if (action === 'replay') {
      for (const record of taken) {
        const { tag, priority } = replayedFields(record.raw);
        this.#ready.ensure(record.queue);
        this.#ready.pushBack(record.queue, bucketOf(priority), { raw: record.raw, tag, redelivered: false });
      }
      if (taken.length > 0) this.#wake();
    }
    return taken;
  }

  /** Count and bytes of each part of the set-aside store. */
  async setAsideStats(): Promise<Record<SetAsideCategory, SetAsidePartStats>> {
    this.#assertOpen('setAsideStats');
    return this.#setAside.stats();
  }

  #parkAside(record: SetAsideFields): void {
    const dropped = this.#setAside.park(record);
    if (dropped.count > 0) {
      const { maxCount, maxBytes } = this.options.setAside[record.category];
      this.options.log('warn', `set-aside store full for ${record.category} records (at most ${maxCount} records, ${maxBytes} bytes): dropped the ${dropped.count} oldest, ${dropped.bytes} bytes (first id ${dropped.firstId})`, { category: record.category, firstDropped: dropped.firstId });
    }
  }

  #settle(delivery: MemoryDelivery, settlement: Settlement): void {
    this.#assertOpen(settlement.kind);
    if (delivery.settled) {
      throw new CeleriacError(ErrorCodes.STATE, `${settlement.kind}: delivery ${delivery.tag} is already settled`);
    }
    delivery.settled = true;
    if (delivery.unsettled !== undefined) this.#unsettled.delete(delivery.unsettled);
    delivery.consumer.unsettled--;
    const { queue, bucket, message } = delivery;
    switch (settlement.kind) {
      case 'ack':
        break;
      case 'reject':
        if (settlement.requeue) {
          this.#ready.pushBack(queue, bucket, { raw: markRedelivered(message.raw), tag: message.tag, redelivered: true, deliveries: message.deliveries ?? 0 });
        }
        break;
      case 'restore':
        this.#ready.pushFront(queue, bucket, { raw: markedOrAsIs(message.raw), tag: message.tag, redelivered: true, deliveries: message.deliveries ?? 0 });
        break;
      case 'defer':
        this.#delay(settlement.deliverAt, queue, bucket, settlement.redelivered === true ? { raw: markedOrAsIs(message.raw), tag: message.tag, redelivered: true, deliveries: message.deliveries ?? 0 } : message);
        break;
      case 'setAside':
        this.#parkAside({ raw: message.raw, queue, reason: settlement.reason, at: this.options.clock.now(), category: settlement.category ?? 'malformed' });
        break;
    }
    this.#wake();
  }

  /** Queues the message now when `at` has passed, else holds it in the delayed list. */
  #delay(at: number, queue: string, bucket: number, message: StoredMessage): void {
    if (at <= this.options.clock.now()) {
      this.#ready.pushBack(queue, bucket, message);
      this.#wake();
      return;
    }
    this.#delayed.insert({ at, queue, bucket, message });
    this.#armTimer();
  }

  /** One timer, for the earliest delayed message; re-armed whenever the head may change. */
  #armTimer(): void {
    const clock = this.options.clock;
    if (this.#timer !== undefined) clock.clearTimer(this.#timer);
    this.#timer = undefined;
    const next = this.#delayed.nextAt();
    if (next === undefined || this.#state === 'closed') return;
    this.#timer = clock.setTimer(() => this.#releaseDue(), Math.max(0, next - clock.now()));
  }

  #releaseDue(): void {
    this.#timer = undefined;
    if (this.#state === 'closed') return;
    for (const entry of this.#delayed.popDue(this.options.clock.now())) {
      this.#ready.pushBack(entry.queue, entry.bucket, entry.message);
    }
    // A timer that fired early finds nothing due and simply re-arms.
    this.#armTimer();
    this.#wake();
  }

  #wake(): void {
    if (this.#pumpScheduled || this.#state === 'closed') return;
    this.#pumpScheduled = true;
    queueMicrotask(() => this.#pump());
  }

  /** Deals messages one per consumer per round, rotating the first consumer, until stuck. */
  #pump(): void {
    this.#pumpScheduled = false;
    const consumers = this.#consumers;
    if (consumers.length === 0) return;
    const start = this.#firstConsumer++ % consumers.length;
    let progressed = true;
    while (progressed && this.#state === 'open') {
      progressed = false;
      const round = [...consumers.slice(start), ...consumers.slice(0, start)];
      for (const consumer of round) {
        if (this.#state !== 'open' || !consumer.hasRoom()) continue;
        const delivery = this.#takeFor(consumer);
        if (!delivery) continue;
        progressed = true;
        consumer.dispatch(delivery);
      }
    }
  }

  /** The next message for a consumer: bucket order first, then its queues in rotation. */
  #takeFor(consumer: MemoryConsumer): MemoryDelivery | undefined {
    const queues = consumer.rotation();
    for (let bucket = 0; bucket < BUCKET_COUNT; bucket++) {
      for (const queue of queues) {
        const message = this.#ready.take(queue, bucket);
        if (!message) continue;
        consumer.servedFrom(queue);
        consumer.unsettled++;
        message.deliveries = (message.deliveries ?? 0) + 1;
        const delivery = new MemoryDelivery(this.#host, consumer, queue, bucket, message, this.#deliverySeq++);
        delivery.unsettled = this.#unsettled.add(delivery);
        return delivery;
      }
    }
    return undefined;
  }

  #detach(consumer: MemoryConsumer): void {
    const i = this.#consumers.indexOf(consumer);
    if (i >= 0) this.#consumers.splice(i, 1);
  }

  #assertOpen(operation: string): void {
    if (this.#state === 'closed') {
      throw new CeleriacError(ErrorCodes.STATE, `MemoryBroker.${operation}: the broker is closed`);
    }
  }
}

/** kombu's restore marks the envelope redelivered; an unreadable one goes back as it was. */
function markedOrAsIs(raw: string): string {
  try {
    return markRedelivered(raw);
  } catch {
    return raw;
  }
}

/** The delivery tag and priority of a replayed envelope (a fresh tag when it has none). */
function replayedFields(raw: string): { tag: string; priority: number | undefined } {
  try {
    const env = JSON.parse(raw) as { properties?: { delivery_tag?: unknown; priority?: unknown } };
    const tag = env.properties?.delivery_tag;
    const priority = env.properties?.priority;
    return { tag: typeof tag === 'string' ? tag : randomUUID(), priority: typeof priority === 'number' ? priority : undefined };
  } catch {
    return { tag: randomUUID(), priority: undefined };
  }
}
