/**
 * @module protocol/envelope
 * The JSON envelope kombu's virtual transports (Redis, memory) store per message
 * (docs/protocol.md §1.1, §1.3, §2.2, §2.6): the serialized body in base64 plus
 * headers, properties, `delivery_info` and the `delivery_tag` used as the ack key.
 */

import { EnvelopeReader } from './envelope-reader.js';
import { getOwn, isJsonObject, setOwn } from './guards.js';
import { ProtocolError } from './errors.js';
import { pyJsonAddEncodedMember, pyJsonAddMember, pyJsonCloseObject, pyJsonStringify } from './py-json.js';
import type { DeliveryInfo, Json, JsonObject, Message, MessageProperties } from './types.js';

/** Where to say a message was published, and its ack key; all chosen by the caller. */
export interface EnvelopeOptions {
  /** A fresh id per publish (kombu uses a uuid4); the consumer's ack key. */
  deliveryTag: string;
  /** Exchange name; `''` is the anonymous exchange (the routing key names the queue). */
  exchange: string;
  /** Routing key (the queue name when `exchange` is `''`). */
  routingKey: string;
}

/** An envelope taken apart: the transport-neutral message plus the transport fields. */
export interface DecodedEnvelope {
  /** Headers, properties (without the transport-only fields) and the decoded body text. */
  message: Message;
  /** The ack key (`properties.delivery_tag`). */
  deliveryTag: string;
  /** Where the message was published (`properties.delivery_info`), incl. `redelivered`. */
  deliveryInfo: DeliveryInfo;
}

// Properties with a fixed slot in kombu's output; anything else is an extra property and
// goes right after reply_to, where kombu inserts caller-supplied properties.
const PLACED_PROPERTIES = new Set([
  'correlation_id',
  'reply_to',
  'delivery_mode',
  'expiration',
  'delivery_info',
  'priority',
  'body_encoding',
  'delivery_tag',
]);

/**
 * Builds the envelope JSON for a message, byte-identical to what kombu 5.2.4 writes:
 * keys `body, content-encoding, content-type, headers, properties`; properties
 * `correlation_id, reply_to, [extras], delivery_mode, [expiration], delivery_info,
 * priority, body_encoding, delivery_tag`; body = base64 of the UTF-8 body text.
 */
export function encodeEnvelope(message: Message, opts: EnvelopeOptions): string {
  // Written member by member rather than as an object handed to pyJsonStringify: this runs
  // once per published message and the layout is fixed. Same text either way
  // (envelope.test.ts checks the two against each other).
  let text = pyJsonAddMember('', 'body', Buffer.from(message.body, 'utf8').toString('base64'));
  text = pyJsonAddMember(text, 'content-encoding', message.contentEncoding);
  text = pyJsonAddMember(text, 'content-type', message.contentType);
  text = pyJsonAddMember(text, 'headers', message.headers);
  return pyJsonCloseObject(pyJsonAddEncodedMember(text, 'properties', encodeProperties(message.properties, opts)));
}

function hasExtraProperties(props: MessageProperties): boolean {
  for (const key in props) {
    if (Object.prototype.hasOwnProperty.call(props, key) && !PLACED_PROPERTIES.has(key) && props[key] !== undefined) return true;
  }
  return false;
}

function encodeProperties(props: MessageProperties, opts: EnvelopeOptions): string {
  // Extra properties are rare (retries, replaced tasks); they go through an object so that
  // they keep the order JS gives its keys, integer-like ones included.
  if (hasExtraProperties(props)) return pyJsonStringify(propertiesWithExtras(props, opts));
  let text = pyJsonAddMember('', 'correlation_id', props.correlation_id);
  text = pyJsonAddMember(text, 'reply_to', props.reply_to);
  text = pyJsonAddMember(text, 'delivery_mode', props.delivery_mode);
  text = pyJsonAddMember(text, 'expiration', props.expiration);
  text = pyJsonAddMember(text, 'delivery_info', { exchange: opts.exchange, routing_key: opts.routingKey });
  text = pyJsonAddMember(text, 'priority', props.priority);
  text = pyJsonAddMember(text, 'body_encoding', 'base64');
  return pyJsonCloseObject(pyJsonAddMember(text, 'delivery_tag', opts.deliveryTag));
}

function propertiesWithExtras(props: MessageProperties, opts: EnvelopeOptions): Record<string, unknown> {
  const properties: Record<string, unknown> = {
    correlation_id: props.correlation_id,
    reply_to: props.reply_to,
  };
  for (const [key, value] of Object.entries(props)) {
    if (!PLACED_PROPERTIES.has(key) && value !== undefined) setOwn(properties, key, value);
  }
  properties['delivery_mode'] = props.delivery_mode;
  if (props.expiration !== undefined) properties['expiration'] = props.expiration;
  properties['delivery_info'] = { exchange: opts.exchange, routing_key: opts.routingKey };
  properties['priority'] = props.priority;
  properties['body_encoding'] = 'base64';
  properties['delivery_tag'] = opts.deliveryTag;
  return properties;
}

function bad(message: string): ProtocolError {
  return new ProtocolError('bad-envelope', message);
}

function parseJson(raw: unknown, reader?: EnvelopeReader): unknown {
  if (typeof raw !== 'string') throw new ProtocolError('bad-json', 'Envelope is not a string');
  try {
    return reader === undefined ? JSON.parse(raw) : reader.parse(raw);
  } catch (cause) {
    throw new ProtocolError('bad-json', 'Envelope is not valid JSON', { cause });
  }
}

/** Reads the envelopes {@link decodeEnvelope} is given: runs of one layout are not parsed in full (envelope-reader.ts). */
const envelopes = new EnvelopeReader();

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes a `body_encoding: base64` body. Strict about the alphabet and padding because
 * Node's decoder silently skips garbage, which would turn corruption into a wrong body:
 * text of the standard alphabet, padded to a multiple of 4, decodes to exactly
 * 3/4 of its length less the padding, and any skipped character (whitespace, `!`, a `=`
 * inside) makes the output shorter. Node also takes the URL-safe `-` and `_`, so those are
 * refused by name. Checked this way rather than with a regular expression: this runs for
 * every task a worker receives.
 */
export function decodeBase64Utf8(text: string): string {
  const bytes = Buffer.from(text, 'base64');
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  if (text.length % 4 !== 0 || bytes.length !== (text.length / 4) * 3 - padding || text.includes('-') || text.includes('_')) {
    throw new ProtocolError('bad-encoding', 'Body is not valid base64');
  }
  const decoded = bytes.toString('utf8');
  // Invalid UTF-8 decodes to U+FFFD; only then is the strict decoder asked (a real U+FFFD
  // in the text decodes fine there too).
  if (!decoded.includes('\uFFFD')) return decoded;
  try {
    return UTF8.decode(bytes);
  } catch (cause) {
    throw new ProtocolError('bad-encoding', 'Body is not valid UTF-8', { cause });
  }
}

/**
 * The body text; a binary body (pickle, msgpack) that is not UTF-8 is refused for its content
 * type, the real reason, rather than as "not valid UTF-8".
 */
function decodeBodyOf(body: unknown, encoding: unknown, contentType: string): string {
  try {
    return decodeBody(body, encoding);
  } catch (err) {
    if (!(err instanceof ProtocolError) || err.reason !== 'bad-encoding' || contentType === 'application/json') throw err;
    const type = contentType.trim().toLowerCase();
    if (type.includes('pickle') || type.includes('python-serialize') || type.includes('yaml')) {
      throw new ProtocolError('unsafe-content-type', `Refusing to decode ${type} (unsafe serializer)`, { cause: err });
    }
    throw new ProtocolError('unknown-content-type', `Unsupported content type ${JSON.stringify(contentType)}`, { cause: err });
  }
}

function decodeBody(body: unknown, encoding: unknown): string {
  if (typeof body !== 'string') throw bad('Envelope body is not a string');
  // Absent body_encoding means the body is carried verbatim (a Python worker runs that).
  if (encoding === undefined || encoding === null) return body;
  if (encoding !== 'base64') {
    throw new ProtocolError('bad-encoding', `Unknown body_encoding ${JSON.stringify(encoding)}`);
  }
  return decodeBase64Utf8(body);
}

function readDeliveryInfo(value: unknown): DeliveryInfo {
  if (!isJsonObject(value)) throw bad('properties.delivery_info is not an object');
  const exchange = value['exchange'] ?? '';
  const routingKey = value['routing_key'] ?? '';
  if (typeof exchange !== 'string' || typeof routingKey !== 'string') {
    throw bad('delivery_info exchange/routing_key are not strings');
  }
  const info: DeliveryInfo = { exchange, routing_key: routingKey };
  const redelivered = value['redelivered'];
  if (typeof redelivered === 'boolean') info.redelivered = redelivered;
  const priority = value['priority'];
  if (typeof priority === 'number') info.priority = priority;
  return info;
}

// Fills the fields MessageProperties promises; event and pidbox envelopes carry no
// correlation_id / reply_to, so those default to ''.
function readProperties(value: JsonObject): MessageProperties {
  const props: MessageProperties = {
    correlation_id: '',
    reply_to: '',
    delivery_mode: 2,
    priority: 0,
  };
  for (const key in value) {
    if (key === 'delivery_info' || key === 'body_encoding' || key === 'delivery_tag' || !Object.prototype.hasOwnProperty.call(value, key)) continue;
    setOwn(props, key, value[key]);
  }
  const p = props as unknown as Record<string, unknown>;
  if (typeof p['correlation_id'] !== 'string') throw wrongType('correlation_id');
  if (typeof p['reply_to'] !== 'string') throw wrongType('reply_to');
  if (p['delivery_mode'] !== 1 && p['delivery_mode'] !== 2) throw wrongType('delivery_mode');
  if (typeof p['priority'] !== 'number' || !Number.isFinite(p['priority'])) throw wrongType('priority');
  if (p['expiration'] !== undefined && typeof p['expiration'] !== 'string') throw wrongType('expiration');
  return props;
}

function wrongType(key: string): ProtocolError {
  return bad(`properties.${key} has the wrong type`);
}

/**
 * Parses envelope JSON (as LPUSHed by kombu or {@link encodeEnvelope}) into a message.
 * Accepts a base64 body (`body_encoding: "base64"`) or a verbatim one (no body_encoding).
 * Absent `headers`, `content-encoding`, `correlation_id`, `reply_to`, `delivery_mode`
 * and `priority` get kombu's defaults (`{}`, `utf-8`, `''`, `''`, 2, 0).
 *
 * @throws ProtocolError `bad-json` (not JSON), `bad-envelope` (missing or mistyped field,
 *   incl. the required `delivery_tag` and `delivery_info`), `bad-encoding` (bad base64,
 *   bad UTF-8, unknown body_encoding).
 */
export function decodeEnvelope(raw: string): DecodedEnvelope {
  const parsed = parseJson(raw, envelopes);
  if (!isJsonObject(parsed)) throw bad('Envelope is not a JSON object');
  // Fields read directly rather than with getOwn, here and in readDeliveryInfo: this runs for
  // every task, and none of these fixed names is a member of Object.prototype, so an absent
  // field reads as undefined either way.
  const properties = parsed['properties'];
  if (!isJsonObject(properties)) throw bad('Envelope properties is not an object');
  const deliveryTag = properties['delivery_tag'];
  if (typeof deliveryTag !== 'string') throw bad('properties.delivery_tag is not a string');
  const deliveryInfo = readDeliveryInfo(properties['delivery_info']);
  const headers = parsed['headers'] ?? {};
  if (!isJsonObject(headers)) throw bad('Envelope headers is not an object');
  const contentType = parsed['content-type'];
  if (typeof contentType !== 'string') throw bad('content-type is not a string');
  const contentEncoding = parsed['content-encoding'] ?? 'utf-8';
  if (typeof contentEncoding !== 'string') throw bad('content-encoding is not a string');
  const body = decodeBodyOf(parsed['body'], properties['body_encoding'], contentType);
  return {
    message: { headers, properties: readProperties(properties), contentType, contentEncoding, body },
    deliveryTag,
    deliveryInfo,
  };
}

/**
 * Marks an envelope as redelivered the way kombu's Redis requeue/restore does: sets
 * `headers.redelivered` and `properties.delivery_info.redelivered` to true and re-serializes
 * with Python's separators, keeping the delivery tag and everything else. Like kombu, an
 * envelope without `headers` (or without `delivery_info`) is passed through with whatever
 * could be set.
 *
 * @throws ProtocolError `bad-json` / `bad-envelope` when the text is not a JSON object.
 */
export function markRedelivered(raw: string): string {
  const parsed = parseJson(raw);
  if (!isJsonObject(parsed)) throw bad('Envelope is not a JSON object');
  const headers = getOwn(parsed, 'headers');
  if (isJsonObject(headers)) {
    headers['redelivered'] = true;
    const properties = getOwn(parsed, 'properties');
    const info = isJsonObject(properties) ? getOwn(properties, 'delivery_info') : undefined;
    if (isJsonObject(info)) info['redelivered'] = true;
  }
  return pyJsonStringify(parsed as Json);
}

/**
 * True when a kombu envelope says it was delivered before (`headers.redelivered` or
 * `properties.delivery_info.redelivered`, as kombu's restore and requeue mark them). Most
 * envelopes never mention the word, so they are not parsed; a malformed one is not marked.
 */
export function isRedelivered(raw: string): boolean {
  // Without its quotes: a needle that starts with '"' makes the search stop at every quote of
  // the text, which made it slower for every envelope.
  if (!raw.includes('redelivered')) return false;
  try {
    const parsed = parseJson(raw);
    if (!isJsonObject(parsed)) return false;
    const headers = getOwn(parsed, 'headers');
    if (isJsonObject(headers) && getOwn(headers, 'redelivered') === true) return true;
    const properties = getOwn(parsed, 'properties');
    const info = isJsonObject(properties) ? getOwn(properties, 'delivery_info') : undefined;
    return isJsonObject(info) && getOwn(info, 'redelivered') === true;
  } catch {
    return false;
  }
}
