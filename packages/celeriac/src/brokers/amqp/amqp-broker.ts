/**
 * @module brokers/amqp/amqp-broker
 * The RabbitMQ broker (AMQP 0-9-1 through amqplib), byte-compatible with Celery 5.2.6
 * (docs/protocol-amqp.md). It plays the queue, fanout, bindings and beat-store-host roles
 * (beat's store is one document in a queue: beat-store.ts); RabbitMQ has no listing of
 * delayed or set-aside messages (core/spi/broker.ts; the set-aside queues: set-aside-queues.ts). It tells since when the next message of a
 * classic queue has waited (queue-age.ts): every message published here carries the AMQP
 * `timestamp` property, the time of its send.
 *
 * - **Topology** as Celery declares it (amqp/topology.ts): a mismatch is a 406 that kills
 *   Python workers, so every declaration uses Celery's flags and arguments.
 * - **Publishing** waits for RabbitMQ's confirm (confirmed-publisher.ts), with `mandatory`
 *   but for pidbox replies (`dropUnrouted`) and events, whose requester may be gone.
 * - **Delayed delivery** (`deliverAt`, `defer`) goes through the delay ladder (delayed.ts).
 * - **Failure**: the session (amqp/session.ts) reconnects with backoff; declarations are made
 *   once per connection (declarations.ts); consumers and subscriptions (fanout-subscription.ts)
 *   declare and consume again; a publish cut by a lost connection is sent again.
 */
import type { Channel } from 'amqplib';
import { ChannelSlot } from '../../amqp/channel-slot.js';
import { AmqpSession } from '../../amqp/session.js';
import { amqpQueueName, checkTarget } from '../../amqp/limits.js';
import { typeTable } from '../../amqp/tables.js';
import { PIDBOX_QUEUE_SPEC, exchangeSpecFor, isPidboxQueue, type ExchangeSpec, type QueueSpec } from '../../amqp/topology.js';
import { parseAmqpUrls } from '../../amqp/url.js';
import { CLASSIC_TOPOLOGY, planTaskQueue, usesQuorumQueues, type QueueTopology, type QueueType } from '../../core/queue-topology.js';
import { toWire, type WireOut } from '../../amqp/wire.js';
import { checkDeliverAt } from '../../core/spi/broker-args.js';
import type { Broker, BrokerCapabilities, ConsumeOptions, Consumer, DelayedRecord, PurgeCount, PublishOptions, PublishRequest, Settlement, Unsubscribe } from '../../core/spi/broker.js';
import { systemClock, type Clock } from '../../core/clock.js';
import type { TransportLog } from '../../core/transport-table.js';
import { CeleriacError, ErrorCodes } from '../../errors.js';
import type { Message } from '../../protocol/types.js';
import { AmqpConsumer } from './amqp-consumer.js';
import type { ConsumerHost } from './consumer-host.js';
import { DELIVERIES_HEADER } from './amqp-delivery.js';
import { AmqpBeatStore } from './beat-store.js';
import { DELIVER_AT_HEADER, purgeLadders } from './purge-delayed.js';
import { CELERIAC_LADDER, KOMBU_LADDER, delayRoutingKey, deliverBinding, entryExchange, type DelayLadder } from './delayed.js';
import { declareLadder } from './ladder-declare.js';
import { countDelayed, listDelayed } from './list-delayed.js';
import { existingTypeOf, taskQueueSpecOf, typeMismatchError } from './queue-types.js';
import { isNotFound, toTransportError, UnroutableError } from './amqp-errors.js';
import { QueueAgeReader } from './queue-age.js';
import { QueueChecks } from './queue-checks.js';
import { ConfirmedPublisher } from './confirmed-publisher.js';
import { checkedMaxPriority, type AmqpBrokerOptions } from './options.js';
import { Declarations } from './declarations.js';
import { fanoutWire, subscribeExchange } from './fanout-subscription.js';
import { declareSetAsideQueue, setAsideQueueOf, setAsideWire } from './set-aside-queues.js';
import { resolveSetAsideLimits, type SetAsideQuotas } from '../../core/set-aside.js';

export { DEAD_LETTER_QUEUE, SET_ASIDE_QUEUE } from './set-aside-queues.js';
/** Delays shorter than this are published straight to the queue. */
const MIN_DELAY_MS = 1;

export type { AmqpBrokerOptions } from './options.js';

const defaultLog: TransportLog = (level, msg, fields) => {
  const { err, ...names } = fields ?? {};
  console[level === 'error' ? 'error' : 'warn'](`[celeriac amqp] ${msg}`, ...(Object.keys(names).length > 0 ? [names] : []), err?.message ?? '');
};

/** The RabbitMQ broker. */
export class AmqpBroker implements Broker, ConsumerHost {
  readonly kind = 'amqp';
  readonly capabilities: BrokerCapabilities;
  readonly session: AmqpSession;
  readonly log: TransportLog;
  readonly clock: Clock;
  readonly queueMaxPriority: number | null;
  readonly topology: QueueTopology;
  /** The delay ladder: kombu's (quorum, seconds) as soon as the app has a quorum queue. */
  readonly ladder: DelayLadder;
  /**
   * Prefetch shared by a channel's consumers (`global=true`, Celery's way on RabbitMQ) or per
   * consumer: quorum queues refuse global QoS (RabbitMQ closes the connection, 540).
   */
  readonly qosGlobal: boolean;
  /** Types of the task queues declared, as they exist (see queue-types.ts). */
  readonly #types = new Map<string, QueueType>();
  readonly #publisher: ConfirmedPublisher;
  readonly #admin: ChannelSlot<Channel>;
  readonly #checks: QueueChecks; // queueLength's passive declares, on channels of their own
  /** Declarations made on the current connection: key -> promise. */
  readonly #declared: Declarations;
  readonly #consumers = new Set<AmqpConsumer>();
  readonly #subscriptions = new Set<() => Promise<void>>();
  /** Mailbox queues bound to fanout exchanges (bindQueue), consumed by subscribeFanout. */
  readonly #mailboxes = new Map<string, string>();
  #beatStore: AmqpBeatStore | undefined;
  #ages: QueueAgeReader | undefined;
  #closed = false;
  /** The bounds of the two set-aside queues (set-aside-queues.ts). */
  readonly #setAside: SetAsideQuotas;

  constructor(url: string, options: AmqpBrokerOptions = {}) {
    this.log = options.log ?? defaultLog;
    this.clock = options.clock ?? systemClock;
    this.queueMaxPriority = checkedMaxPriority(options);
    this.#setAside = resolveSetAsideLimits(options, 'RabbitMQ broker');
    this.topology = options.queues ?? CLASSIC_TOPOLOGY;
    const quorum = usesQuorumQueues(this.topology);
    this.ladder = quorum ? KOMBU_LADDER : CELERIAC_LADDER;
    this.qosGlobal = !quorum;
    // Priorities are served by classic queues only (RabbitMQ 3.x quorum queues are FIFO).
    const priorityOrder = this.topology.missingQueueType === 'quorum' ? 'none' : 'highest-first';
    this.capabilities = { priorityOrder, redeliveryKeepsTag: false, fairQueues: false, restoreServedFirst: false };
    const connectWaitMs = options.connectWaitMs ?? 30_000; // Checked by the session.
    this.session = new AmqpSession(parseAmqpUrls(url, options.useSsl), { log: this.log, waitMs: connectWaitMs, connectionName: options.connectionName, ...(options.loginMethod === undefined ? {} : { loginMethod: options.loginMethod }), ...(options.replyTimeoutMs === undefined ? {} : { replyTimeoutMs: options.replyTimeoutMs }) });
    this.#publisher = new ConfirmedPublisher(this.session, this.log, connectWaitMs, () => this.#closed);
    this.#admin = new ChannelSlot<Channel>(this.session, false);
    this.#declared = new Declarations(this.session, this.#admin);
    this.#checks = new QueueChecks(this.session);
  }

  /** Connects and makes sure the delay ladder exists (so the first delayed publish is quick). */
  async connect(): Promise<void> {
    await this.session.connection();
    await this.#declareLadder();
  }

  /** Whether its connection is known to be down now, lost and not back yet (QueueBroker.offline). */
  offline(): boolean { return this.session.offline; }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of this.#consumers) await c.destroy();
    this.#consumers.clear();
    for (const unsub of [...this.#subscriptions]) await unsub().catch(() => undefined);
    await this.#beatStore?.close();
    await this.session.close();
  }

  // ---- declarations -------------------------------------------------------------------

  #declareExchange(name: string, spec: ExchangeSpec): Promise<void> {
    return this.#declared.once(`exchange ${name}`, (ch) => ch.assertExchange(name, spec.type, { durable: spec.durable, autoDelete: false }));
  }

  #declareQueueSpec(queue: string, spec: QueueSpec): Promise<void> {
    return this.#declared.once(`queue ${queue}`, (ch) =>
      ch.assertQueue(queue, { durable: spec.durable, autoDelete: spec.autoDelete, exclusive: false, arguments: typeTable(spec.arguments) }),
    );
  }

  /**
   * Declares a task queue as Celery does: the queue (of its configured type), an exchange of
   * its name, the binding; with quorum queues also its binding on the delay ladder's delivery
   * exchange, as a Celery 5.6 worker binds its queues, so countdown tasks from Celery 5.6
   * producers reach it.
   */
  async declareQueue(queue: string): Promise<void> {
    amqpQueueName(queue);
    if (isPidboxQueue(queue)) return this.#declareQueueSpec(queue, PIDBOX_QUEUE_SPEC);
    const plan = planTaskQueue(this.topology, queue);
    await this.#declared.once(`queue ${queue}`, (ch) => this.#declareTaskQueue(ch, queue, plan.type));
    await this.#declareExchange(queue, { type: plan.exchangeType, durable: true });
    await this.#declared.once(`bind ${queue} ${queue} ${queue}`, (ch) => ch.bindQueue(queue, queue, queue));
    if (this.ladder === KOMBU_LADDER) await this.#bindDelayTarget(queue);
  }

  /** Declares a task queue; one that exists with another type is handled as queue-types.ts states. */
  async #declareTaskQueue(ch: Channel, queue: string, type: QueueType): Promise<void> {
    const spec = taskQueueSpecOf(planTaskQueue(this.topology, queue), this.queueMaxPriority);
    try {
      await ch.assertQueue(queue, { durable: spec.durable, autoDelete: spec.autoDelete, exclusive: false, arguments: typeTable(spec.arguments) });
      this.#types.set(queue, type);
    } catch (err) {
      const existing = existingTypeOf(err);
      if (existing === null || existing === type) throw err;
      if (!(existing === 'quorum' && this.topology.detectQuorumQueues)) throw typeMismatchError(queue, type, existing, err);
      // The 406 closed this channel: look on the next one.
      await this.#admin.runIdempotent((next) => next.checkQueue(queue));
      this.#types.set(queue, existing);
      this.log('warn', 'the queue exists as a quorum queue though configured classic: using it as it is (workerDetectQuorumQueues), with per-consumer prefetch', { queue });
    }
  }

  /** The type `queue` exists with, once declared here (else its configured type). */
  queueType(queue: string): QueueType {
    return this.#types.get(queue) ?? planTaskQueue(this.topology, queue).type;
  }

  /**
   * How many times RabbitMQ delivers a message of `queue` at most (`x-delivery-limit` + 1 of a
   * quorum queue), or undefined when it does not count.
   */
  deliveryLimit(queue: string): number | undefined {
    if (this.queueType(queue) !== 'quorum') return undefined;
    const limit = planTaskQueue(this.topology, queue).deliveryLimit;
    return limit === null ? undefined : limit + 1;
  }

  /** Declares the delay ladder once per connection (ladder-declare.ts). */
  async #declareLadder(): Promise<void> {
    await this.#declared.once('delay ladder', async () => declareLadder(this.session, this.ladder));
  }

  async #declareDelayTarget(queue: string): Promise<void> {
    delayRoutingKey(this.ladder, 0, queue); // A name too long for the ladder's keys (and its binding's) throws here.
    await this.declareQueue(queue);
    if (this.ladder !== KOMBU_LADDER) await this.#bindDelayTarget(queue);
  }

  async #bindDelayTarget(queue: string): Promise<void> {
    await this.#declareLadder();
    const { deliverExchange } = this.ladder;
    await this.#declared.once(`delay target ${queue}`, (ch) => ch.bindQueue(queue, deliverExchange, deliverBinding(this.ladder, queue)));
  }

  // ---- publishing ---------------------------------------------------------------------

  async publish(message: Message, options: PublishOptions): Promise<void> {
    const { exchange, routingKey } = options;
    checkTarget(exchange, routingKey);
    const deliverAt = checkDeliverAt(options.deliverAt);
    if (options.fence !== undefined) return this.#publishFenced(message, options, deliverAt);
    if (deliverAt !== undefined && exchange === '' && deliverAt - this.clock.now() >= MIN_DELAY_MS) {
      return this.#publishDelayed(message, routingKey, deliverAt, options.priority);
    }
    const wire = toWire(withPriority(message, options.priority), { timestamp: this.#sentAt() });
    if (exchange !== '') {
      if (options.dropUnrouted === true) await this.#declareExchange(exchange, exchangeSpecFor(exchange, 'direct'));
      return this.#publisher.send(exchange, routingKey, wire, options.dropUnrouted !== true);
    }
    await this.declareQueue(routingKey);
    try {
      await this.#publisher.send('', routingKey, wire, true);
    } catch (err) {
      if (!(err instanceof UnroutableError)) throw err;
      // Declared on this connection, yet gone (deleted by an operator, or expired): once more.
      this.#forgetQueue(routingKey);
      await this.declareQueue(routingKey);
      await this.#publisher.send('', routingKey, wire, true);
    }
  }

  /**
   * A beat publish: sent with the entry's new run state in one transaction of the beat store,
   * only while the fence's token holds the lease (beat-store.ts). The target is declared first;
   * the transaction has no `mandatory` return, so an unbound exchange drops the message.
   */
  async #publishFenced(message: Message, options: PublishOptions, deliverAt: number | undefined): Promise<void> {
    const fence = options.fence as NonNullable<PublishOptions['fence']>;
    const store = this.#beatStore;
    if (store === undefined) throw new CeleriacError(ErrorCodes.CONFIG, "a fenced publish needs this broker's own beat store (beatStore())");
    message = withPriority(message, options.priority);
    let { exchange, routingKey } = options;
    let wire: WireOut;
    if (exchange === '' && deliverAt !== undefined && deliverAt - this.clock.now() >= MIN_DELAY_MS) {
      await this.#declareDelayTarget(routingKey);
      wire = toWire(message, { dropExpiration: true, extraHeaders: { [DELIVER_AT_HEADER]: deliverAt }, timestamp: this.#sentAt() });
      [exchange, routingKey] = [entryExchange(this.ladder), delayRoutingKey(this.ladder, deliverAt - this.clock.now(), routingKey)];
    } else {
      wire = toWire(message, { timestamp: this.#sentAt() });
      if (exchange === '') await this.declareQueue(routingKey);
      else await this.#declareExchange(exchange, exchangeSpecFor(exchange, 'direct'));
    }
    await store.publishFenced(fence, { exchange, routingKey, content: wire.content, options: wire.options });
  }

  /** Beat's store: one document in a queue of this vhost (beat-store.ts). */
  beatStore(): AmqpBeatStore {
    if (this.#closed) throw new CeleriacError(ErrorCodes.STATE, 'broker is closed');
    this.#beatStore ??= new AmqpBeatStore(this.session);
    return this.#beatStore;
  }

  /**
   * The `timestamp` property of a message sent now (AMQP: whole Unix seconds). A message that
   * has one keeps it (amqp/wire.ts): a copy for a settlement counts from the first send.
   */
  #sentAt(): number {
    return Math.floor(this.clock.now() / 1000);
  }

  /** Drops the cached declarations of a queue so the next use declares it again. */
  #forgetQueue(queue: string): void {
    this.#declared.forget((key) => key === `queue ${queue}` || key.startsWith(`bind ${queue} `));
  }

  async #publishDelayed(message: Message, queue: string, deliverAt: number, priority?: number, carried: Readonly<Record<string, number | boolean>> = {}): Promise<void> {
    await this.#declareDelayTarget(queue);
    message = withPriority(message, priority);
    const wire = toWire(message, { dropExpiration: true, extraHeaders: { ...carried, [DELIVER_AT_HEADER]: deliverAt }, timestamp: this.#sentAt() });
    await this.#publisher.send(entryExchange(this.ladder), delayRoutingKey(this.ladder, deliverAt - this.clock.now(), queue), wire, true);
  }

  async publishMany(batch: readonly PublishRequest[]): Promise<void> {
    for (const { options } of batch) {
      checkTarget(options.exchange, options.routingKey);
      checkDeliverAt(options.deliverAt);
    }
    await Promise.all(batch.map(({ message, options }) => this.publish(message, options)));
  }

  /** The copy a settlement publishes before the original is acked (amqp-consumer.ts); the count goes on with it (Delivery count there). */
  async publishCopy(message: Message, queue: string, settlement: Settlement, deliveries?: number): Promise<void> {
    const carried: Record<string, number | boolean> = deliveries === undefined || deliveries < 1 ? {} : { [DELIVERIES_HEADER]: deliveries };
    if (settlement.kind === 'defer') {
      if (settlement.redelivered === true) carried['redelivered'] = true; // marked, as after a restore
      if (settlement.deliverAt - this.clock.now() >= MIN_DELAY_MS) return this.#publishDelayed(message, queue, settlement.deliverAt, undefined, carried);
      return this.#publisher.send('', queue, toWire(message, { extraHeaders: carried, timestamp: this.#sentAt() }), true);
    }
    if (settlement.kind === 'setAside') {
      const category = settlement.category ?? 'malformed';
      await this.#declared.once(`queue ${setAsideQueueOf(category)}`, (ch) => declareSetAsideQueue(ch, this.#admin, category, this.#setAside, this.log));
      return this.#publisher.send('', setAsideQueueOf(category), setAsideWire(message, queue, settlement.reason, category, this.#setAside, this.#sentAt()), true);
    }
    // reject with requeue: to the tail, marked as kombu's virtual transports mark it.
    await this.declareQueue(queue);
    return this.#publisher.send('', queue, toWire(message, { extraHeaders: { ...carried, redelivered: true }, timestamp: this.#sentAt() }), true);
  }

  // ---- consuming ----------------------------------------------------------------------

  consume(options: ConsumeOptions): Consumer {
    if (this.#closed) throw new CeleriacError(ErrorCodes.STATE, 'broker is closed');
    const consumer = new AmqpConsumer(this, options);
    this.#consumers.add(consumer);
    return consumer;
  }

  forget(consumer: AmqpConsumer): void {
    this.#consumers.delete(consumer);
  }

  /**
   * Removes the queue's ready messages and its delayed ones (walked out of the shared delay
   * ladder: purge-delayed.ts); returns how many. Messages held unacked by consumers stay.
   */
  async purge(queue: string): Promise<number> {
    const { ready, delayed } = await this.purgeCounted(queue);
    return ready + delayed;
  }

  /** {@link AmqpBroker.purge} counting apart what waited in the queue and in either ladder. */
  async purgeCounted(queue: string): Promise<PurgeCount> {
    amqpQueueName(queue);
    try {
      let ready = await this.#purgeReady(queue);
      await this.#declareLadder();
      const delayed = await purgeLadders(this.session, queue, this.clock);
      // What left the ladder for the queue during the walk.
      ready += await this.#purgeReady(queue);
      return { ready, delayed };
    } catch (err) {
      throw toTransportError(`purge ${queue}`, err);
    }
  }

  async #purgeReady(queue: string): Promise<number> {
    try {
      const { messageCount } = await this.#admin.runIdempotent((ch) => ch.purgeQueue(queue));
      return messageCount;
    } catch (err) {
      if (isNotFound(err)) return 0;
      throw err;
    }
  }

  /** Browses the delay ladders (list-delayed.ts): at most the first 1,000 delayed messages are read. */
  async delayedMessages(queues: readonly string[] | null, limit: number): Promise<DelayedRecord[]> {
    return listDelayed(this.session, queues, limit, () => this.clock.now()).catch((err: unknown) => Promise.reject(toTransportError('list delayed messages', err)));
  }

  /** Messages in the delay ladders' queues (passive declares). */
  async delayedCount(): Promise<number> {
    return countDelayed(this.session).catch((err: unknown) => Promise.reject(toTransportError('count delayed messages', err)));
  }

  /** Ready messages of `queue` (0 when it does not exist); concurrent calls never fail one another (queue-checks.ts). */
  async queueLength(queue: string): Promise<number> {
    amqpQueueName(queue);
    const counts = await this.#checks.check(queue).catch((err: unknown) => Promise.reject(toTransportError(`check ${queue}`, err)));
    return counts?.messageCount ?? 0;
  }

  /** Since when the next message of `queue` has waited (queue-age.ts: classic queues only); null when unknown. */
  async queueWaitingSince(queue: string): Promise<number | null> {
    amqpQueueName(queue);
    if (this.#closed) throw new CeleriacError(ErrorCodes.STATE, 'broker is closed');
    this.#ages ??= new QueueAgeReader(this.session, (q) => this.queueType(q) === 'quorum');
    return this.#ages.waitingSince(queue).catch((err: unknown) => Promise.reject(toTransportError(`read the age of ${queue}`, err)));
  }

  // ---- fanout and bindings ------------------------------------------------------------

  async publishFanout(exchange: string, routingKey: string, raw: string | Buffer): Promise<void> {
    await this.#declareExchange(exchange, exchangeSpecFor(exchange, 'pubsub'));
    await this.#publisher.send(exchange, routingKey, fanoutWire(typeof raw === 'string' ? raw : raw.toString('utf8')), false);
  }

  async subscribeFanout(exchange: string, bindingKey: string, listener: (raw: string, routingKey: string) => void): Promise<Unsubscribe> {
    const mailbox = exchangeSpecFor(exchange, 'pubsub').type === 'fanout' ? this.#mailboxes.get(exchange) : undefined;
    const unsubscribe = await subscribeExchange(this.session, this.log, { exchange, bindingKey, mailbox }, listener);
    const tracked = async (): Promise<void> => {
      this.#subscriptions.delete(tracked);
      await unsubscribe();
    };
    this.#subscriptions.add(tracked);
    return tracked;
  }

  async bindQueue(queue: string, exchange: string, routingKey: string): Promise<void> {
    amqpQueueName(queue);
    const spec = exchangeSpecFor(exchange, 'direct');
    await this.#declareExchange(exchange, spec);
    const bind = async () => {
      await this.declareQueue(queue);
      await this.#declared.once(`bind ${queue} ${exchange} ${routingKey}`, (ch) => ch.bindQueue(queue, exchange, routingKey));
    };
    try {
      await bind();
    } catch (err) {
      if (!isNotFound((err as { cause?: unknown }).cause)) throw err;
      // Declared on this connection, yet gone: an auto-delete mailbox whose last consumer left
      // (a worker stopped and started again in one process), or one that expired. Once more.
      this.#forgetQueue(queue);
      await bind();
    }
    if (spec.type === 'fanout') this.#mailboxes.set(exchange, queue);
  }

  async unbindQueue(queue: string, exchange: string, routingKey: string): Promise<void> {
    amqpQueueName(queue);
    if (this.#mailboxes.get(exchange) === queue) this.#mailboxes.delete(exchange);
    this.#declared.forget((key) => key === `bind ${queue} ${exchange} ${routingKey}`);
    try {
      await this.#admin.runIdempotent((ch) => ch.unbindQueue(queue, exchange, routingKey));
    } catch (err) {
      if (!isNotFound(err)) throw toTransportError(`unbind ${queue}`, err);
    }
  }
}

/** The message with the publish option's priority, when one is given. */
function withPriority(message: Message, priority: number | undefined): Message {
  if (priority === undefined || priority === message.properties.priority) return message;
  return { ...message, properties: { ...message.properties, priority } };
}
