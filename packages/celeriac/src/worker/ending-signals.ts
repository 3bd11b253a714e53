/**
 * @module worker/ending-signals
 * The signals of endings the worker decides, not the body: `taskUnknown`, `taskRevoked`
 * (revoked, expired, terminated), and `taskFailure` for a run the worker ended (hard time
 * limit, a pool thread or process that died, a return value the backend could not encode: its
 * `taskSuccess` had fired where it ran), where the body could not report it. The body's
 * own signals (`taskPrerun` ... `taskPostrun`) fire where it runs (core/trace.ts).
 */
import type { Signals } from '../core/signals.js';
import { TimeLimitExceeded } from '../core/task-errors.js';
import type { Ending, Subject } from './task-outcomes.js';

/** Fires the signal of ending `e`, if it has one; undefined when nothing waits. */
export function announceEnding(signals: Signals, s: Subject, e: Ending): Promise<void> | undefined {
  const h = s.message.headers;
  switch (e.kind) {
    case 'unregistered':
      return signals.emit('taskUnknown', { id: h.id, name: h.task, message: s.message, error: e.error });
    case 'revoked':
    case 'expired':
    case 'terminated':
      return signals.emit('taskRevoked', { id: h.id, name: h.task, terminated: e.kind === 'terminated', signum: s.terminatedBy, expired: e.kind === 'expired' });
    case 'worker-lost':
    case 'unencodable':
    case 'timeout':
      // A soft limit the body let through is the body's own failure, announced where it ran.
      if (e.kind === 'timeout' && !(e.error instanceof TimeLimitExceeded)) return undefined;
      if (s.task === undefined || !signals.has('taskFailure')) return undefined;
      return signals.emit('taskFailure', { id: h.id, task: s.task, error: e.error, args: s.message.args, kwargs: s.message.kwargs, request: null });
    default:
      return undefined;
  }
}
