/**
 * @module worker/events/task-event-fields
 * Turns a worker {@link TaskEvent} into the fields of the Celery event of the same name
 * (docs/protocol.md §4.3). Display strings (args, result, exception) are Python reprs,
 * because `celery events` and Flower print them as they are.
 */
import { toExceptionRecord } from '../../core/task-errors.js';
import { clipText } from '../../errors.js';
import { pyRepr } from '../../protocol/repr.js';
import type { Json, JsonObject } from '../../protocol/types.js';
import type { TaskEvent } from '../task-events.js';
import { eventKey, resultRepr, type EventFieldSink } from './event-text.js';

/** Python's `repr(exc)` of an error as Celery would show it: `ValueError('boom')`. */
export function exceptionRepr(error: unknown): string {
  const record = toExceptionRecord(error);
  const args = Array.isArray(record.exc_message) ? record.exc_message : [record.exc_message];
  return `${record.exc_type}(${args.map((a) => pyRepr(a)).join(', ')})`;
}

/** Python's signal numbers for the names `revoke --signal` accepts; unknown names give null. */
const SIGNUMS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGUSR1: 10, SIGUSR2: 12, SIGTERM: 15 };

/** A signal name (`SIGKILL`, `KILL`, `9`) as the int Celery puts in `signum`. */
export function signum(signal: string | null): number | null {
  if (signal === null) return null;
  if (/^\d+$/.test(signal)) return Number(signal);
  const upper = signal.toUpperCase();
  return SIGNUMS[upper.startsWith('SIG') ? upper : `SIG${upper}`] ?? null;
}

/** W3C traceparent: version, trace id, parent span id, flags; an all-zero trace id is invalid. */
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}(?:-|$)/;

/** The trace id of a message's `traceparent` header, or null when it has none or a malformed one. */
export function messageTraceId(headers: JsonObject): string | null {
  if (!Object.prototype.hasOwnProperty.call(headers, 'traceparent')) return null;
  const value = headers['traceparent'];
  if (typeof value !== 'string' || value.length > 256) return null;
  const id = TRACEPARENT.exec(value)?.[1];
  return id === undefined || id === '00000000000000000000000000000000' ? null : id;
}

/**
 * Most characters of a text an event carries (args and kwargs as the sender wrote them, an
 * exception, a traceback). Celery bounds none of them, and a task that failed with a message of
 * megabytes sent an event of twice that to every monitor: Redis drops a subscriber whose
 * output buffer passes 32 MB by default, so each monitor (the dashboard, Flower,
 * `celery events`) lost its connection and what was in flight. The result backend keeps the
 * whole of it.
 */
export const EVENT_TEXT_MAX = 64 * 1024;

/** `value` when it is not a text over {@link EVENT_TEXT_MAX}; else its start and its end, with how much was left out between. */
export function clipped<T extends Json | undefined>(value: T): T | string {
  return typeof value === 'string' ? clipText(value, EVENT_TEXT_MAX, 'this event') : value;
}

const UUID = eventKey('uuid');
const NAME = eventKey('name');
const ARGS = eventKey('args');
const KWARGS = eventKey('kwargs');
const ROOT_ID = eventKey('root_id');
const PARENT_ID = eventKey('parent_id');
const RETRIES = eventKey('retries');
const ETA = eventKey('eta');
const EXPIRES = eventKey('expires');
const TRACE_ID = eventKey('trace_id');
const GROUP = eventKey('group');
const RESULT = eventKey('result');
const RUNTIME = eventKey('runtime');
const EXCEPTION = eventKey('exception');
const TRACEBACK = eventKey('traceback');
const TERMINATED = eventKey('terminated');
const SIGNUM = eventKey('signum');
const EXPIRED = eventKey('expired');
const REQUEUE = eventKey('requeue');

/**
 * The event's own fields (without the common ones), in Celery's order, into `sink`: a batch
 * being written (event-text.ts) or {@link taskEventFields}'s object.
 */
export function writeTaskEventFields(event: TaskEvent, sink: EventFieldSink): void {
  const h = event.message.headers;
  sink.field(UUID, h.id);
  switch (event.type) {
    case 'task-received': {
      sink.field(NAME, h.task);
      sink.field(ARGS, clipped(h.argsrepr));
      sink.field(KWARGS, clipped(h.kwargsrepr));
      sink.field(ROOT_ID, h.root_id);
      sink.field(PARENT_ID, h.parent_id);
      sink.field(RETRIES, h.retries);
      sink.field(ETA, h.eta);
      sink.field(EXPIRES, h.expires);
      // A traced message names its trace (Python's and ours alike): the dashboard links to it.
      const traceId = messageTraceId(event.message.extraHeaders);
      if (traceId !== null) sink.field(TRACE_ID, traceId);
      // Not in Celery's event either (monitors ignore unknown fields): a group or chord member
      // names its group, so a dashboard finds every member whoever sent it. Python senders put
      // the group in the message only, never in an event.
      if (typeof h.group === 'string' && h.group !== '') sink.field(GROUP, h.group);
      return;
    }
    case 'task-started':
      return;
    case 'task-succeeded':
      sink.field(RESULT, resultRepr(event.result));
      sink.field(RUNTIME, event.runtime);
      return;
    case 'task-failed':
      sink.field(EXCEPTION, clipped(exceptionRepr(event.error)));
      // Left out of an unknown task's event, as Celery sends it.
      if (event.traceback !== null) sink.field(TRACEBACK, clipped(event.traceback));
      return;
    case 'task-retried':
      sink.field(EXCEPTION, clipped(exceptionRepr(event.error)));
      sink.field(TRACEBACK, clipped(event.traceback));
      return;
    case 'task-revoked':
      sink.field(TERMINATED, event.terminated);
      sink.field(SIGNUM, signum(event.signum));
      sink.field(EXPIRED, event.expired);
      return;
    case 'task-rejected':
      sink.field(REQUEUE, event.requeue);
      return;
  }
}

/** The event's own fields (without the common ones) as an object. */
export function taskEventFields(event: TaskEvent): Record<string, Json> {
  const fields: Record<string, Json> = {};
  writeTaskEventFields(event, {
    field(key, value) {
      if (value !== undefined) fields[key.name] = value;
    },
  });
  return fields;
}
