/**
 * @module core/spi/broker
 * The broker SPI, split by role. The worker and producer only ever talk to these interfaces;
 * adapters live in brokers/ and implement the roles they can:
 *
 * | role | interface | conformance suite (testing/) | memory | redis | amqp |
 * |---|---|---|---|---|---|
 * | queues: publish, consume, settle | {@link QueueBroker} | broker-conformance.ts | yes | yes | yes |
 * | fanout exchanges (events, pidbox) | {@link FanoutExchange} | broker-fanout-conformance.ts | yes | yes | yes |
 * | direct bindings (pidbox replies) | {@link QueueBindings} | broker-fanout-conformance.ts | yes | yes | yes |
 * | delayed-message listing | {@link DelayedListing} | broker-listing-conformance.ts | yes | yes | yes (browsed) |
 * | set-aside store (list, replay, purge) | {@link SetAsideListing} | broker-listing-conformance.ts | yes | yes | no |
 * | beat store host | {@link BeatStoreHost} (beat-store.ts) | beat-store-conformance.ts | yes | yes | yes |
 * | queue age (the next message's wait) | {@link QueueAgeReading} | test/amqp (dashboard: queue-age-amqp.test.ts) | no | no (the dashboard reads the lists) | yes (classic queues) |
 *
 * The app holds one {@link Broker}: the three roles every worker needs, plus the optional
 * ones the adapter plays; callers ask core/spi/roles.ts for an optional role, which says what
 * happens without it (`inspect scheduled` lists what the worker holds, beat needs a store...).
 *
 * Guarantees of the queue role:
 * - **At-least-once**: a delivered message stays owned by the broker until it is settled
 *   (ack, reject, restore, defer, setAside). If the consumer's process dies first, the message
 *   is delivered again (memory: when the consumer closes without settling; Redis: by lease).
 * - **Prefetch**: a consumer never holds more than `prefetch` unsettled deliveries.
 * - **FIFO per queue and priority bucket**, and priority order as `capabilities.priority`.
 * - **Delayed delivery**: a message published with `deliverAt` is invisible to consumers until
 *   then, held by the broker, never in worker memory (Redis: while a Celeriac worker is alive
 *   to promote it; else it is queued with its `eta` header, as Celery does: brokers/redis/delayed.ts).
 */
import type { Message } from '../../protocol/types.js';
import type { BeatStoreHost, PublishFence } from './beat-store.js';
import type { CarriedPublish, Unsubscribe } from './common.js';
import type { SetAsideCategory } from '../set-aside.js';

/** What an adapter can do; the conformance suite reads this to pick its expectations. */
export interface BrokerCapabilities {
  /**
   * Which priority number is served first. Redis (kombu) and memory serve 0 first;
   * RabbitMQ serves the highest number first; `none`: priorities are ignored, FIFO
   * (RabbitMQ 3.x quorum queues).
   */
  readonly priorityOrder: 'lowest-first' | 'highest-first' | 'none';
  /**
   * Whether a restored message comes back with the same `tag`. False on RabbitMQ, whose
   * delivery tags are numbered per channel delivery. @default true
   */
  readonly redeliveryKeepsTag?: boolean;
  /**
   * Whether `purge` also removes the queue's delayed messages (every adapter here does; on
   * RabbitMQ by walking the shared delay queues: brokers/amqp/purge-delayed.ts). @default true
   */
  readonly purgeIncludesDelayed?: boolean;
  /**
   * Whether a consumer of several queues serves them round robin. False on RabbitMQ: with
   * one channel-wide prefetch (as Celery sets it) the broker picks which queue fills a freed
   * slot, and a busy queue may be served several times in a row. @default true
   */
  readonly fairQueues?: boolean;
  /**
   * Whether a restored message is always the next one its consumer gets. False on RabbitMQ:
   * `basic.reject(requeue)` puts it back at its place, but the freed prefetch slot may be
   * filled with the next message before the requeue reaches the queue (seen under load).
   * @default true
   */
  readonly restoreServedFirst?: boolean;
  /**
   * Whether the broker itself records early-acked running tasks ({@link Delivery.markRunning})
   * and reports those of dead workers ({@link ConsumeOptions.onLost}), or needs no report (a
   * memory broker dies with its only worker). False on RabbitMQ: the worker records them in
   * the result backend instead (core/spi/running-tasks.ts). @default false
   */
  readonly reportsLostTasks?: boolean;
}

/** Where and how to publish one message. */
export interface PublishOptions {
  /** Exchange name; '' publishes straight to the queue named by `routingKey`. */
  exchange: string;
  /** Queue name (for exchange '') or the routing key to match bindings against. */
  routingKey: string;
  /** Delivery priority 0..9 (clamped). @default 0 */
  priority?: number;
  /** Epoch ms before which the message must not be delivered (ETA / countdown). */
  deliverAt?: number;
  /**
   * With a named exchange: deliver only to queues bound with {@link Broker.bindQueue} whose
   * routing key matches, and drop the message when none does (kombu's behaviour, used for
   * pidbox replies whose requester gave up), instead of falling back to the queue named by
   * the routing key.
   * @default false
   */
  dropUnrouted?: boolean;
  /** Publish only while a beat lease holds (from this broker's `beatStore()`); else a FENCED error. */
  fence?: PublishFence;
}

/** What one purge removed. */
export interface PurgeCount {
  /** Messages that were waiting in the queue. */
  readonly ready: number;
  /** Messages the broker held for later delivery to the queue (ETA / countdown, deferred). */
  readonly delayed: number;
}

/** A message the broker holds until its delivery time (ETA / countdown, or deferred). */
export interface DelayedRecord {
  /** The envelope text. */
  raw: string;
  queue: string;
  /** Epoch ms when it becomes ready. */
  deliverAt: number;
}

/** Stops a subscription made with {@link FanoutExchange.subscribeFanout} (idempotent). */
export type { CarriedPublish, Unsubscribe } from './common.js';
export type { BeatStoreHost } from './beat-store.js';

/** One message of a {@link Broker.publishMany} batch. */
export interface PublishRequest {
  readonly message: Message;
  readonly options: PublishOptions;
}

/**
 * How a delivery is settled: the broker-side meaning of "settlement", one case per method of
 * {@link Delivery}. Adapters map each case onto their transport (brokers/redis/settlements.ts,
 * brokers/memory/memory-broker.ts). The worker's choice among them is its ack decision
 * (worker/), not this.
 */
export type Settlement =
  | { readonly kind: 'ack' }
  | { readonly kind: 'reject'; readonly requeue: boolean }
  | { readonly kind: 'restore' }
  | { readonly kind: 'defer'; readonly deliverAt: number; readonly redelivered?: boolean }
  | { readonly kind: 'setAside'; readonly reason: string; readonly category?: SetAsideCategory };

/** One delivered message, owned by the consumer until settled exactly once. */
export interface Delivery {
  /** The kombu envelope JSON text, as stored (may be malformed: decoding is the caller's job). */
  readonly raw: string;
  /**
   * Optional: the message of {@link raw}, for a broker whose wire form is not the envelope
   * text (RabbitMQ: properties, typed headers and body bytes), so the worker need not have
   * the envelope written only to parse it again. Equal to `decodeEnvelope(raw).message`.
   */
  readonly decoded?: Message;
  /**
   * Optional: why this message cannot be decoded, when the adapter found so before decoding
   * (Redis: its envelope holds bytes that are not UTF-8, which the reply decoding would have
   * replaced silently). The worker sets it aside with this reason, as an undecodable body.
   */
  readonly undecodable?: string;
  /** The queue it came from. */
  readonly queue: string;
  /** The broker's delivery tag (kombu `properties.delivery_tag` on virtual transports). */
  readonly tag: string;
  /** True when this message was delivered before and given back. */
  readonly redelivered: boolean;
  /**
   * How many times this message has been delivered, this delivery included (1 the first
   * time), when the broker keeps count across restores, requeues, defers and lease
   * recoveries (memory, Redis). Undefined when it cannot tell. The worker dead-letters a
   * message past `workerMaxDeliveries` worker-side failures.
   */
  readonly deliveryCount?: number;
  /**
   * Optional: the most deliveries the broker itself makes of this message (a RabbitMQ quorum
   * queue's `x-delivery-limit` + 1; past it the broker drops the message). The worker runs it
   * at most one time fewer and sets aside the last delivery, so it is kept, not dropped.
   */
  readonly maxDeliveries?: number;
  /** Done with it: remove it for good. */
  ack(): Promise<void>;
  /**
   * Give it up. With `requeue`, it goes back to the tail of its queue marked redelivered;
   * without, it is dropped.
   */
  reject(options: { requeue: boolean }): Promise<void>;
  /**
   * Give it back to the front of its queue marked redelivered, as on warm shutdown for
   * prefetched messages that never started (kombu's restore).
   */
  restore(): Promise<void>;
  /**
   * Atomically settle it and hold it server-side until `deliverAt` (a future ETA). With
   * `redelivered`, the message comes back marked redelivered, as after a restore (the worker
   * gives a message back this way, after a backoff, when it could not finish it).
   */
  defer(deliverAt: number, options?: { redelivered?: boolean }): Promise<void>;
  /**
   * Atomically settle it and park it with `reason` where operators can inspect it, in the
   * part of the store of its `category` (core/set-aside.ts). @default category 'malformed'
   */
  setAside(reason: string, options?: { category?: SetAsideCategory }): Promise<void>;
  /**
   * Optional: the task of this delivery started, and its hard time limit ends at `epochMs`.
   * A broker that keeps leases alive while the worker's event loop is blocked (Redis:
   * brokers/redis/lease-keeper.ts) stops doing so for this delivery after then, so a task
   * stuck past its limit is taken back as a dead worker's would be.
   */
  limitLease?(epochMs: number): void;
  /**
   * Optional: the task of this delivery, which was given back before (`deliveryCount` > 1),
   * starts now. A broker that counts a dead worker's deliveries (Redis: lease recovery) then
   * counts that death against this message, and not against the ones that only waited in the
   * same worker's prefetch (brokers/redis/scripts/count-start.lua). The worker waits for it
   * before the task runs, so that a task that kills its worker at once is counted too.
   * Never rejects: a mark that cannot be made only leaves such a death uncounted.
   */
  countStart?(): Promise<void>;
  /**
   * Optional: this delivery was acked early and its task runs now. The broker records it as
   * running on this worker until the returned function is called (once the task's end is
   * stored), so that if the worker dies meanwhile a live worker hears of it through
   * {@link ConsumeOptions.onLost} (Redis: brokers/redis/running.ts). Never throws.
   */
  markRunning?(): () => void;
  /**
   * Optional, after {@link markRunning}: the task's final state is being stored now, by `stored`
   * (the result backend's promise). A broker that knows this store goes out before the ack, in
   * the same write, leaves the running record out: a worker that dies then leaves the store and
   * the ack, the store alone, or neither, and nothing to report (Redis, with the app's Redis
   * backend on its connection: brokers/redis/running.ts). If `stored` fails, the task is recorded after all.
   */
  storingEnd?(stored: Promise<unknown>): void;
}

/** An early-acked task whose worker died while it ran ({@link ConsumeOptions.onLost}). */
export interface LostDelivery {
  /** The envelope text as it was delivered. */
  readonly raw: string;
  readonly queue: string;
  readonly tag: string;
  /** The broker instance that ran it (its id in the broker's presence records). */
  readonly holder: string;
}

/** A message parked by {@link Delivery.setAside}. */
export interface SetAsideRecord {
  /**
   * Its identity in the set-aside store: the first 16 hex digits of the SHA-1 of the stored
   * record (core/set-aside.ts), stable while it is stored, the same on every adapter.
   */
  id: string;
  /** The envelope text as it was delivered. */
  raw: string;
  queue: string;
  reason: string;
  /** Epoch ms. */
  at: number;
  /** The part of the store it is kept in: a message that cannot run, or a dead-lettered task. */
  category: SetAsideCategory;
  /** Set when `raw` holds only the start of an envelope this many bytes long (it cannot be replayed). */
  truncated?: number;
  /** The task name and id of a truncated record, when they could be read. */
  task?: string;
  taskId?: string;
}

/** Count and bytes of one part of a set-aside store, and its bounds. */
export interface SetAsidePartStats {
  readonly count: number;
  readonly bytes: number;
  readonly maxCount: number;
  readonly maxBytes: number;
}

/** When a consumer tries again after a failure reported to {@link ConsumeOptions.onError}. */
export interface ConsumerRetry {
  /** Milliseconds until the next attempt. */
  readonly inMs: number;
}

/** Options of {@link QueueBroker.consume}. */
export interface ConsumeOptions {
  /** Queues to consume, served fairly (round robin). */
  queues: readonly string[];
  /** Most unsettled deliveries at once; 0 means no limit. */
  prefetch: number;
  /** Called once per delivery. Must not throw; errors are the caller's to handle. */
  onDelivery(delivery: Delivery): void;
  /**
   * Called when fetching or a background duty fails (connection lost, server out of
   * memory...). The consumer keeps trying; `retry` says when, if the consumer knows.
   */
  onError?(error: Error, retry?: ConsumerRetry): void;
  /** Called on the first fetch that works after failures reported to `onError` (not every adapter tells). */
  onRecovered?(): void;
  /**
   * Called with early-acked tasks whose worker died while they ran (see
   * {@link Delivery.markRunning}); each lost task is handed to one consumer of the cluster
   * once. Must not throw.
   */
  onLost?(lost: readonly LostDelivery[]): void;
}

/** A running consumption. */
export interface Consumer {
  /** Current queues. */
  readonly queues: readonly string[];
  /** Change the prefetch window (0 = unlimited). */
  setPrefetch(prefetch: number): void;
  /** Start consuming another queue. */
  addQueue(queue: string): void;
  /**
   * Stop consuming a queue: from the call on, no delivery of it reaches `onDelivery`, even one
   * the server had already sent (it goes back to the queue). Deliveries handed out before stay valid.
   */
  cancelQueue(queue: string): void;
  /** Stop fetching. Unsettled deliveries stay valid and must still be settled. */
  close(): Promise<void>;
}

/** The queue role: what every broker does (publish, consume, settle). */
export interface QueueBroker {
  /** Adapter name: 'memory', 'redis', 'amqp'. */
  readonly kind: string;
  readonly capabilities: BrokerCapabilities;
  /** Connect (idempotent). Other calls connect lazily when needed. */
  connect(): Promise<void>;
  /** Close connections. Unsettled deliveries are given back to their queues. */
  close(): Promise<void>;
  /** Make sure a queue exists and is bound to its own name on the default exchange. */
  declareQueue(queue: string): Promise<void>;
  /**
   * Optional: what an operator should hear of at worker start about the server's
   * configuration (Redis: a maxmemory-policy that evicts, no persistence). Never rejects:
   * what cannot be read is not reported.
   */
  serverWarnings?(): Promise<readonly string[]>;
  /**
   * Optional: starts what consuming uses beside the event loop (Redis: the lease keeper thread)
   * and settles once it runs or is given up on. A worker calls it as it starts, before connect(),
   * and consumes without waiting for it: a broker keeps deliveries safe meanwhile (Redis renews
   * leases on the event loop until the thread runs). Never rejects.
   */
  prepareConsume?(): Promise<void>;
  /**
   * Optional: true when the adapter knows its connection is down now (refused or closed, and
   * reconnecting); false when it is up or it cannot tell (a stalled connection looks up). A
   * worker's shutdown does not wait on work that needs the broker then.
   */
  offline?(): boolean;
  /** Optional: why connecting fails now (its last failure while not connected), else null: a starting worker says it before its attempt ends. */
  connectProblem?(): string | null;
  /** Publish one message. */
  publish(message: Message, options: PublishOptions): Promise<void>;
  /** Optional: `message`'s publish on a result backend's connection to `server` (see CarriedPublish), or undefined when it cannot be. */
  publisherOn?(server: string, message: Message, options: PublishOptions): CarriedPublish | undefined;
  /**
   * Optional: publish many messages with as few round trips as the transport allows, in
   * order (FIFO per queue as if published one by one). Not atomic: when it rejects, some
   * messages may have been published. Producers fall back to `publish` per message.
   */
  publishMany?(batch: readonly PublishRequest[]): Promise<void>;
  /** Start consuming. */
  consume(options: ConsumeOptions): Consumer;
  /** Delete every ready message of a queue (delayed ones too unless `capabilities.purgeIncludesDelayed` is false); returns how many. */
  purge(queue: string): Promise<number>;
  /** Optional: {@link QueueBroker.purge} telling ready and delayed messages apart (`celeriac purge`, the dashboard); else all count as ready. */
  purgeCounted?(queue: string): Promise<PurgeCount>;
  /** Ready messages in a queue (all priority buckets). */
  queueLength(queue: string): Promise<number>;
}

/** The fanout role: pub/sub exchanges for events and remote-control requests. */
export interface FanoutExchange {
  /**
   * Publishes an envelope to a fanout/topic exchange (events, pidbox requests). Redis: PUBLISH
   * on kombu's channel (docs/protocol.md §2.5). Nobody listening = dropped. `raw`: JSON text or
   * its UTF-8 bytes (a worker's task events: read only until the promise resolves, then written
   * again). Resolves with how many subscribers it reached when the broker can tell, else nothing.
   */
  publishFanout(exchange: string, routingKey: string, raw: string | Buffer): Promise<number | void>;
  /**
   * Receives what is published on `exchange` whose routing key matches `bindingKey` (kombu
   * topic rules: words split by '.', '*' = one word, '#' = zero or more). Redis: PSUBSCRIBE
   * on a connection of its own. The listener must not throw.
   */
  subscribeFanout(exchange: string, bindingKey: string, listener: (raw: string, routingKey: string) => void): Promise<Unsubscribe>;
}

/** The bindings role: queues bound to direct exchanges (pidbox reply queues). */
export interface QueueBindings {
  /** Binds `queue` to a direct `exchange` with `routingKey` (Redis: kombu's binding set; AMQP: queue.bind): `publish` there reaches it. */
  bindQueue(queue: string, exchange: string, routingKey: string): Promise<void>;
  /** Removes a binding made by {@link QueueBindings.bindQueue} (absent bindings are ignored). */
  unbindQueue(queue: string, exchange: string, routingKey: string): Promise<void>;
}

/**
 * The delayed-listing role: what `inspect scheduled`, `query_task` and the dashboard show of
 * messages the broker holds for later delivery.
 */
export interface DelayedListing {
  /**
   * Messages held for later delivery to any of `queues` (null: to any queue), earliest first,
   * at most `limit`. RabbitMQ reads them by browsing its delay queues, so at most the first
   * messages of the ladder are seen there (brokers/amqp/list-delayed.ts).
   */
  delayedMessages(queues: readonly string[] | null, limit: number): Promise<DelayedRecord[]>;
  /** Optional: how many messages the broker holds for later delivery, to every queue. */
  delayedCount?(): Promise<number>;
}

/**
 * The set-aside store role: the messages parked by {@link Delivery.setAside} (malformed ones
 * and dead letters), bounded by count and bytes (the oldest dropped, with a log line), listed,
 * replayed and purged (`celeriac deadletter`).
 */
export interface SetAsideListing {
  /** Messages parked by `setAside`, oldest first. */
  setAsideMessages(): Promise<SetAsideRecord[]>;
  /**
   * Removes the records with these ids (`'all'`: every one), atomically per record; with
   * `'replay'` each one's envelope goes to the back of its queue (by its priority), as a new
   * message whose delivery count starts again. Returns the records taken, oldest first; ids
   * not found are ignored.
   */
  takeSetAside(ids: readonly string[] | 'all', action: 'replay' | 'purge'): Promise<SetAsideRecord[]>;
  /** Records and bytes kept now in each part, with its bounds (`celeriac deadletter stats`, /metrics). */
  setAsideStats(): Promise<Record<SetAsideCategory, SetAsidePartStats>>;
}

/**
 * The queue-age role: since when the next ready message of a queue has waited, for the
 * dashboard's `flower_queue_age_seconds` (autoscaling). Read from the message itself, where its
 * producer wrote the time of the send (brokers/amqp/queue-age.ts).
 */
export interface QueueAgeReading {
  /**
   * Unix ms since which the next ready message of `queue` has waited: its send time, or its
   * due time when later. Null when the queue is empty or gone, when the message tells no send
   * time (Python Celery's messages), or when reading it would count as a delivery (a RabbitMQ
   * quorum queue). RabbitMQ reads by taking the message and giving it back, so callers bound
   * how often they ask (the dashboard: once per queue per poll).
   */
  queueWaitingSince(queue: string): Promise<number | null>;
}

/**
 * What an app is given as its broker: the queue, fanout and bindings roles every worker
 * needs, plus the methods of the optional roles the adapter plays (roles.ts checks).
 */
export interface Broker
  extends QueueBroker, FanoutExchange, QueueBindings, Partial<DelayedListing>, Partial<SetAsideListing>, Partial<BeatStoreHost>, Partial<QueueAgeReading> {}
