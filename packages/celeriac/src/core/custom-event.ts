/**
 * @module core/custom-event
 * Custom task events a running task sends with `ctx.sendEvent` (Celery's
 * `Task.send_event`): a `task-<subject>` event carrying the task's uuid, published on the
 * `celeryev` exchange like the worker's own task events, so monitors (`celeriac events`,
 * Flower, a ClusterState) see it. Celery's state tracker turns an unknown subject into a
 * state of that name (`task-progress` -> `PROGRESS`).
 */
import { randomUUID } from 'node:crypto';
import { buildEvent, encodeEventEnvelope, EVENT_EXCHANGE, eventRoutingKey, utcOffsetHours } from '../protocol/events.js';
import { LamportClock } from '../protocol/lamport-clock.js';
import type { JsonObject } from '../protocol/types.js';
import { CeleriacError, ErrorCodes } from '../errors.js';
import type { Clock } from './clock.js';
import { describeGiven } from './option-names.js';
import type { Broker } from './spi/broker.js';

/** What sending needs from the app. */
export interface CustomEventHost {
  readonly broker: Broker;
  readonly clock: Clock;
}

const clocks = new WeakMap<Broker, LamportClock>();
const TYPE = /^task-[a-z][a-z0-9_-]{0,63}$/;
// Fields the event's envelope owns: a task cannot overwrite who sent it, when, or for which task.
const RESERVED = new Set(['type', 'uuid', 'hostname', 'utcoffset', 'pid', 'clock', 'timestamp', 'local_received']);

/** True when `value` is an app that can send events (the usual task host). */
export function isCustomEventHost(value: unknown): value is CustomEventHost {
  return typeof value === 'object' && value !== null && 'broker' in value && 'clock' in value;
}

/**
 * Checks a custom event before it is sent (in eager mode too, where nothing is sent).
 * @throws CeleriacError INVALID_ARGUMENT for a bad type or a reserved field name
 */
export function checkCustomEvent(type: string, fields: JsonObject): void {
  if (!TYPE.test(type)) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `ctx.sendEvent: the type must look like 'task-progress' (task- and a lower-case subject), got ${JSON.stringify(type)}`);
  // A string was spread into fields named "0", "1"...
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `ctx.sendEvent: fields must be an object of field names and values, got ${describeGiven(fields)}`);
  const reserved = Object.keys(fields).filter((k) => RESERVED.has(k));
  if (reserved.length > 0) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `ctx.sendEvent: ${reserved.join(', ')} ${reserved.length === 1 ? 'is' : 'are'} set by the event itself`);
}

/** Publishes `type` (a `task-<subject>` name) for task `taskId` from `hostname`; rejects as {@link checkCustomEvent}. */
export async function sendCustomEvent(host: CustomEventHost, hostname: string, taskId: string, type: string, fields: JsonObject = {}): Promise<void> {
  checkCustomEvent(type, fields);
  const { broker, clock } = host;
  let lamport = clocks.get(broker);
  if (lamport === undefined) clocks.set(broker, (lamport = new LamportClock()));
  const now = clock.now();
  const event = buildEvent(
    type,
    { hostname, utcoffset: utcOffsetHours(new Date(now).getTimezoneOffset()), pid: process.pid, clock: lamport.forward(), timestamp: now / 1000 },
    { uuid: taskId, ...fields },
  );
  const routingKey = eventRoutingKey(type);
  await broker.publishFanout(EVENT_EXCHANGE, routingKey, encodeEventEnvelope(event, { hostname, routingKey, deliveryTag: randomUUID() }));
}
