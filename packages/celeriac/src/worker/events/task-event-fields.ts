/**
 * @module worker/events/task-event-fields
 * Turns a worker {@link TaskEvent} into the fields of the Celery event of the same name
 * (docs/protocol.md §4.3). Display strings (args, result, exception) are Python reprs,
 * because `celery events` and Flower print them as they are.
 */
import { toExceptionRecord } from '../../core/task-errors.js';
import { pyRepr } from '../../protocol/repr.js';
import type { Json } from '../../protocol/types.js';
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

/** The event's own fields (without the common ones). */
export function taskEventFields(event: TaskEvent): Record<string, Json> {
  const h = event.message.headers;
  switch (event.type) {
    case 'task-received':
      return {
        uuid: h.id, name: h.task, args: h.argsrepr, kwargs: h.kwargsrepr, root_id: h.root_id, parent_id: h.parent_id,
        retries: h.retries, eta: h.eta, expires: h.expires,
      };
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
