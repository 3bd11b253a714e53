/**
 * @module amqp/strict-text
 * One UTF-8 rule for a whole message on RabbitMQ, as on Redis (brokers/redis/transitions.ts):
 * amqplib decodes the strings of a content header (properties, header values, field names)
 * with bytes that are not UTF-8 replaced by U+FFFD, silently, before any consumer sees them.
 * {@link checkHeaderText} keeps sight of each content header frame's raw bytes as amqplib
 * parses it and walks them once (no objects made): a header whose text is not UTF-8 marks
 * its decoded properties object, which amqplib hands on as the message's `properties`, so a
 * delivery can tell ({@link textIsUtf8}). Uses amqplib internals (`connection.recvFrame`, the
 * `connection.rest` buffer it parses from), checked first: when they are not there (another
 * amqplib version), nothing is marked and header text stays lenient.
 */
import { isUtf8 } from 'node:buffer';
import type { ChannelModel } from 'amqplib';

/** The properties objects of messages whose header text is not UTF-8. */
const NOT_UTF8 = new WeakSet<object>();

/** False when the content header that `properties` was decoded from holds text that is not UTF-8. */
export function textIsUtf8(properties: object): boolean {
  return !NOT_UTF8.has(properties);
}

/** Bytes each AMQP field type takes, for the fixed-size types (docs: AMQP 0-9-1 §4.2.5.5, RabbitMQ's errata). */
const FIXED: Readonly<Record<number, number>> = { 0x74: 1, 0x62: 1, 0x42: 1, 0x73: 2, 0x75: 2, 0x49: 4, 0x69: 4, 0x66: 4, 0x6c: 8, 0x64: 8, 0x54: 8, 0x44: 5, 0x56: 0 };
const [S, X, F, A] = [0x53, 0x78, 0x46, 0x41];

/** Whether `b[start, end)` is UTF-8: ASCII checked here, anything else by Node (a subarray costs more than a short ASCII scan). */
function utf8(b: Buffer, start: number, end: number): boolean {
  if (end > b.length) return true;
  for (let i = start; i < end; i++) if ((b[i] as number) >= 0x80) return isUtf8(b.subarray(start, end));
  return true;
}

/** Thrown by the walk on a frame it cannot read (amqplib's own decoding then decides). */
class Unreadable extends Error {}

/** Reads a 32-bit length at `at`, checking the bytes are there. */
function length32(b: Buffer, at: number, end: number): number {
  if (at + 4 > end) throw new Unreadable();
  const n = b.readUInt32BE(at);
  if (at + 4 + n > end) throw new Unreadable();
  return n;
}

/** Whether the field value at `at` (its type octet) is UTF-8 text where it is text; returns the offset after it, or -1. */
function value(b: Buffer, at: number, end: number): number {
  if (at >= end) throw new Unreadable();
  const type = b[at] as number;
  const fixed = FIXED[type];
  if (fixed !== undefined) return at + 1 + fixed;
  const n = length32(b, at + 1, end);
  const start = at + 5;
  if (type === S || type === X) return utf8(b, start, start + n) ? start + n : -1;
  if (type === F) return table(b, start, start + n) ? start + n : -1;
  if (type === A) {
    for (let i = start; i < start + n; ) if ((i = value(b, i, start + n)) < 0) return -1;
    return start + n;
  }
  throw new Unreadable();
}

/** Whether every name and text value of the field table in `b[at, end)` is UTF-8. */
function table(b: Buffer, at: number, end: number): boolean {
  for (let i = at; i < end; ) {
    const n = b[i] as number;
    if (i + 1 + n > end || !utf8(b, i + 1, i + 1 + n)) return false;
    if ((i = value(b, i + 1 + n, end)) < 0) return false;
  }
  return true;
}

/** Property flag bits in order (AMQP basic class), with the short strings among them. */
const FLAGS: readonly (readonly [bit: number, kind: 'short' | 'table' | number])[] = [
  [0x8000, 'short'], // content-type
  [0x4000, 'short'], // content-encoding
  [0x2000, 'table'], // headers
  [0x1000, 1], // delivery-mode
  [0x0800, 1], // priority
  [0x0400, 'short'], // correlation-id
  [0x0200, 'short'], // reply-to
  [0x0100, 'short'], // expiration
  [0x0080, 'short'], // message-id
  [0x0040, 8], // timestamp
  [0x0020, 'short'], // type
  [0x0010, 'short'], // user-id
  [0x0008, 'short'], // app-id
  [0x0004, 'short'], // cluster-id
];

/** Whether the text of basic properties `b` (flags, then the fields they name) is all UTF-8; true when it cannot be read. */
export function propertiesAreUtf8(b: Buffer): boolean {
  try {
    if (b.length < 2) return true;
    const flags = b.readUInt16BE(0);
    let at = 2;
    for (const [bit, kind] of FLAGS) {
      if ((flags & bit) === 0) continue;
      if (typeof kind === 'number') at += kind;
      else if (kind === 'short') {
        const n = b[at] as number;
        if (!utf8(b, at + 1, at + 1 + n)) return false;
        at += 1 + n;
      } else {
        const n = length32(b, at, b.length);
        if (!table(b, at + 4, at + 4 + n)) return false;
        at += 4 + n;
      }
    }
    return true;
  } catch (err) {
    if (err instanceof Unreadable || err instanceof RangeError) return true;
    throw err;
  }
}

interface FrameInternals {
  rest?: unknown;
  recvFrame?: unknown;
}

/** AMQP frame layout: type (1), channel (2), size (4), payload, end octet; a content header's payload starts with class, weight and body size (12). */
const PROPERTIES_AT = 7 + 12;

/**
 * Marks the properties of every content header `model`'s connection receives whose text is
 * not UTF-8 (see the module notes). The frame parsed is the buffer `rest` held before its
 * last assignment, less what it holds after (amqplib sets `rest` to what follows the frame).
 */
export function checkHeaderText(model: ChannelModel): void {
  const conn = (model as unknown as { connection?: FrameInternals }).connection;
  if (conn === undefined || typeof conn.recvFrame !== 'function' || !Buffer.isBuffer(conn.rest)) return;
  let current: Buffer = conn.rest;
  let previous: Buffer = current;
  Object.defineProperty(conn, 'rest', {
    configurable: true,
    enumerable: true,
    get: () => current,
    set: (b: Buffer) => {
      previous = current;
      current = b;
    },
  });
  const recvFrame = conn.recvFrame as (this: unknown) => unknown;
  conn.recvFrame = function (this: unknown): unknown {
    const frame = recvFrame.call(this) as { size?: unknown; fields?: unknown } | false;
    if (frame !== false && frame.size !== undefined && typeof frame.fields === 'object' && frame.fields !== null) {
      const end = previous.length - current.length - 1;
      if (end > PROPERTIES_AT && !propertiesAreUtf8(previous.subarray(PROPERTIES_AT, end))) NOT_UTF8.add(frame.fields);
    }
    return frame;
  };
}
