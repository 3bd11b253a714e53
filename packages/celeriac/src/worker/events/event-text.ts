/**
 * @module worker/events/event-text
 * Task events written straight to JSON text, byte for byte what `encodeEventEnvelope` of
 * `buildEvent`'s dicts gives (protocol/events.ts, Python's `json.dumps` layout), but without
 * the dict in between: a worker with `-E` sends three events per task, and building each dict
 * and then walking it with the generic writer was most of what events cost (a CPU profile of a
 * 20,000-task drain: the dicts, the writer and the result's saferepr took about as long as
 * running the tasks). The members every event of a batch shares (hostname, utcoffset, pid) are
 * written once per batch, and the common values (strings, integers, the timestamp) skip the
 * generic writer's checks. Anything else goes through that writer, so the text never differs.
 */
import { EVENT_EXCHANGE } from '../../protocol/events.js';
import { pyJsonString, pyJsonStringify, pyNumberRepr } from '../../protocol/py-json.js';
import { REPR_MAXLEN, safeRepr } from '../../protocol/repr.js';
import type { Json } from '../../protocol/types.js';

/** `{"hostname": ..., "utcoffset": ..., "pid": ..., "clock": ` of an event dict: all but the clock's value. */
export function eventHead(hostname: string, utcoffset: number, pid: number): string {
  return `{"hostname": ${pyJsonString(hostname)}, "utcoffset": ${pyNumberRepr(utcoffset)}, "pid": ${pyNumberRepr(pid)}, "clock": `;
}

/** Python's repr of a float or int, as py-json writes it, with a shortcut for the usual range. */
export function numberText(value: number): string {
  // For safe integers, and other finite values from 1e-4 up to 1e16, JS's shortest
  // round-trip text is what pyNumberRepr writes; an integral double past 2**53 is written as
  // the float it is (docs/interop.md), so it takes the general path.
  const abs = Math.abs(value);
  if (Number.isInteger(value) ? abs <= Number.MAX_SAFE_INTEGER : abs >= 1e-4 && abs < 1e16) return String(value);
  return pyNumberRepr(value);
}

/** One value as py-json writes it (undefined for a member to leave out). */
function valueText(value: Json | undefined): string | undefined {
  switch (typeof value) {
    case 'string':
      return pyJsonString(value);
    case 'number':
      // NaN and infinities are refused by the generic writer, as there.
      return Number.isFinite(value) ? numberText(value) : pyJsonStringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
      return undefined;
    default:
      return value === null ? 'null' : pyJsonStringify(value);
  }
}

/** `"key": ` for the keys events use, memoized (a handful of names, all from the engine). */
const keyTexts = new Map<string, string>();
function keyText(key: string): string {
  let text = keyTexts.get(key);
  if (text === undefined) {
    text = `${pyJsonString(key)}: `;
    if (keyTexts.size < 256) keyTexts.set(key, text);
  }
  return text;
}

/**
 * The JSON text of one event dict: `head` (see {@link eventHead}) with its clock value, the
 * type's own fields in their order (undefined ones and any `type` / `timestamp` left out, as
 * buildEvent does), then `timestamp` and `type`.
 *
 * @throws CeleriacError INVALID_ARGUMENT for a value py-json refuses, as buildEvent's encoding would.
 */
export function eventText(head: string, clock: number, type: string, fields: { readonly [key: string]: Json | undefined }, timestamp: number): string {
  let text = head + numberText(clock);
  for (const key in fields) {
    if (!Object.prototype.hasOwnProperty.call(fields, key) || key === 'type' || key === 'timestamp') continue;
    const value = valueText(fields[key]);
    if (value !== undefined) text += `, ${keyText(key)}${value}`;
  }
  return `${text}, "timestamp": ${numberText(timestamp)}, "type": ${pyJsonString(type)}}`;
}

/** A `task.multi` body: the events' texts as one JSON array. */
export function batchText(events: readonly string[]): string {
  return `[${events.join(', ')}]`;
}

/** `{"body": "` : the envelope's first member, its base64 body next. */
const ENVELOPE_HEAD = '{"body": "';

/**
 * The kombu envelope around a JSON body text, as encodeEventEnvelope writes it (headers
 * `{hostname}`, `delivery_mode: 1`, base64 body), as its UTF-8 bytes: the base64 body, most
 * of the message, is copied once into them, where a string would be joined, flattened and
 * encoded again by the socket.
 */
export function envelopeBytes(bodyJson: string, hostname: string, routingKey: string, deliveryTag: string): Buffer {
  const body = Buffer.from(bodyJson, 'utf8').toString('base64');
  const tail =
    `", "content-encoding": "utf-8", "content-type": "application/json", ` +
    `"headers": {"hostname": ${pyJsonString(hostname)}}, "properties": {"delivery_mode": 1, ` +
    `"delivery_info": {"exchange": ${pyJsonString(EVENT_EXCHANGE)}, "routing_key": ${pyJsonString(routingKey)}}, ` +
    `"priority": 0, "body_encoding": "base64", "delivery_tag": ${pyJsonString(deliveryTag)}}}`;
  const out = Buffer.allocUnsafe(ENVELOPE_HEAD.length + body.length + Buffer.byteLength(tail, 'utf8'));
  let at = out.write(ENVELOPE_HEAD, 0, 'latin1');
  at += out.write(body, at, 'latin1');
  out.write(tail, at, 'utf8');
  return out;
}

/**
 * Celery's `saferepr` of a task's result, as safeRepr gives it, without its token stream for
 * None, booleans, numbers and strings too short to be cut (most results of most tasks).
 */
export function resultRepr(value: Json): string {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? numberText(value) : safeRepr(value);
    case 'boolean':
      return value ? 'True' : 'False';
    case 'string':
      // saferepr cuts a string of REPR_MAXLEN code points or more; UTF-16 units are never fewer.
      return value.length < REPR_MAXLEN ? `'${value.replaceAll("'", "\\'")}'` : safeRepr(value);
    default:
      return value === null ? 'None' : safeRepr(value);
  }
}
