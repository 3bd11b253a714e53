/**
 * @module core/run-eager
 * Eager mode (`taskAlwaysEager`): run a task in the caller, for users' own tests. The result
 * lives in the returned EagerResult, not in the backend, as in Celery.
 */
import { CeleriacError, ErrorCodes } from '../errors.js';
import type { ResultMeta, TaskMessage } from '../protocol/types.js';
import type { Logger } from 'pino';
import type { ResolvedSettings } from './settings.js';
import type { Clock } from './clock.js';
import type { SendTask } from './link-callbacks.js';
import type { OutgoingTask } from './producer.js';
import { buildMeta, type MetaContext } from './result-meta.js';
import { Ignore, Reject, Retry, formatTraceback, toExceptionRecord } from './task-errors.js';
import { sendCallbacks, sendErrbacks } from './link-callbacks.js';
import { ORIGIN } from './producer.js';
import { buildRetryMessage } from './retry.js';
import { traceTask, type TraceOutcome } from './trace.js';
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
  const { message: last, outcome } = await traceWithRetries(app, task, out);
  if (!outcome.ok && (outcome.error instanceof Ignore || outcome.error instanceof Reject)) {
    // As Celery's apply(): the run ends in IGNORED / REJECTED, which are never ready.
    return buildMeta({ ...ctx, message: last, now: app.clock.now() }, outcome.error instanceof Ignore ? 'IGNORED' : 'REJECTED', null);
  }
  return finishEager(app, task, { ...ctx, message: last }, send, outcome);
}

/**
 * Runs the task; a Retry runs it again at once with `retries` + 1 (countdowns are not waited
 * for in eager mode, as in Celery) until it ends or its retries run out.
 */
async function traceWithRetries(app: EagerHost, task: AnyTask, out: OutgoingTask): Promise<{ message: TaskMessage; outcome: TraceOutcome }> {
  const { route } = out;
  let message = out.message;
  for (;;) {
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
    if (outcome.ok || !(outcome.error instanceof Retry)) return { message, outcome };
    message = buildRetryMessage(message, app.clock.now(), app.clock.now(), ORIGIN);
  }
}

async function finishEager(app: EagerHost, task: AnyTask, ctx: MetaContext, send: SendTask, outcome: TraceOutcome): Promise<ResultMeta> {
  const { message } = ctx;
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
