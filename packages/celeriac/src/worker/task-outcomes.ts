/**
 * @module worker/task-outcomes
 * Endings: how a task message's life ended, as data the executor concludes with one row of
 * the outcome table. Here: building an ending (from how a run ended, or from a reason not to
 * run), sending the follow-ups a row sends before its state is stored (which may turn the
 * ending into a failure: Celery fails a task whose callbacks or retry cannot be sent), and
 * the event and log line each ending reports.
 */
import type { Logger } from 'pino';
import type { App } from '../core/app.js';
import type { Delivery } from '../core/spi/broker.js';
import { sendFailureFollowUps, sendSuccessFollowUps } from '../canvas/follow-up.js';
import { ORIGIN } from '../core/producer.js';
import { sendMessages } from '../core/send.js';
import { resultTuple } from '../core/result-meta.js';
import { buildRetryMessage, retryEta, retryText } from '../core/retry.js';
import { EncodeError, Ignore, Reject, Retry, TaskRevokedError, TimeLimitExceeded, WorkerLostError, formatTraceback, toExceptionRecord } from '../core/task-errors.js';
import type { AnyTask } from '../core/task.js';
import type { ResolvedTaskOptions } from '../core/task-options.js';
import { clipText, coerceError, LOG_TEXT_MAX, loggableError, readableError } from '../errors.js';
import { parseIsoTime } from '../protocol/time.js';
import type { Json, ResultTuple, TaskMessage } from '../protocol/types.js';
import { OUTCOME_TABLE, type AckPolicy, type OutcomeKind, type OutcomeRow } from './outcome-table.js';
import type { RunResult } from './pools/types.js';
import { signalNumber } from './revoked.js';
import { exceptionRepr } from './events/task-event-fields.js';
import { resultRepr } from './events/event-text.js';
import type { TaskEvent } from './task-events.js';

/** How a task message's life ended: its outcome, and what that outcome stores and reports. */
export interface Ending {
  readonly kind: OutcomeKind;
  /** What is stored: the return value, an exception record, a retry's cause; null when none. */
  readonly result: Json;
  /** The stored traceback (a failure's, a retry's reason); null when none. */
  readonly traceback: string | null;
  /** The error behind it (what the task threw, or a retry's cause) for events and logs; null on success. */
  readonly error: unknown;
  /** The result tuples of the follow-ups sent: the stored `children`. */
  readonly children: ResultTuple[];
  /** Its event went out already: a retry's, sent just before the retry's message (see {@link FollowUpContext.emit}). */
  readonly announced?: boolean;
}

/** Whom an ending concerns: a task message, with its task when known and its job's state once admitted. */
export interface Subject {
  readonly delivery: Delivery;
  readonly message: TaskMessage;
  readonly task: AnyTask | undefined;
  readonly ackedEarly: boolean;
  /** Epoch ms when the body started; null before. */
  readonly startedAt: number | null;
  /** The signal of a revoke-terminate (a `SIGXXX` name), once asked for. */
  readonly terminatedBy: string | null;
}

/** An ending that stores nothing but, for an error, why. */
export function ending(kind: OutcomeKind, error: unknown = null, traceback: string | null = null): Ending {
  return { kind, result: error === null ? null : (toExceptionRecord(error) as unknown as Json), traceback, error, children: [] };
}

/** No children: one shared list (endings are copied, never changed, when follow-ups add some). */
const NO_CHILDREN = Object.freeze([]) as unknown as ResultTuple[];

/**
 * A success, made by a constructor: an object literal here is an allocation site whose
 * tenuring decision V8 revises once the first fetches' endings are all alive at once, and the
 * executor's `run`, compiled against the first decision, was then dropped and compiled again.
 */
class Success implements Ending {
  readonly kind = 'success';
  readonly traceback = null;
  readonly error = null;
  constructor(
    readonly result: Json,
    readonly children: ResultTuple[],
  ) {}
}

/** The ending of a run, as the policy in force reads it (see {@link classifyError}). */
export function classifyRun(ran: RunResult, policy: AckPolicy, terminatedBy: string | null): Ending {
  if (ran === 'abandoned') {
    return policy.acksLate ? ending('abandoned-restored') : ending('abandoned', new WorkerLostError('worker shut down before the task finished'));
  }
  // Tasks the body sent with addToParent come first, then follow-ups (sendFollowUps).
  const sent = ran.children ?? NO_CHILDREN;
  if (ran.ok) return new Success(ran.value, sent);
  const e = classifyError(ran.error, policy, terminatedBy);
  return e.kind === 'failure' && sent.length > 0 ? { ...e, children: sent } : e;
}

/** The ending of a run that threw `error`: a control-flow error's own outcome, else a failure. */
export function classifyError(error: unknown, policy: AckPolicy, terminatedBy: string | null): Ending {
  if (error instanceof Retry) return { kind: 'retry', result: null, traceback: null, error, children: [] };
  if (error instanceof Reject) return { ...ending(error.requeue ? 'rejected-requeue' : 'rejected'), error };
  if (error instanceof Ignore) return { ...ending('ignored'), error };
  if (error instanceof TaskRevokedError && terminatedBy !== null) return ending('terminated', error);
  if (error instanceof WorkerLostError && policy.acksLate && policy.rejectOnWorkerLost && !policy.ackedEarly) {
    return { ...ending('worker-lost-requeued'), error };
  }
  const kind = error instanceof TimeLimitExceeded ? 'timeout' : error instanceof WorkerLostError ? 'worker-lost' : 'failure';
  // What the task threw is stored, logged and sent in events: it must read without throwing.
  const readable = kind === 'failure' ? readableError(error) : error;
  return ending(kind, readable, formatTraceback(readable));
}

/**
 * `e`'s ending once its state could not be stored because of `err`: a success whose value the
 * backend cannot encode ends as a failure, as Celery's tracer ends it (FAILURE EncodeError,
 * errbacks, task-failed); null for any other (a failure's own record: EncodeError stored in its place).
 */
export function unencodable(e: Ending, err: unknown): Ending | null {
  if (e.kind !== 'success' || !(err instanceof EncodeError)) return null;
  return { ...ending('unencodable', err, formatTraceback(err)), children: e.children };
}

/** The `expired` ending of a task whose `expires` passed by `now`, its id given to `remember` (kept as revoked, as Celery does); else null. */
export function expiredBy(message: TaskMessage, now: number, remember: (id: string) => void): Ending | null {
  const at = message.headers.expires;
  if (at === null || parseIsoTime(at) > now) return null;
  remember(message.headers.id);
  return ending('expired', new TaskRevokedError('expired'));
}

/** What sending follow-ups needs from the executor. */
export interface FollowUpContext {
  readonly app: App;
  readonly log: Logger;
  /** The worker's node name (the failed request new-style errbacks receive names it). */
  readonly hostname: string;
  /** The ack policy of the subject's task now. */
  policy(subject: Subject): AckPolicy;
  /**
   * Sends a task event. A retry's `task-retried` goes out just before its new message is
   * published, so the new delivery's `task-received` never overtakes it.
   */
  emit(event: TaskEvent): void;
}

/** True when the row has something to send for this message (most successes have nothing). */
export function followUpsDue(followUps: NonNullable<OutcomeRow['followUps']>, message: TaskMessage): boolean {
  return followUps !== 'callbacks' || !!message.embed.callbacks?.length || !!message.embed.chain?.length;
}

/**
 * Sends what goes before the state is stored; returns the ending to store: with its
 * children, or a failure when callbacks or a retry could not be sent (errbacks that cannot be
 * sent are only logged).
 */
export async function sendFollowUps(ctx: FollowUpContext, s: Subject, e: Ending, followUps: NonNullable<OutcomeRow['followUps']>): Promise<Ending> {
  const { app, log } = ctx;
  const h = s.message.headers;
  try {
    // A retry comes from a run, so its task is known.
    if (followUps === 'retry') return await publishRetry(ctx, s, s.task!.options, e.error as Retry);
    if (followUps === 'callbacks') return { ...e, children: [...e.children, ...(await sendSuccessFollowUps(app, s.message, e.result))] };
  } catch (err) {
    // As in Celery's tracer: a callback or retry that cannot be sent fails the task.
    log.error({ err: coerceError(err), taskId: h.id }, followUps === 'retry' ? 'could not publish the retry; failing the task' : 'failed to send callbacks');
    const failed = classifyError(err, ctx.policy(s), s.terminatedBy);
    const next = OUTCOME_TABLE[failed.kind].followUps;
    return next === null || !followUpsDue(next, s.message) ? failed : sendFollowUps(ctx, s, failed, next);
  }
  try {
    const { delivery, message } = s;
    const deliveryInfo = { exchange: '', routing_key: delivery.queue, priority: message.properties.priority, redelivered: delivery.redelivered };
    return { ...e, children: [...e.children, ...(await sendFailureFollowUps(app, message, { error: e.error, traceback: e.traceback, deliveryInfo, hostname: ctx.hostname }))] };
  } catch (err) {
    log.error({ err: coerceError(err), taskId: h.id }, 'failed to send errbacks');
    return e;
  }
}

/**
 * Publishes the retry (same id, retries + 1, new ETA, same queue unless the task named one,
 * same priority); the ending then stores RETRY with the cause and the retry's reason.
 */
async function publishRetry(ctx: FollowUpContext, s: Subject, options: ResolvedTaskOptions, retry: Retry): Promise<Ending> {
  const { app } = ctx;
  const { message, delivery } = s;
  const now = app.clock.now();
  const eta = retryEta(retry, options, message.headers.retries, now, app.random);
  const queue = retry.queue ?? delivery.queue;
  const next = buildRetryMessage(message, eta, now, ORIGIN);
  const out = { message: next, route: { queue, exchange: '', routingKey: queue }, priority: message.properties.priority, ...(eta > now ? { deliverAt: eta } : {}) };
  const cause = retry.exc === undefined ? null : (toExceptionRecord(retry.exc) as unknown as Json);
  const retried: Ending = { kind: 'retry', result: cause, traceback: retryText(retry, eta, now), error: retry.exc ?? retry, children: [resultTuple(message.headers.id)], announced: true };
  // The event goes out before the new message can reach a worker, so its task-received
  // cannot overtake task-retried (a worker may take it the moment it is published). Should the
  // publish fail for good, task-failed follows it.
  ctx.emit(eventOf('task-retried', s, retried, 0));
  await sendMessages(app, [out], { what: `send the retry of ${message.headers.task}[${message.headers.id}]` });
  return retried;
}

/** The event of a row, for this ending; `runtime` in seconds. */
export function eventOf(type: NonNullable<OutcomeRow['event']>, s: Subject, e: Ending, runtime: number): TaskEvent {
  const { message } = s;
  switch (type) {
    case 'task-succeeded':
      return { type, message, result: e.result, runtime };
    case 'task-failed':
      // Celery's task-failed for an unknown task carries no traceback (Consumer.on_unknown_task).
      return { type, message, error: e.error, traceback: e.kind === 'unregistered' ? null : (e.traceback ?? '') };
    case 'task-retried':
      return { type, message, error: e.error, traceback: e.traceback ?? '' };
    case 'task-revoked': {
      const terminated = e.kind === 'terminated' && s.terminatedBy !== null;
      return { type, message, expired: e.kind === 'expired', terminated, signum: terminated ? signalNumber(s.terminatedBy!) : null };
    }
    case 'task-rejected':
      return { type, message, requeue: e.kind === 'rejected-requeue' };
  }
}

/** Logs how the task ended, as Celery's worker does (a success at info level only when enabled). */
export function logEnding(log: Logger, s: Subject, e: Ending, runtime: number): void {
  const h = s.message.headers;
  if (e.kind === 'success') {
    // Every task passes here: build nothing unless the line is written.
    if (log.isLevelEnabled('info')) log.info({ taskId: h.id, taskName: h.task, runtime }, `Task ${h.task}[${h.id}] succeeded in ${runtime.toFixed(3)}s: ${resultRepr(e.result)}`);
    return;
  }
  const at = { taskId: h.id, taskName: h.task };
  const task = `Task ${h.task}[${h.id}]`;
  switch (e.kind) {
    case 'failure':
    case 'unencodable':
    case 'timeout':
    case 'worker-lost': {
      // Celery's LOG_FAILURE: `Task name[id] raised unexpected: ValueError('boom')`, then the traceback.
      log.error({ ...at, err: loggableError(e.error) }, `${task} raised unexpected: ${clipText(exceptionRepr(e.error), LOG_TEXT_MAX, 'this log line')}`);
      return;
    }
    case 'unregistered':
      log.error(at, `received unregistered task of type ${JSON.stringify(h.task)}; message rejected and FAILURE stored`);
      return;
    case 'revoked':
    case 'expired':
      log.info(at, `discarding ${e.kind} task`);
      return;
    case 'retry':
      log.info({ ...at, retries: h.retries + 1 }, `${task} retry: ${e.traceback ?? ''}`);
      return;
    case 'rejected':
    case 'rejected-requeue': {
      const reject = e.error as Reject;
      log.info({ ...at, requeue: reject.requeue }, `${task} rejected (requeue: ${reject.requeue})${reject.reason === null ? '' : `: ${reject.reason}`}`);
      return;
    }
    case 'ignored':
      log.info(at, `${task} ignored: ${coerceError(e.error).message}`);
      return;
    case 'terminated':
      log.warn({ ...at, signal: s.terminatedBy }, `${task} terminated (${s.terminatedBy ?? '?'}) by a revoke`);
      return;
    case 'worker-lost-requeued':
      log.warn(at, `${task} lost its worker; rejectOnWorkerLost: requeued`);
      return;
    default:
      // deferred, not-started, abandoned: the ack decision's reason says it (debug level).
      return;
  }
}
