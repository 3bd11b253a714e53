/**
 * @module amqp/publish-frames
 * A `basic.publish` encoded in one buffer (method, content header and body frames), the bytes
 * amqplib would write, for the publishes a worker makes per task (rpc:// results).
 *
 * amqplib's own path builds an options object per call (`Object.create(headers)`, then a
 * field table walked with `for...in`), zero-fills three buffers and copies them into a
 * fourth: per publish, about as much as the rest of a no-op task's result costs (the bench
 * results have the figures). Here the properties that do not change between publishes (content
 * type, encoding, headers table, delivery mode, priority) are encoded once into a
 * {@link PublishTemplate}, and each publish writes its method frame (cached per exchange and
 * routing key), the header with its correlation id and the body into one unzeroed buffer.
 *
 * {@link publishFrames} hands the bytes to the channel the way amqplib's `publish` does
 * (its outgoing buffer, then a confirm callback on a confirm channel). It uses amqplib
 * internals, checked when a channel is first used: without them (another amqplib version, a
 * closed channel) it publishes through amqplib instead, with the same properties.
 */
import type { Channel, ConfirmChannel, Options } from 'amqplib';
import { SHORT_STRING_MAX, shortString } from './limits.js';

/** Frame types and the frame-end octet (AMQP 0-9-1 §4.2.3). */
const FRAME_METHOD = 1;
const FRAME_HEADER = 2;
const FRAME_BODY = 3;
const FRAME_END = 0xce;
/** Frame header (type, channel, size) plus frame end. */
const FRAME_OVERHEAD = 8;
/** class basic (60), method publish (40). */
const BASIC_PUBLISH = (60 << 16) | 40;

/** Basic property flags, in wire order (AMQP 0-9-1 `basic` class). */
const FLAG_CONTENT_TYPE = 0x8000;
const FLAG_CONTENT_ENCODING = 0x4000;
const FLAG_HEADERS = 0x2000;
const FLAG_DELIVERY_MODE = 0x1000;
const FLAG_PRIORITY = 0x0800;
const FLAG_CORRELATION_ID = 0x0400;

/** The properties a template fixes (and `headers: {}`); every publish adds its own correlation id. */
export interface TemplateProperties {
  readonly contentType: string;
  readonly contentEncoding: string;
  readonly deliveryMode: 1 | 2;
  readonly priority: number;
}

/** `{}` as an AMQP field table: a zero length. */
const EMPTY_TABLE = Buffer.alloc(4);

/** The bytes of a short string (amqp/limits.ts: INVALID_ARGUMENT past 255). */
const shortBytes = (s: string, what: string): Buffer => Buffer.from(shortString(s, what), 'utf8');

/** Encodes publishes that share their properties but for the correlation id. */
export class PublishTemplate {
  /** The fixed properties after the flags, before the correlation id. */
  readonly #fixed: Buffer;
  readonly #methods = new Map<string, Buffer>();

  constructor(readonly properties: TemplateProperties) {
    const ct = shortBytes(properties.contentType, 'content type');
    const ce = shortBytes(properties.contentEncoding, 'content encoding');
    if (!Number.isInteger(properties.priority) || properties.priority < 0 || properties.priority > 255) throw new RangeError('priority must be an integer in 0-255');
    const fixed = Buffer.allocUnsafe(1 + ct.length + 1 + ce.length + EMPTY_TABLE.length + 2);
    let o = fixed.writeUInt8(ct.length, 0);
    o += ct.copy(fixed, o);
    o = fixed.writeUInt8(ce.length, o);
    o += ce.copy(fixed, o);
    o += EMPTY_TABLE.copy(fixed, o);
    o = fixed.writeUInt8(properties.deliveryMode, o);
    fixed.writeUInt8(properties.priority, o);
    this.#fixed = fixed;
  }

  /** The method frame payload of a publish to `exchange` with `routingKey` (mandatory and immediate off). */
  #method(exchange: string, routingKey: string): Buffer {
    const key = `${exchange}\u0000${routingKey}`;
    let m = this.#methods.get(key);
    if (m === undefined) {
      const ex = shortBytes(exchange, 'exchange name');
      const rk = shortBytes(routingKey, 'routing key');
      m = Buffer.allocUnsafe(4 + 2 + 1 + ex.length + 1 + rk.length + 1);
      let o = m.writeUInt32BE(BASIC_PUBLISH, 0);
      o = m.writeUInt16BE(0, o); // reserved (ticket)
      o = m.writeUInt8(ex.length, o);
      o += ex.copy(m, o);
      o = m.writeUInt8(rk.length, o);
      o += rk.copy(m, o);
      m.writeUInt8(0, o);
      // A worker replies to a handful of clients: keep the cache small all the same.
      if (this.#methods.size >= 64) this.#methods.clear();
      this.#methods.set(key, m);
    }
    return m;
  }

  /**
   * The frames of one publish on `channel`, bodies split at `frameMax` as amqplib splits
   * them (no body frame for an empty body).
   */
  encode(channel: number, exchange: string, routingKey: string, correlationId: string, body: Buffer, frameMax: number): Buffer {
    const method = this.#method(exchange, routingKey);
    const cidLen = Buffer.byteLength(correlationId, 'utf8');
    if (cidLen > SHORT_STRING_MAX) shortString(correlationId, 'correlation id (the task id)');
    const headerPayload = 2 + 2 + 8 + 2 + this.#fixed.length + 1 + cidLen;
    const maxBody = frameMax - FRAME_OVERHEAD;
    const bodyFrames = body.length === 0 ? 0 : Math.ceil(body.length / maxBody);
    const size = FRAME_OVERHEAD + method.length + FRAME_OVERHEAD + headerPayload + bodyFrames * FRAME_OVERHEAD + body.length;
    const out = Buffer.allocUnsafe(size);
    // method frame
    let o = out.writeUInt8(FRAME_METHOD, 0);
    o = out.writeUInt16BE(channel, o);
    o = out.writeUInt32BE(method.length, o);
    o += method.copy(out, o);
    o = out.writeUInt8(FRAME_END, o);
    // content header frame
    o = out.writeUInt8(FRAME_HEADER, o);
    o = out.writeUInt16BE(channel, o);
    o = out.writeUInt32BE(headerPayload, o);
    o = out.writeUInt16BE(60, o); // class basic
    o = out.writeUInt16BE(0, o); // weight
    o = out.writeUInt32BE(Math.floor(body.length / 0x1_0000_0000), o);
    o = out.writeUInt32BE(body.length >>> 0, o);
    o = out.writeUInt16BE(FLAG_CONTENT_TYPE | FLAG_CONTENT_ENCODING | FLAG_HEADERS | FLAG_DELIVERY_MODE | FLAG_PRIORITY | FLAG_CORRELATION_ID, o);
    o += this.#fixed.copy(out, o);
    o = out.writeUInt8(cidLen, o);
    o += out.write(correlationId, o, 'utf8');
    o = out.writeUInt8(FRAME_END, o);
    // body frames
    for (let start = 0; start < body.length; start += maxBody) {
      const end = Math.min(body.length, start + maxBody);
      o = out.writeUInt8(FRAME_BODY, o);
      o = out.writeUInt16BE(channel, o);
      o = out.writeUInt32BE(end - start, o);
      o += body.copy(out, o, start, end);
      o = out.writeUInt8(FRAME_END, o);
    }
    return out;
  }

  /** The same publish as amqplib options (the fallback path, and tests). */
  options(correlationId: string): Options.Publish {
    const p = this.properties;
    return { contentType: p.contentType, contentEncoding: p.contentEncoding, headers: {}, deliveryMode: p.deliveryMode, priority: p.priority, correlationId };
  }
}

/** The amqplib internals {@link publishFrames} writes through. */
interface ChannelInternals {
  readonly ch?: unknown;
  readonly pushConfirmCallback?: unknown;
  readonly connection?: {
    frameMax?: unknown;
    sentSinceLastCheck?: unknown;
    readonly channels?: readonly ({ readonly buffer?: { write?: unknown } } | undefined)[];
  };
}

/** Where to write a channel's frames, or null when amqplib does not look as expected (or the channel is closed). */
function outlet(channel: Channel): { ch: number; frameMax: number; write: (b: Buffer) => void; conn: { sentSinceLastCheck?: unknown } } | null {
  const c = channel as unknown as ChannelInternals;
  const conn = c.connection;
  if (typeof c.ch !== 'number' || conn === undefined || typeof conn.frameMax !== 'number' || typeof c.pushConfirmCallback !== 'function') return null;
  // A closing or closed channel gets its own sendMessage that throws (amqplib's invalidOp).
  if (Object.hasOwn(channel, 'sendMessage')) return null;
  const buffer = conn.channels?.[c.ch]?.buffer;
  if (buffer === undefined || typeof buffer.write !== 'function') return null;
  const write = buffer.write as (b: Buffer) => void;
  return { ch: c.ch, frameMax: conn.frameMax, write: (b) => write.call(buffer, b), conn };
}

/**
 * Publishes on a confirm channel; `cb` gets null when RabbitMQ confirmed it, an error when it
 * nacked it or the channel closed first (as amqplib's `publish` callback).
 */
export function publishFrames(
  channel: ConfirmChannel,
  template: PublishTemplate,
  exchange: string,
  routingKey: string,
  correlationId: string,
  body: Buffer,
  cb: (err: unknown) => void,
): void {
  const out = outlet(channel);
  if (out === null) {
    channel.publish(exchange, routingKey, body, template.options(correlationId), cb);
    return;
  }
  out.write(template.encode(out.ch, exchange, routingKey, correlationId, body, out.frameMax));
  out.conn.sentSinceLastCheck = true;
  (channel as unknown as { pushConfirmCallback(cb: (err: unknown) => void): void }).pushConfirmCallback(cb);
}
