/**
 * @module worker/task-outcomes
 * The executor's handling of runs that end neither in success nor in a plain failure: a
 * Retry (publish the retry, store RETRY), a Reject, an Ignore, a revoke-terminate (store
 * REVOKED), and a lost worker with `rejectOnWorkerLost`. Each returns the outcome that
 * `decideSettlement` turns into ack, reject or requeue.
 */
import type { Logger } from 'pino';
import type { App } from '../core/app.js';
import type { AnyTask } from '../core/task.js';
import type { Delivery } from '../core/spi/broker.js';
import { afterFinalState } from '../canvas/follow-up.js';
import { ORIGIN, publishTask } from '../core/producer.js';
import { resultTuple } from '../core/result-meta.js';
import { buildRetryMessage, retryEta, retryText } from '../core/retry.js';
import { Ignore, Reject, Retry, TaskRevokedError, WorkerLostError, toExceptionRecord } from '../core/task-errors.js';
import { coerceError } from '../errors.js';
import type { Json, ResultTuple, TaskMessage, TaskState } from '../protocol/types.js';
import { signalNumber } from './revoked.js';
import type { AckPolicy, DeliveryOutcome } from './settlement.js';
import type { TaskEvent } from './task-events.js';

/** The parts of the executor's job the handlers read. */
export interface OutcomeJob {
  readonly delivery: Delivery;
  readonly message: TaskMessage;
  readonly task: AnyTask;
  readonly ackedEarly: boolean;
  readonly terminatedBy?: string;
}

/** What the handlers need from the executor. */
export interface OutcomeContext {
  readonly host: { readonly app: App; readonly log: Logger; emit(event: TaskEvent): void };
  policy(task: AnyTask, ackedEarly: boolean): AckPolicy;
  storeFinal(message: TaskMessage, delivery: Delivery, state: TaskState, result: Json, traceback: string | null, children: ResultTuple[]): Promise<void>;
}

/**
 * The outcome of a run that ended in a control-flow error; `{ failWith }` when it must be
 * treated as a failure after all (a retry that could not be published); null for a plain failure.
 */
export async function finishControlFlow(ctx: OutcomeContext, job: OutcomeJob, error: unknown): Promise<DeliveryOutcome | { failWith: unknown } | null> {
  const { message, delivery, task } = job;
  const h = message.headers;
  const { host } = ctx;
  const log = host.log.child({ taskId: h.id, taskName: h.task });
  if (error instanceof Retry) return finishRetry(ctx, job, error);
  if (error instanceof Reject) {
    log.info({ requeue: error.requeue }, `Task ${h.task}[${h.id}] rejected (requeue: ${error.requeue})${error.reason === null ? '' : `: ${error.reason}`}`);
    host.emit({ type: 'task-rejected', message, requeue: error.requeue });
    return error.requeue ? 'rejected-requeue' : 'rejected';
  }
  if (error instanceof Ignore) {
    log.info(`Task ${h.task}[${h.id}] ignored: ${error.message}`);
    return 'ignored';
  }
  if (error instanceof TaskRevokedError && job.terminatedBy !== undefined) {
    log.warn({ signal: job.terminatedBy }, `Task ${h.task}[${h.id}] terminated (${job.terminatedBy}) by a revoke`);
    await ctx.storeFinal(message, delivery, 'REVOKED', toExceptionRecord(error) as never, null, []);
    await afterFinalState(host.app, message, 'REVOKED', toExceptionRecord(error) as never);
    host.emit({ type: 'task-revoked', message, expired: false, terminated: true, signum: signalNumber(job.terminatedBy) });
    return 'terminated';
  }
  const policy = ctx.policy(task, job.ackedEarly);
  if (error instanceof WorkerLostError && policy.acksLate && policy.rejectOnWorkerLost && !job.ackedEarly) {
    // Not stored: the message goes back and the task runs again (Celery sends no task-failed either).
    log.warn(`Task ${h.task}[${h.id}] lost its worker; rejectOnWorkerLost: requeued`);
    return 'worker-lost';
  }
  return null;
}

/**
 * Publishes the retry (same id, retries + 1, new ETA, same queue unless the task named one,
 * same priority), then stores RETRY with the cause and emits task-retried.
 */
async function finishRetry(ctx: OutcomeContext, job: OutcomeJob, retry: Retry): Promise<DeliveryOutcome | { failWith: unknown }> {
  const { app, log } = ctx.host;
  const { message, delivery, task } = job;
  const h = message.headers;
  const now = app.clock.now();
  const eta = retryEta(retry, task.options, h.retries, now, app.random);
  const next = buildRetryMessage(message, eta, now, ORIGIN);
  try {
    const queue = retry.queue ?? delivery.queue;
    const route = { queue, exchange: '', routingKey: queue };
    await publishTask(app.broker, { message: next, route, priority: message.properties.priority, ...(eta > now ? { deliverAt: eta } : {}) });
  } catch (err) {
    // Celery drops such a task (Reject without requeue); failing it keeps a trace of why.
    log.error({ err: coerceError(err), taskId: h.id }, 'could not publish the retry; failing the task');
    return { failWith: err };
  }
  const text = retryText(retry, eta, now);
  const cause = retry.exc === undefined ? null : (toExceptionRecord(retry.exc) as never);
  await ctx.storeFinal(message, delivery, 'RETRY', cause, text, [resultTuple(h.id)]);
  ctx.host.emit({ type: 'task-retried', message, error: retry.exc ?? retry, traceback: text });
  log.info({ taskId: h.id, taskName: h.task, retries: h.retries + 1 }, `Task ${h.task}[${h.id}] retry: ${text}`);
  return 'retry';
}
