/**
 * @module brokers/amqp/amqp-consumer
 * Consuming on RabbitMQ as a Celery worker does (docs/protocol-amqp.md §3): one channel,
 * `basic.qos(0, prefetch, global=true)`, one `basic.consume(no_ack=false)` per queue, native
 * acks. Settlements (core/spi/broker.ts `Settlement`):
 *
 * | settlement | on the wire |
 * |---|---|
 * | ack | `basic.ack`, the acks of one event-loop turn together (ack-batcher.ts: `multiple=true` where it can) |
 * | reject, no requeue | `basic.reject(requeue=false)` |
 * | reject with requeue | a copy marked `redelivered` published (confirmed) to the tail of the queue, then `basic.ack` (RabbitMQ's own requeue would put it back at the head) |
 * | restore | `basic.reject(requeue=true)`: back where it was, `redelivered=true` |
 * | defer | a copy published into the delay ladder (delayed.ts), then `basic.ack` |
 * | setAside | a copy published to `celeriac.set-aside` (dead letters: `celeriac.deadletters`; set-aside-queues.ts) with the reason in a header, then `basic.ack` |
 *
 * **Prefetch** is `global=true` as Celery sets it, unless the app has quorum queues (or this
 * consumer's queues exist as quorum queues): RabbitMQ refuses global QoS on them by closing
 * the connection, so it is per consumer then (each queue's consumer gets the prefetch, as
 * with Celery 5.5+), and a change of prefetch consumes each queue again to take effect.
 *
 * **Delivery count.** A quorum queue counts the returns of a message (`x-delivery-count`);
 * the copies a reject-with-requeue or a defer publishes carry the count on
 * (`x-celeriac-deliveries`; on a classic queue, from a first delivery counted as one), so
 * `Delivery.deliveryCount` counts across both, and
 * `Delivery.maxDeliveries` is the queue's `x-delivery-limit` (the executor sets the message
 * aside before RabbitMQ would drop it).
 *
 * **Channel loss without running a task twice.** When the channel or connection dies (broker
 * restart, 406 `consumer_timeout`), RabbitMQ requeues every unacked message and redelivers
 * it (`redelivered=true`), while this worker may still be running it (Celery 5.2.6 then runs
 * it twice: §7). The consumer remembers the unsettled deliveries of a dead channel
 * ("orphans"); a redelivery of the same message (same queue, correlation id and body) to this
 * consumer is not handed out again: it is settled the way the orphan is settled when the
 * running task ends (or at once when it already ended). Another worker that gets the
 * redelivery runs it: at-least-once, as documented.
 *
 * A settlement sent just before the connection died may never have reached RabbitMQ (frames
 * that arrive after the broker starts closing are dropped, and `basic.ack` has no reply), so
 * the settlements of the last seconds on a channel that dies are kept too (settlement-memory.ts):
 * their redelivery is settled again, not run.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import { fromWire } from '../../amqp/wire.js';
import { checkPrefetch, uniqueQueueNames } from '../../core/spi/broker-args.js';
import { amqpQueueName, QOS_COUNT_MAX, qosCount } from '../../amqp/limits.js';
import type { ConsumerHost } from './consumer-host.js';
import type { ConsumeOptions, Consumer, Settlement } from '../../core/spi/broker.js';
import { Backoff, type BackoffPolicy } from '../../core/backoff.js';
import { CeleriacError, ErrorCodes, coerceError } from '../../errors.js';
import { AckBatcher, ackError, ackOn, rejectOn } from './ack-batcher.js';
import type { DelayLadder } from './delayed.js';
import { AmqpDelivery, deliveriesOf, type DeliveryOwner, type Held } from './amqp-delivery.js';
import { identity, SettlementMemory, uncertainWindowMs } from './settlement-memory.js';

/** Waits between failed reopens of the channel: 0.1 s doubling to 5 s. */
const REOPEN_BACKOFF: BackoffPolicy = Object.freeze({ firstMs: 100, growth: { factor: 2 }, maxMs: 5000 });
/** One running consumption. */
export class AmqpConsumer implements Consumer, DeliveryOwner {
  #queues: string[];
  #prefetch: number;
  #channel: Channel | undefined;
  #opening: Promise<void> | undefined;
  readonly #tags = new Map<string, string>();
  #closed = false;
  /** Unsettled deliveries of the live channel. */
  readonly #live = new Set<AmqpDelivery>();
  /** Unsettled deliveries of dead channels, by identity. */
  readonly #orphans = new Map<string, AmqpDelivery[]>();
  /** Settlements that may meet a redelivery (settlement-memory.ts). */
  readonly #settled: SettlementMemory;
  /** The ack batcher of each channel this consumer consumed on. */
  readonly #batchers = new WeakMap<Channel, AckBatcher>();
  /** The connection each channel was opened on (its replies are watched against it). */
  readonly #generations = new WeakMap<Channel, number>();
  readonly #unsubscribe: () => void;
  #retryTimer: NodeJS.Timeout | undefined;
  readonly #reopenBackoff = new Backoff(REOPEN_BACKOFF);
  /** The live channel's QoS mode (see the module notes). */
  #qosGlobal = true;
  /** Prefetch changes on a per-consumer channel, one after another. */
  #requalifying: Promise<void> = Promise.resolve();
  /** The prefetch past `basic.qos`'s width last warned of. */
  #warnedPrefetch = 0;

  constructor(
    private readonly host: ConsumerHost,
    private readonly options: ConsumeOptions,
  ) {
    this.#queues = uniqueQueueNames(options.queues).map(amqpQueueName);
    this.#prefetch = checkPrefetch(options.prefetch);
    this.#settled = new SettlementMemory(host.clock, () => uncertainWindowMs(host.session.target.heartbeatSec));
    this.#unsubscribe = host.session.onReconnect(() => this.#reopen());
    this.#reopen();
  }

  get queues(): readonly string[] {
    return [...this.#queues];
  }

  get ladder(): DelayLadder {
    return this.host.ladder;
  }

  /** See {@link deliveriesOf}. */
  deliveriesOf(held: Held): number | undefined {
    return deliveriesOf(held.msg, this.host.queueType(held.queue) === 'quorum');
  }

  deliveryLimit(queue: string): number | undefined {
    return this.host.deliveryLimit(queue);
  }

  /** Opens a channel and consumes on it, unless one is open or opening: the session's reconnect and a retry both call it. */
  #reopen(): void {
    if (this.#closed || this.#opening !== undefined || this.#channel !== undefined) return;
    this.#opening = this.#open()
      .then(() => {
        this.#reopenBackoff.reset();
      })
      .catch((err: unknown) => {
        this.options.onError?.(coerceError(err));
        this.#scheduleRetry();
      })
      .finally(() => {
        this.#opening = undefined;
      });
  }

  #scheduleRetry(): void {
    if (this.#closed || this.#retryTimer !== undefined) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#reopen();
    }, this.#reopenBackoff.next());
  }

  async #open(): Promise<void> {
    const session = this.host.session;
    const model = await session.connection();
    const generation = session.generation;
    const channel = await session.awaitReply(model.createChannel(), 'a consumer channel open', generation);
    this.#generations.set(channel, generation);
    channel.on('error', (err: Error) => this.host.log('warn', 'consumer channel closed by RabbitMQ', { err }));
    channel.on('close', () => this.#channelLost(channel));
    this.#channel = channel;
    this.#batchers.set(channel, new AckBatcher(channel));
    this.#tags.clear();
    try {
      // Declared first: a queue that exists as a quorum queue decides the QoS mode too.
      for (const queue of this.#queues) await this.host.declareQueue(queue);
      // global=true: one limit for the channel, shared by the queues (§3.1); never with quorum queues.
      this.#qosGlobal = this.host.qosGlobal && this.#queues.every((q) => this.host.queueType(q) !== 'quorum');
      await this.#qos(channel, this.#qosGlobal);
      for (const queue of this.#queues) await this.#consumeQueue(channel, queue);
    } catch (err) {
      // Closed, so that #channelLost takes its deliveries and the retry opens another.
      await channel.close().catch(() => undefined);
      throw err;
    }
  }

  async #consumeQueue(channel: Channel, queue: string): Promise<void> {
    await this.host.declareQueue(queue);
    if (this.#channel !== channel || !this.#queues.includes(queue)) return;
    if (this.#qosGlobal && this.host.queueType(queue) === 'quorum') {
      // Consuming it would make RabbitMQ close the whole connection (540: no global QoS).
      this.#queues = this.#queues.filter((q) => q !== queue);
      throw new CeleriacError(
        ErrorCodes.CONFIG,
        `queue ${JSON.stringify(queue)} is a quorum queue, but this worker's channel has global prefetch (it started on classic queues only): configure the queue quorum (taskQueues) so workers start with per-consumer prefetch`,
      );
    }
    const { consumerTag } = await this.#reply(channel, channel.consume(queue, (msg) => this.#onMessage(channel, queue, msg), { noAck: false }), `a consume of ${queue}`);
    // cancelQueue ran while the consume was on its way (from the handler of a delivery that came
    // in the same frame as consume-ok, say): it had no tag to cancel, so cancel it now.
    if (this.#channel !== channel || !this.#queues.includes(queue) || this.#tags.has(queue)) {
      await this.#cancel(channel, consumerTag).catch(() => undefined);
      return;
    }
    this.#tags.set(queue, consumerTag);
  }

  #channelLost(channel: Channel): void {
    if (this.#channel !== channel) return;
    this.#channel = undefined;
    this.#tags.clear();
    for (const d of this.#live) {
      const key = identity(d.queue, d.held.msg);
      const list = this.#orphans.get(key) ?? [];
      list.push(d);
      this.#orphans.set(key, list);
    }
    this.#live.clear();
    this.#settled.keepUncertain(channel);
    if (this.#closed) {
      this.#maybeDone();
      return;
    }
    // The connection is alive after a channel error (406 consumer_timeout, 404): reopen now;
    // after a lost connection the session's reconnect calls #reopen.
    if (this.host.session.connected) this.#scheduleRetry();
  }

  #onMessage(channel: Channel, queue: string, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // The broker cancelled the consumer (queue deleted): consume again once it is back.
      this.#tags.delete(queue);
      if (!this.#closed && this.#channel === channel) {
        setTimeout(() => {
          if (this.#channel === channel && !this.#tags.has(queue) && this.#queues.includes(queue)) {
            this.#consumeQueue(channel, queue).catch((err: unknown) => this.options.onError?.(coerceError(err)));
          }
        }, 1000);
      }
      return;
    }
    this.#batchers.get(channel)?.delivered(msg);
    if (!this.#queues.includes(queue)) {
      // Sent before cancelQueue's basic.cancel reached the server: back to the queue, unhandled.
      this.#reject(channel, msg, true);
      return;
    }
    const held: Held = { msg, channel, queue };
    if (msg.fields.redelivered && this.#claimedByOrphan(held)) return;
    const headerMarked = (msg.properties.headers as Record<string, unknown> | undefined)?.['redelivered'] === true;
    const delivery = new AmqpDelivery(held, this, msg.fields.redelivered || headerMarked);
    this.#live.add(delivery);
    this.options.onDelivery(delivery);
  }

  /** A redelivery of a message this consumer still holds from a dead channel. */
  #claimedByOrphan(held: Held): boolean {
    const settlement = this.#settled.take(held);
    if (settlement !== undefined) {
      // Noted as sent, as any settlement: lost with this channel too, it meets the next redelivery.
      this.#apply(held, settlement).then(
        () => this.#settled.noteSent(held, settlement),
        (err: unknown) => {
          if (this.#channel === held.channel) this.host.log('error', 'could not settle a redelivered message for its finished run', { err: coerceError(err) });
          else this.#settled.remember(held, settlement);
        },
      );
      return true;
    }
    const orphans = this.#orphans.get(identity(held.queue, held.msg));
    // A replacement from an earlier channel died with it (the connection was lost twice while
    // the orphan waited): this redelivery replaces it, or the message would run a second time.
    const at = orphans?.findIndex((o) => (o.replacement === undefined || o.replacement.channel !== held.channel) && o.held.msg.content.equals(held.msg.content)) ?? -1;
    if (orphans === undefined || at < 0) return false;
    (orphans[at] as AmqpDelivery).replacement = held;
    return true;
  }

  /**
   * Settles `delivery` (called once per delivery by AmqpDelivery). The ack of a live
   * delivery, which every task ends with, goes without async frames: each one held a
   * generator object of some hundreds of bytes, four per task along this path.
   */
  settle(delivery: AmqpDelivery, s: Settlement): Promise<void> {
    const held = delivery.held;
    const batcher = s.kind === 'ack' ? this.#batchers.get(held.channel) : undefined;
    if (batcher === undefined || !this.#live.delete(delivery)) return this.#settleSlowly(delivery, s);
    return batcher.ack(held.msg).then(
      () => {
        this.#settled.noteSent(held, s);
        this.#maybeDone();
      },
      (err: unknown) => {
        // As #settleSlowly: the channel died under us, so remember the ack for the redelivery.
        if (this.#channel === held.channel) throw ackError(held.msg, err);
        this.#settled.remember(delivery.held, s);
        this.#maybeDone();
      },
    );
  }

  async #settleSlowly(delivery: AmqpDelivery, s: Settlement): Promise<void> {
    if (this.#live.delete(delivery)) {
      try {
        await this.#apply(delivery.held, s);
        this.#settled.noteSent(delivery.held, s);
      } catch (err) {
        // The channel died under us: remember the settlement for the redelivery.
        if (this.#channel === delivery.held.channel) throw err;
        this.#settled.remember(delivery.held, s);
      }
      this.#maybeDone();
      return;
    }
    // An orphan: its channel is gone, so its own ack cannot be sent.
    const key = identity(delivery.queue, delivery.held.msg);
    const orphans = this.#orphans.get(key) ?? [];
    const i = orphans.indexOf(delivery);
    if (i >= 0) orphans.splice(i, 1);
    if (orphans.length === 0) this.#orphans.delete(key);
    const replacement = delivery.replacement;
    if (replacement === undefined) {
      this.#settled.remember(delivery.held, s);
    } else {
      try {
        await this.#apply(replacement, s);
        // Sent, not known to have arrived: the replacement's channel may die before it does.
        this.#settled.noteSent(replacement, s);
      } catch (err) {
        // The replacement's channel died too: remember the settlement for the next redelivery.
        if (this.#channel === replacement.channel) throw err;
        this.#settled.remember(delivery.held, s);
      }
    }
    this.#maybeDone();
  }

  async #apply(held: Held, s: Settlement): Promise<void> {
    const { channel, msg, queue } = held;
    switch (s.kind) {
      case 'ack':
        return this.#ack(channel, msg);
      case 'reject':
        if (!s.requeue) return this.#reject(channel, msg, false);
        break;
      case 'restore':
        return this.#reject(channel, msg, true);
      default:
        break;
    }
    // reject+requeue, defer, setAside: a confirmed copy first, then the ack. The copy carries the
    // deliveries so far (a classic queue's first, uncounted, is one), so the copies count; but an
    // ETA's deferral gives nothing back, so its copy's delivery is not one more (as on Redis).
    const deliveries = deliveriesOf(msg, this.host.queueType(queue) === 'quorum') ?? 1;
    await this.host.publishCopy(fromWire(msg), queue, s, s.kind === 'defer' && s.redelivered !== true ? deliveries - 1 : deliveries);
    return this.#ack(channel, msg);
  }

  async #ack(channel: Channel, msg: ConsumeMessage): Promise<void> {
    const batcher = this.#batchers.get(channel);
    if (batcher === undefined) return ackOn(channel, msg);
    try {
      await batcher.ack(msg);
    } catch (err) {
      throw ackError(msg, err);
    }
  }

  #reject(channel: Channel, msg: ConsumeMessage, requeue: boolean): void {
    rejectOn(channel, msg, requeue);
    this.#batchers.get(channel)?.sentOtherwise(msg);
  }

  setPrefetch(prefetch: number): void {
    this.#prefetch = checkPrefetch(prefetch);
    const channel = this.#channel;
    if (channel === undefined || this.#opening !== undefined) return;
    if (this.#qosGlobal) {
      this.#qos(channel, true).catch((err: unknown) => this.options.onError?.(coerceError(err)));
      return;
    }
    this.#requalifying = this.#requalifying.then(() => this.#reconsume(channel)).catch((err: unknown) => this.options.onError?.(coerceError(err)));
  }

  /** `basic.qos` with this consumer's prefetch; past 16 bits, none (amqp/limits.ts), with a warning once per count. */
  #qos(channel: Channel, global: boolean): Promise<unknown> {
    const count = qosCount(this.#prefetch);
    if (count !== this.#prefetch && this.#warnedPrefetch !== this.#prefetch) {
      this.#warnedPrefetch = this.#prefetch;
      this.host.log('warn', `prefetch ${this.#prefetch} is more than RabbitMQ's limit of ${QOS_COUNT_MAX}: consuming without a prefetch limit`);
    }
    return this.#reply(channel, channel.prefetch(count, global), 'a basic.qos');
  }

  /**
   * RabbitMQ's reply to an operation on `channel`, watched by the session (`awaitReply`): over
   * a link that died silently the connection is given up after `replyTimeoutMs`, and the
   * consumer opens again on the next one. Unwatched, a channel open, `basic.qos` or
   * `basic.consume` sent into such a link held the consumer (and its close) until the
   * heartbeat noticed, up to three intervals later: six minutes at the default 120 s.
   */
  #reply<T>(channel: Channel, reply: Promise<T>, what: string): Promise<T> {
    return this.host.session.awaitReply(reply, what, this.#generations.get(channel));
  }

  #cancel(channel: Channel, tag: string): Promise<unknown> {
    return this.#reply(channel, channel.cancel(tag), 'a basic.cancel');
  }

  /**
   * A per-consumer prefetch applies to consumers made after it: each queue is consumed again
   * under the new limit (its unacked deliveries stay on the channel, settled as before).
   */
  async #reconsume(channel: Channel): Promise<void> {
    if (this.#channel !== channel) return;
    await this.#qos(channel, false);
    for (const [queue, tag] of [...this.#tags]) {
      if (this.#channel !== channel) return;
      this.#tags.delete(queue);
      await this.#cancel(channel, tag);
      await this.#consumeQueue(channel, queue);
    }
  }

  addQueue(queue: string): void {
    amqpQueueName(queue);
    if (this.#closed || this.#queues.includes(queue)) return;
    this.#queues.push(queue);
    const channel = this.#channel;
    if (channel !== undefined && this.#opening === undefined) {
      this.#consumeQueue(channel, queue).catch((err: unknown) => this.options.onError?.(coerceError(err)));
    }
  }

  cancelQueue(queue: string): void {
    this.#queues = this.#queues.filter((q) => q !== queue);
    const tag = this.#tags.get(queue);
    this.#tags.delete(queue);
    const channel = this.#channel;
    if (tag !== undefined && channel !== undefined) this.#cancel(channel, tag).catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    clearTimeout(this.#retryTimer);
    await this.#opening;
    const channel = this.#channel;
    if (channel !== undefined) {
      for (const tag of this.#tags.values()) await this.#cancel(channel, tag).catch(() => undefined);
    }
    this.#tags.clear();
    this.#maybeDone();
  }

  /** After close: once nothing is unsettled, the channel goes (unsettled ones must still be ackable). */
  #maybeDone(): void {
    if (!this.#closed || this.#live.size > 0 || this.#orphans.size > 0) return;
    const channel = this.#channel;
    this.#channel = undefined;
    if (channel !== undefined) channel.close().catch(() => undefined);
    this.host.forget(this);
  }

  /** Closes the channel now (broker close): RabbitMQ requeues what is unsettled. */
  async destroy(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe();
    clearTimeout(this.#retryTimer);
    const channel = this.#channel;
    this.#channel = undefined;
    if (channel !== undefined) await channel.close().catch(() => undefined);
  }
}
