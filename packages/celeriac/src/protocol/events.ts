/**
 * @module protocol/events
 * Celery event dicts and their envelopes (docs/protocol.md §4): the common fields every
 * event carries, the routing key (`task-sent` -> `task.sent`), the `task.multi` batch
 * (a JSON array body), and decoding either form back into a list of dicts.
 */
import { decodeEnvelope } from './envelope.js';
import { ProtocolError } from './errors.js';
import { isJsonObject } from './guards.js';
import { pyJsonStringify } from './py-json.js';
import type { Json, JsonObject } from './types.js';

/** Celery's `event_exchange`. */
export const EVENT_EXCHANGE = 'celeryev';

/** Routing key of a batch of task events sent as one JSON array. */
export const TASK_MULTI_ROUTING_KEY = 'task.multi';

/** The fields every event starts with, as the sender knows them. */
export interface EventCommon {
  /** Node name of the sender (`w1@host`, or `gen<pid>@host` for a producer). */
  readonly hostname: string;
  /** Hours west of UTC, see {@link utcOffsetHours}. */
  readonly utcoffset: number;
  readonly pid: number;
  /** The sender's Lamport clock after forwarding. */
  readonly clock: number;
  /** Epoch seconds (a float, as Python's `time.time()`). */
  readonly timestamp: number;
}

/** A decoded event dict: at least `type`. */
export type EventDict = JsonObject & { type: string };

/** `task-sent` -> `task.sent`. */
export function eventRoutingKey(type: string): string {
  return type.replaceAll('-', '.');
}

/** The group of an event type: `task-sent` -> `task`, `worker-heartbeat` -> `worker`. */
export function eventGroup(type: string): string {
  const dash = type.indexOf('-');
  return dash < 0 ? type : type.slice(0, dash);
}

/**
 * Celery's `utcoffset`: hours west of UTC, floor-divided, from JS's
 * `Date#getTimezoneOffset()` minutes (which are already "west positive").
 */
export function utcOffsetHours(timezoneOffsetMinutes: number): number {
  return Math.floor(timezoneOffsetMinutes / 60);
}

/**
 * The members an event's sender sets: a field of one of these names is left out of the event.
 * Celery's dispatcher refuses such a field (a keyword argument given twice); here it cannot
 * overwrite who sent the event, when, or what it is.
 */
export const SENDER_MEMBERS: ReadonlySet<string> = new Set(['hostname', 'utcoffset', 'pid', 'clock', 'timestamp', 'type']);

/**
 * An event dict in Python's key order: hostname, utcoffset, pid, clock, the type's own
 * fields, timestamp, type ({@link SENDER_MEMBERS} among the fields left out).
 */
export function buildEvent(type: string, common: EventCommon, fields: { readonly [key: string]: Json | undefined }): EventDict {
  const event: Record<string, Json> = {
    hostname: common.hostname,
    utcoffset: common.utcoffset,
    pid: common.pid,
    clock: common.clock,
  };
  for (const [key, value] of Object.entries(fields)) if (value !== undefined && !SENDER_MEMBERS.has(key)) event[key] = value;
  event['timestamp'] = common.timestamp;
  event['type'] = type;
  return event as EventDict;
}

/** Where an event envelope says it was published, and by whom. */
export interface EventEnvelopeOptions {
  /** The sender's node name (envelope `headers.hostname`). */
  hostname: string;
  routingKey: string;
  /** @default EVENT_EXCHANGE */
  exchange?: string;
  /** A fresh id per publish (kombu: uuid4), chosen by the caller: protocol/ has no randomness. */
  deliveryTag: string;
}

/**
 * The kombu envelope of one event (a dict) or of a `task.multi` batch (an array), as
 * kombu publishes events (`headers: {hostname}`, `delivery_mode: 1`), the JSON body verbatim
 * (`body_encoding: null`, as kombu writes with the transport option `body_encoding=None`;
 * every kombu reader takes it): base64 made the events of a busy worker a third larger and
 * cost it a second pass over them.
 */
export function encodeEventEnvelope(body: EventDict | readonly EventDict[], options: EventEnvelopeOptions): string {
  return pyJsonStringify({
    body: pyJsonStringify(body),
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: { hostname: options.hostname },
    properties: {
      delivery_mode: 1,
      delivery_info: { exchange: options.exchange ?? EVENT_EXCHANGE, routing_key: options.routingKey },
      priority: 0,
      body_encoding: null,
      delivery_tag: options.deliveryTag,
    },
  });
}

/**
 * The events in an envelope: one for a single event, every element for a `task.multi`
 * batch. Elements that are not objects with a string `type` are skipped.
 *
 * @throws ProtocolError when the envelope or its body is not valid JSON.
 */
export function decodeEventEnvelope(raw: string): EventDict[] {
  const { message } = decodeEnvelope(raw);
  let body: unknown;
  try {
    body = JSON.parse(message.body);
  } catch (cause) {
    throw new ProtocolError('bad-json', 'event body is not valid JSON', { cause });
  }
  const items = Array.isArray(body) ? body : [body];
  return items.filter((item): item is EventDict => isJsonObject(item) && typeof item['type'] === 'string');
}
