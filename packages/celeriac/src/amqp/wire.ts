/**
 * @module amqp/wire
 * A transport-neutral message on the AMQP wire, both ways (docs/protocol-amqp.md §2, §8.1):
 * headers become the typed `headers` table, properties become basic properties
 * (`content_type`, `content_encoding`, `delivery_mode`, `priority`, `correlation_id`,
 * `reply_to`, `expiration`, `app_id`, `timestamp`), the body is the raw bytes: no envelope, no
 * base64. A Celeriac producer stamps `timestamp` (the AMQP property: Unix seconds) with the time
 * of the send; a copy the broker publishes for a settlement keeps the original's, so the
 * dashboard tells since when a message has waited (brokers/amqp/queue-age.ts). kombu and
 * Celery set no timestamp; py-amqp reads one as an int, which Celery leaves in
 * `request.properties` and never sends on.
 *
 * Deliveries go the other way into the kombu envelope text the worker reads everywhere
 * (protocol/envelope.ts), with the deliver frame's tag, exchange, routing key and
 * `redelivered` (set as kombu's virtual transports mark it: `headers.redelivered` and
 * `delivery_info.redelivered`). Headers RabbitMQ adds when dead-lettering (`x-death`,
 * `x-first-death-*`, `x-last-death-*`), a quorum queue's `x-delivery-count`, and Celeriac's
 * own `x-celeriac-deliver-at` (brokers/amqp/purge-delayed.ts) and `x-celeriac-deliveries`
 * (amqp-consumer.ts) are dropped: they describe the route through the queues, not the task
 * (the consumer reads the counts from the frame itself).
 */
import type { Options } from 'amqplib';
import { encodeEnvelope, markRedelivered } from '../protocol/envelope.js';
import type { Json, Message, MessageProperties } from '../protocol/types.js';
import { amqpExpiration, shortString } from './limits.js';
import { plainValue, typeTable } from './tables.js';

/** The parts of an amqplib message this module reads (consumed or fetched). */
export interface WireMessage {
  readonly content: Buffer;
  readonly fields: { readonly deliveryTag: number; readonly redelivered: boolean; readonly exchange: string; readonly routingKey: string };
  readonly properties: {
    readonly contentType?: unknown;
    readonly contentEncoding?: unknown;
    readonly headers?: unknown;
    readonly deliveryMode?: unknown;
    readonly priority?: unknown;
    readonly correlationId?: unknown;
    readonly replyTo?: unknown;
    readonly expiration?: unknown;
    readonly appId?: unknown;
    readonly timestamp?: unknown;
  };
}

/** What `publish` needs: body bytes and amqplib's publish options. */
export interface WireOut {
  readonly content: Buffer;
  readonly options: Options.Publish;
}

/** Options of {@link toWire}. */
export interface ToWireOptions {
  /** Drop the `expiration` property (a message entering the delay queues, where it would expire early). */
  dropExpiration?: boolean;
  /** Extra headers to add after the message's own. */
  extraHeaders?: { readonly [key: string]: Json };
  /** The send time (Unix seconds) for the `timestamp` property of a message that carries none. */
  timestamp?: number;
}

/** A message's own send time: its `timestamp` property when a whole, non-negative number of seconds. */
function timestampOf(p: MessageProperties): number | undefined {
  const t = p['timestamp'];
  return typeof t === 'number' && Number.isSafeInteger(t) && t >= 0 ? t : undefined;
}

/** The basic properties and body of `message`. */
export function toWire(message: Message, opts: ToWireOptions = {}): WireOut {
  const p = message.properties;
  const headers = opts.extraHeaders === undefined ? message.headers : { ...message.headers, ...opts.extraHeaders };
  const options: Options.Publish = {
    contentType: shortString(message.contentType, 'content type'),
    contentEncoding: shortString(message.contentEncoding, 'content encoding'),
    headers: typeTable(headers),
    deliveryMode: p.delivery_mode === 1 ? 1 : 2,
  };
  if (typeof p.priority === 'number') options.priority = Math.max(0, Math.min(255, Math.trunc(p.priority)));
  // The task id, for a task message: a longer one cannot travel on RabbitMQ.
  if (p.correlation_id !== '' && p.correlation_id !== undefined) options.correlationId = shortString(p.correlation_id, 'correlation id (the task id)');
  if (p.reply_to !== '' && p.reply_to !== undefined) options.replyTo = shortString(p.reply_to, 'reply_to');
  const expiration = p.expiration === undefined || opts.dropExpiration === true ? undefined : amqpExpiration(p.expiration);
  if (expiration !== undefined) options.expiration = expiration;
  // A sender's app_id (Celery: apply_async(app_id=...)) is a basic property; tasks read it in request.properties.
  const appId = (p as { app_id?: unknown }).app_id;
  if (typeof appId === 'string') options.appId = shortString(appId, 'app_id');
  const timestamp = timestampOf(p) ?? opts.timestamp;
  if (timestamp !== undefined) options.timestamp = timestamp;
  return { content: Buffer.from(message.body, 'utf8'), options };
}

const BROKER_HEADERS = /^x-(death|first-death-|last-death-|delivery-count$|celeriac-deliver-at$|celeriac-deliveries$)/;

const text = (value: unknown): string => (typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('utf8') : '');

/**
 * A delivery's headers as plain JSON, without the broker's. Every task runs this on about
 * seventeen headers: a string, number, boolean or null (all of Celery's but `timelimit`) is
 * taken as it is, and only a name starting with `x` is matched against the broker's.
 */
function plainHeaders(table: unknown): { [key: string]: Json } {
  if (table === null || typeof table !== 'object' || Array.isArray(table)) return {};
  const src = table as Record<string, unknown>;
  const out: { [key: string]: Json } = {};
  for (const key of Object.keys(src)) {
    if (key.charCodeAt(0) === 0x78 && BROKER_HEADERS.test(key)) continue;
    const v = src[key];
    out[key] = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null ? v : plainValue(v);
  }
  return out;
}

/** The transport-neutral message of a delivery (broker-added dead-letter headers removed). */
export function fromWire(msg: WireMessage): Message {
  const headers = plainHeaders(msg.properties.headers);
  const pr = msg.properties;
  const properties: MessageProperties = {
    correlation_id: text(pr.correlationId),
    reply_to: text(pr.replyTo),
    delivery_mode: pr.deliveryMode === 1 ? 1 : 2,
    priority: typeof pr.priority === 'number' ? pr.priority : 0,
  };
  if (pr.expiration !== undefined && pr.expiration !== null) properties.expiration = text(pr.expiration);
  if (pr.appId !== undefined && pr.appId !== null) properties['app_id'] = text(pr.appId);
  if (typeof pr.timestamp === 'number') properties['timestamp'] = pr.timestamp;
  return {
    headers,
    properties,
    contentType: text(pr.contentType),
    contentEncoding: pr.contentEncoding === undefined || pr.contentEncoding === null ? 'utf-8' : text(pr.contentEncoding),
    body: msg.content.toString('utf8'),
  };
}

/**
 * The kombu envelope text of a delivery. `where` overrides the exchange and routing key
 * shown in `delivery_info` (a message back from the delay queues shows its target queue).
 */
export function envelopeOf(msg: WireMessage, tag: string, redelivered: boolean, where?: { exchange: string; routingKey: string }): string {
  const raw = encodeEnvelope(fromWire(msg), {
    deliveryTag: tag,
    exchange: where?.exchange ?? msg.fields.exchange,
    routingKey: where?.routingKey ?? msg.fields.routingKey,
  });
  return redelivered ? markRedelivered(raw) : raw;
}
