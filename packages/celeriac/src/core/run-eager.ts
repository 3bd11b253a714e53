/**
 * @module core/run-eager
 * Eager mode (`taskAlwaysEager`): run a task in the caller, for users' own tests. The result
 * lives in the returned EagerResult, not in the backend, as in Celery. With a tracer provider
 * registered each run (each retry too) has a `run/<task>` span as a worker's, under the
 * caller's active span (core/otel.ts).
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
import { activeTracer, endRunSpan, inSpan, startRunSpan, type RunSpan } from './otel.js';
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
  const { message: last, outcome, run } = await traceWithRetries(app, task, out);
  if (!outcome.ok && (outcome.error instanceof Ignore || outcome.error instanceof Reject)) {
    // As Celery's apply(): the run ends in IGNORED / REJECTED, which are never ready.
    const state = outcome.error instanceof Ignore ? 'IGNORED' : 'REJECTED';
    if (run !== undefined) endRunSpan(run, state, state === 'IGNORED' ? 'ignored' : 'rejected', null, false);
    return buildMeta({ ...ctx, message: last, now: app.clock.now() }, state, null);
  }
  if (run === undefined) return finishEager(app, task, { ...ctx, message: last }, send, outcome);
  // The callbacks it sends are sent in its span, as a worker's.
  try {
    const meta = await inSpan(run, () => finishEager(app, task, { ...ctx, message: last }, send, outcome));
    endRunSpan(run, meta.status, meta.status === 'SUCCESS' ? 'success' : 'failure', outcome.ok ? null : outcome.error, meta.status === 'FAILURE');
    return meta;
  } catch (err) {
    endRunSpan(run, 'FAILURE', 'failure', outcome.ok ? err : outcome.error, true);
    throw err;
  }
}

/**
 * Runs the task; a Retry runs it again at once with `retries` + 1 (countdowns are not waited
 * for in eager mode, as in Celery) until it ends or its retries run out.
 */
async function traceWithRetries(app: EagerHost, task: AnyTask, out: OutgoingTask): Promise<{ message: TaskMessage; outcome: TraceOutcome; run: RunSpan | undefined }> {
  const { route } = out;
  let message = out.message;
  for (;;) {
    const tracer = activeTracer();
    const run = tracer === undefined ? undefined : startRunSpan(tracer, message, route.routingKey, 'eager');
    const outcome = await (run === undefined ? traceOnce(app, task, message, out) : inSpan(run, () => traceOnce(app, task, message, out)));
    if (outcome.ok || !(outcome.error instanceof Retry)) return { message, outcome, run };
    if (run !== undefined) endRunSpan(run, 'RETRY', 'retry', outcome.error, false);
    message = buildRetryMessage(message, app.clock.now(), app.clock.now(), ORIGIN);
  }
}

function traceOnce(app: EagerHost, task: AnyTask, message: TaskMessage, { route }: OutgoingTask): TraceOutcome | Promise<TraceOutcome> {
  return traceTask(task, message, {
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
