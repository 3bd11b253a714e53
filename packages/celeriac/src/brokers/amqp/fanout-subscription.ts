/**
 * @module brokers/amqp/fanout-subscription
 * Subscriptions to a pub/sub exchange (events, remote control, the SPI's fanout): a queue of
 * the subscriber's own (or the mailbox a worker bound), consumed without acks on a channel of
 * its own, subscribed again after a reconnect and after RabbitMQ cancels its consumer, and
 * retried with a growing wait while subscribing again fails with the connection up (its queue
 * declared elsewhere with other arguments, say). The first subscription goes again on the next
 * connection when its own is lost on the way (a restart, or a link that died silently, given
 * up after `replyTimeoutMs`: its channel's replies are watched), as a publish does. What goes out on such an exchange is a kombu
 * envelope, or any other text as a raw payload handed back as it was.
 */
import { randomUUID } from 'node:crypto';
import type { Channel, ConsumeMessage } from 'amqplib';
import type { AmqpSession } from '../../amqp/session.js';
import { typeTable } from '../../amqp/tables.js';
import { EVENT_QUEUE_SPEC, PIDBOX_QUEUE_SPEC, exchangeSpecFor } from '../../amqp/topology.js';
import { envelopeOf, toWire, type WireOut } from '../../amqp/wire.js';
import { Backoff, type BackoffPolicy } from '../../core/backoff.js';
import type { Unsubscribe } from '../../core/spi/broker.js';
import type { TransportLog } from '../../core/transport-table.js';
import { coerceError } from '../../errors.js';
import { decodeEnvelope } from '../../protocol/envelope.js';
import type { Message } from '../../protocol/types.js';
import { toTransportError } from './amqp-errors.js';

/** What to subscribe to: the exchange, the binding key, and a worker's mailbox queue if it bound one. */
export interface SubscriptionTarget {
  exchange: string;
  bindingKey: string;
  mailbox: string | undefined;
}

/** Subscribes `listener` to `target`'s exchange; resolves once consuming, with the way to stop. */
export async function subscribeExchange(session: AmqpSession, log: TransportLog, target: SubscriptionTarget, listener: (raw: string, routingKey: string) => void): Promise<Unsubscribe> {
  const { exchange, bindingKey, mailbox } = target;
  const spec = exchangeSpecFor(exchange, 'pubsub');
  const queue = mailbox ?? (spec.type === 'fanout' ? `${randomUUID()}.${exchange}` : `${exchange}.${randomUUID()}`);
  const queueSpec = spec.type === 'fanout' ? PIDBOX_QUEUE_SPEC : EVENT_QUEUE_SPEC;
  let channel: Channel | undefined;
  let stopped = false;
  const start = async (): Promise<void> => {
    const ch = await session.openChannel();
    ch.on('error', (err: Error) => log('warn', 'subscription channel closed', { exchange, err }));
    channel = ch;
    await ch.assertExchange(exchange, spec.type, { durable: spec.durable, autoDelete: false });
    await ch.assertQueue(queue, { durable: queueSpec.durable, autoDelete: queueSpec.autoDelete, arguments: typeTable(queueSpec.arguments) });
    await ch.bindQueue(queue, exchange, bindingKey);
    await ch.consume(
      queue,
      (msg: ConsumeMessage | null) => {
        if (msg === null) {
          // RabbitMQ cancelled the consumer (its queue deleted, or the node holding it gone): subscribe
          // again on a new channel, as a Celery worker restarts its consumer.
          if (!stopped) setTimeout(() => resubscribe(ch), CANCELLED_RESUBSCRIBE_MS).unref();
          return;
        }
        if (stopped) return;
        let raw: string;
        try {
          raw = msg.properties.contentType === RAW_CONTENT_TYPE ? msg.content.toString('utf8') : envelopeOf(msg, randomUUID(), false);
        } catch (err) {
          log('warn', 'undecodable message dropped', { exchange, err: coerceError(err) });
          return;
        }
        listener(raw, msg.fields.routingKey);
      },
      { noAck: true },
    );
    // Unsubscribed while this (re)subscription was on its way: it closed the channel before this one.
    if (stopped) await ch.close().catch(() => undefined);
  };
  const resubscribe = (cancelled: Channel): void => {
    if (stopped || channel !== cancelled) return;
    cancelled.close().catch(() => undefined);
    restart();
  };
  const retry = new Backoff(RESUBSCRIBE_BACKOFF);
  let retryTimer: NodeJS.Timeout | undefined;
  const restart = () => {
    if (stopped) return;
    const generation = session.generation;
    start().then(
      () => retry.reset(),
      (err: unknown) => {
        if (stopped) return;
        log('warn', 'could not subscribe again', { exchange, err: coerceError(err) });
        // Failed with its connection lost: the reconnect subscribes again. Else try again later.
        if (retryTimer !== undefined || !session.connected || session.generation !== generation) return;
        retryTimer = setTimeout(() => {
          retryTimer = undefined;
          if (session.connected && session.generation === generation) restart();
        }, retry.next()).unref();
      },
    );
  };
  for (let attempt = 1; ; attempt++) {
    let generation: number | undefined;
    try {
      await session.connection();
      generation = session.generation;
      await start();
      break;
    } catch (err) {
      // Not connected at all is the caller's to hear, at once.
      const lost = generation !== undefined && (!session.connected || session.generation !== generation);
      if (!lost || attempt >= SUBSCRIBE_ATTEMPTS || stopped) throw toTransportError(`subscribe to ${exchange}`, err);
      log('warn', `subscription interrupted by a lost connection; subscribing again (attempt ${attempt + 1})`, { exchange, err: coerceError(err) });
    }
  }
  const offReconnect = session.onReconnect(restart);
  const unsubscribe = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    offReconnect();
    clearTimeout(retryTimer);
    await channel?.close().catch(() => undefined);
  };
  return unsubscribe;
}

/** Wait before subscribing again after RabbitMQ cancelled the consumer (as the task consumer's). */
const CANCELLED_RESUBSCRIBE_MS = 1000;

/** Attempts of the first subscription, each on a new connection after the last one was lost during it. */
const SUBSCRIBE_ATTEMPTS = 3;

/** Waits between attempts while subscribing again fails with the connection up. */
const RESUBSCRIBE_BACKOFF: BackoffPolicy = Object.freeze({ firstMs: 1000, growth: { factor: 2 }, maxMs: 30_000 });

/**
 * Content type of a fanout payload that is not a kombu envelope (the SPI lets callers publish
 * any text): sent as is and handed back as is. Celery never sends one.
 */
const RAW_CONTENT_TYPE = 'application/x-celeriac-raw';

/** An envelope goes out as a real AMQP message; any other text as a raw payload. */
export function fanoutWire(raw: string): WireOut {
  let message: Message;
  try {
    message = decodeEnvelope(raw).message;
  } catch {
    return { content: Buffer.from(raw, 'utf8'), options: { contentType: RAW_CONTENT_TYPE, deliveryMode: 1 } };
  }
  return toWire(message);
}
