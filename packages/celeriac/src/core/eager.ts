/**
 * @module core/eager
 * Eager mode (`taskAlwaysEager`): run a task in the caller, for users' own tests. The result
 * lives in the returned EagerResult, not in the backend, as in Celery.
 */
import { CeleriacError, ErrorCodes } from '../errors.js';
import type { ResultMeta } from '../protocol/types.js';
import type { Logger } from 'pino';
import type { ResolvedSettings } from './settings.js';
import type { Clock } from './clock.js';
import type { SendTask } from './follow-up.js';
import type { OutgoingTask } from './producer.js';
import { buildMeta } from './result-meta.js';
import { formatTraceback, toExceptionRecord } from './task-errors.js';
import { sendCallbacks, sendErrbacks } from './follow-up.js';
import { traceTask } from './trace.js';
import type { AnyTask } from './task.js';

/** What an eager run needs from its app. */
export interface EagerHost {
  readonly settings: ResolvedSettings;
  readonly clock: Clock;
  readonly log: Logger;
  sendTask: SendTask;
}

/** Runs `task` for an already built message; returns its final record. */
export async function runEager(app: EagerHost, task: AnyTask, out: OutgoingTask): Promise<ResultMeta> {
  const { message, route } = out;
  const ctx = { message, worker: 'eager', queue: route.routingKey, extended: app.settings.resultExtended, now: app.clock.now() };
  const send = app.sendTask.bind(app);
  const outcome = await traceTask(task, message, {
    hostname: 'eager',
    deliveryInfo: { exchange: route.exchange, routing_key: route.routingKey },
    isEager: true,
    timeLimit: message.headers.timelimit,
    signal: new AbortController().signal,
    log: app.log,
    updateState: async () => {
      // Eager runs keep no intermediate states: the caller already holds the final one.
    },
  });
  if (outcome.ok) {
    const children = await sendCallbacks(send, message, outcome.value);
    return buildMeta({ ...ctx, now: app.clock.now() }, 'SUCCESS', outcome.value, { children });
  }
  if (app.settings.taskEagerPropagates) {
    throw outcome.error instanceof Error
      ? outcome.error
      : new CeleriacError(ErrorCodes.TASK_FAILED, `Task ${task.name} failed`, { cause: outcome.error });
  }
  const children = await sendErrbacks(send, message);
  return buildMeta({ ...ctx, now: app.clock.now() }, 'FAILURE', toExceptionRecord(outcome.error) as never, {
    traceback: formatTraceback(outcome.error),
    children,
  });
}
