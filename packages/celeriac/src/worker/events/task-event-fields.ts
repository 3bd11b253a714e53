/**
 * @module worker/events/task-event-fields
 * Turns a worker {@link TaskEvent} into the fields of the Celery event of the same name
 * (docs/protocol.md §4.3). Display strings (args, result, exception) are Python reprs,
 * because `celery events` and Flower print them as they are.
 */
import { toExceptionRecord } from '../../core/task-errors.js';
import { pyRepr } from '../../protocol/repr.js';
import type { Json, JsonObject } from '../../protocol/types.js';
import type { TaskEvent } from '../task-events.js';
import { resultRepr } from './event-text.js';

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

/** The event's own fields (without the common ones). */
export function taskEventFields(event: TaskEvent): Record<string, Json> {
  const h = event.message.headers;
  switch (event.type) {
    case 'task-received': {
      const fields: Record<string, Json> = {
        uuid: h.id, name: h.task, args: h.argsrepr, kwargs: h.kwargsrepr, root_id: h.root_id, parent_id: h.parent_id,
        retries: h.retries, eta: h.eta, expires: h.expires,
      };
      // A traced message names its trace (Python's and ours alike): the dashboard links to it.
      const traceId = messageTraceId(event.message.extraHeaders);
      if (traceId !== null) fields['trace_id'] = traceId;
      // Not in Celery's event either (monitors ignore unknown fields): a group or chord member
      // names its group, so a dashboard finds every member whoever sent it. Python senders put
      // the group in the message only, never in an event.
      if (typeof h.group === 'string' && h.group !== '') fields['group'] = h.group;
      return fields;
    }
    case 'task-started':
      return { uuid: h.id };
    case 'task-succeeded':
      return { uuid: h.id, result: resultRepr(event.result), runtime: event.runtime };
    case 'task-failed':
      return event.traceback === null
        ? { uuid: h.id, exception: exceptionRepr(event.error) }
        : { uuid: h.id, exception: exceptionRepr(event.error), traceback: event.traceback };
    case 'task-retried':
      return { uuid: h.id, exception: exceptionRepr(event.error), traceback: event.traceback };
    case 'task-revoked':
      return { uuid: h.id, terminated: event.terminated, signum: signum(event.signum), expired: event.expired };
    case 'task-rejected':
      return { uuid: h.id, requeue: event.requeue };
  }
}
