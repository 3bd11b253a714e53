/**
 * @module protocol/pidbox
 * Remote-control (pidbox) messages (docs/protocol.md §5): the request a client
 * broadcasts on the `celery.pidbox` fanout exchange, who it is addressed to, and the reply
 * a node sends back through the `reply.celery.pidbox` direct exchange.
 */
import { decodeEnvelope } from './envelope.js';
import { ProtocolError } from './errors.js';
import { getOwn, isJsonObject } from './guards.js';
import { pyJsonStringify } from './py-json.js';
import type { Json, JsonObject, Message } from './types.js';

/** The request exchange (`<control_exchange>.pidbox`), fanout. */
export const CONTROL_EXCHANGE = 'celery.pidbox';

/** The reply exchange, direct: reply queues are bound with the client's oid. */
export const REPLY_EXCHANGE = 'reply.celery.pidbox';

/** A node's own mailbox queue name (bound to {@link CONTROL_EXCHANGE} with key ''). */
export function mailboxQueueName(nodename: string): string {
  return `${nodename}.${CONTROL_EXCHANGE}`;
}

/** A client's reply queue name for its oid. */
export function replyQueueName(oid: string): string {
  return `${oid}.${REPLY_EXCHANGE}`;
}

/** A control request body. */
export interface ControlRequest {
  method: string;
  arguments: JsonObject;
  /** Node names it is for; null = every node. */
  destination: string[] | null;
  /** With `matcher`, selects nodes by pattern when `destination` is empty. */
  pattern: string | null;
  /** `glob` (fnmatch) or `pcre` (regex anchored at the start, as Python's re.match). */
  matcher: string | null;
  /** Present when a reply is wanted. */
  ticket?: string;
  reply_to?: { exchange: string; routing_key: string };
}

/** A decoded request and its envelope's Lamport clock. */
export interface DecodedControlRequest {
  request: ControlRequest;
  /** `headers.clock`, or null. */
  clock: number | null;
}

const bad = (message: string) => new ProtocolError('bad-envelope', message);

function readReplyTo(value: unknown): ControlRequest['reply_to'] {
  if (value === undefined || value === null) return undefined;
  if (!isJsonObject(value)) throw bad('pidbox reply_to is not an object');
  const exchange = getOwn(value, 'exchange');
  const routingKey = getOwn(value, 'routing_key');
  if (typeof exchange !== 'string' || typeof routingKey !== 'string') throw bad('pidbox reply_to needs exchange and routing_key strings');
  return { exchange, routing_key: routingKey };
}

function readStringOrNull(body: JsonObject, key: string): string | null {
  const value = getOwn(body, key) ?? null;
  if (value !== null && typeof value !== 'string') throw bad(`pidbox ${key} is not a string`);
  return value;
}

/**
 * Parses a request envelope. @throws ProtocolError for a malformed envelope or body
 * (no `method`, non-object `arguments`, non-list `destination`).
 */
export function decodeControlRequest(raw: string): DecodedControlRequest {
  const { message } = decodeEnvelope(raw);
  let body: unknown;
  try {
    body = JSON.parse(message.body);
  } catch (cause) {
    throw new ProtocolError('bad-json', 'pidbox body is not valid JSON', { cause });
  }
  if (!isJsonObject(body)) throw bad('pidbox body is not an object');
  const method = getOwn(body, 'method');
  if (typeof method !== 'string' || method === '') throw bad('pidbox body has no method');
  const args = getOwn(body, 'arguments') ?? {};
  if (!isJsonObject(args)) throw bad('pidbox arguments is not an object');
  const destination = getOwn(body, 'destination') ?? null;
  if (destination !== null && !(Array.isArray(destination) && destination.every((d) => typeof d === 'string'))) {
    throw bad('pidbox destination is not a list of names');
  }
  const request: ControlRequest = {
    method,
    arguments: args,
    destination: destination as string[] | null,
    pattern: readStringOrNull(body, 'pattern'),
    matcher: readStringOrNull(body, 'matcher'),
  };
  const ticket = getOwn(body, 'ticket');
  if (typeof ticket === 'string') request.ticket = ticket;
  const replyTo = readReplyTo(getOwn(body, 'reply_to'));
  if (replyTo !== undefined) request.reply_to = replyTo;
  const clock = message.headers['clock'];
  return { request, clock: typeof clock === 'number' ? clock : null };
}

/** Python's fnmatch: `*`, `?`, `[seq]`, `[!seq]`, matched against the whole name. */
function globToRegExp(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') out += '[\\s\\S]*';
    else if (c === '?') out += '[\\s\\S]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) out += '\\[';
      else {
        let set = pattern.slice(i + 1, end).replaceAll('\\', '\\\\');
        if (set.startsWith('!')) set = `^${set.slice(1)}`;
        out += `[${set}]`;
        i = end;
      }
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

/**
 * kombu's addressing rule: a non-empty `destination` must list the node; otherwise a
 * `pattern` with a `matcher` must match its name; otherwise every node is addressed.
 * An invalid pattern or unknown matcher addresses nobody.
 */
export function isAddressedTo(request: ControlRequest, nodename: string): boolean {
  if (request.destination !== null && request.destination.length > 0) return request.destination.includes(nodename);
  if (request.pattern && request.matcher) {
    try {
      if (request.matcher === 'glob') return globToRegExp(request.pattern).test(nodename);
      if (request.matcher === 'pcre') return new RegExp(`^(?:${request.pattern})`).test(nodename);
    } catch {
      return false;
    }
    return false;
  }
  return true;
}

/**
 * The reply message a node publishes to `reply_to` (exchange {@link REPLY_EXCHANGE},
 * routing key = the client's oid): body `{nodename: result}`, headers `{ticket, clock}`,
 * transient.
 */
export function buildControlReply(nodename: string, result: Json, options: { ticket: string; clock: number }): Message {
  return {
    headers: { ticket: options.ticket, clock: options.clock },
    properties: { correlation_id: '', reply_to: '', delivery_mode: 1, priority: 0 },
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    body: pyJsonStringify({ [nodename]: result }),
  };
}

/**
 * The request envelope a client broadcasts on {@link CONTROL_EXCHANGE} (routing key ''):
 * headers `{clock, expires}` (expires: epoch seconds, 0 for none).
 */
export function encodeControlRequest(request: ControlRequest, options: { clock: number; expires: number; deliveryTag: string }): string {
  const body: Record<string, Json> = {
    method: request.method,
    arguments: request.arguments,
    destination: request.destination,
    pattern: request.pattern,
    matcher: request.matcher,
  };
  if (request.ticket !== undefined) body['ticket'] = request.ticket;
  if (request.reply_to !== undefined) body['reply_to'] = request.reply_to;
  return pyJsonStringify({
    body: Buffer.from(pyJsonStringify(body), 'utf8').toString('base64'),
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: { clock: options.clock, expires: options.expires },
    properties: {
      delivery_mode: 2,
      delivery_info: { exchange: CONTROL_EXCHANGE, routing_key: '' },
      priority: 0,
      body_encoding: 'base64',
      delivery_tag: options.deliveryTag,
    },
  });
}

/** A decoded reply: the ticket it answers, the sender's clock and `{nodename: result}`. */
export interface DecodedControlReply {
  ticket: string | null;
  clock: number | null;
  body: JsonObject;
}

/** Parses a reply envelope. @throws ProtocolError when it is malformed. */
export function decodeControlReply(raw: string): DecodedControlReply {
  const { message } = decodeEnvelope(raw);
  let body: unknown;
  try {
    body = JSON.parse(message.body);
  } catch (cause) {
    throw new ProtocolError('bad-json', 'pidbox reply body is not valid JSON', { cause });
  }
  if (!isJsonObject(body)) throw bad('pidbox reply body is not an object');
  const { ticket, clock } = message.headers;
  return { ticket: typeof ticket === 'string' ? ticket : null, clock: typeof clock === 'number' ? clock : null, body };
}
