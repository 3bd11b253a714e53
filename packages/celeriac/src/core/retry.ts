/**
 * @module core/retry
 * Retry decisions and the retry message, pure (time and randomness are passed in), shared by
 * the worker and eager mode. Mirrors Celery 5.2.6 (docs/protocol.md §8.1): the same task id
 * is published again with `retries` + 1 and a new ETA; once `retries` would pass `maxRetries`
 * the task fails with the error that caused the retry (or MaxRetriesExceededError).
 */
import type { Json, TaskMessage } from '../protocol/types.js';
import { isoformatUtc, parseIsoTime } from '../protocol/time.js';
import { CeleriacError, ErrorCodes } from '../errors.js';
import type { TimeInput } from './call-options.js';
import type { RetryOptions, TaskRequest } from './context.js';

export type { RetryOptions } from './context.js';
import { Ignore, MaxRetriesExceededError, Reject, Retry, describeError, type RetryBackoff } from './task-errors.js';
import type { ResolvedTaskOptions } from './task-options.js';
import { checkOptionNames, describeGiven, nonEmptyString, objectOrNone } from './option-names.js';

/** Celery's `max_retries` default. */
export const DEFAULT_MAX_RETRIES = 3;
/** Celery's `default_retry_delay` (seconds). */
export const DEFAULT_RETRY_DELAY_SEC = 180;
/** Celery's `retry_backoff_max` (seconds). */
export const DEFAULT_RETRY_BACKOFF_MAX_SEC = 600;

/** What a retry decision needs to know about the task. */
export interface RetryingTask {
  readonly name: string;
  readonly options: ResolvedTaskOptions;
}

/** True for the errors a task throws to steer the worker rather than to fail. */
export function isControlFlow(error: unknown): boolean {
  return error instanceof Retry || error instanceof Reject || error instanceof Ignore;
}

function toEpochMs(value: TimeInput): number {
  const ms = value instanceof Date ? value.getTime() : typeof value === 'number' ? value : parseIsoTime(value);
  if (!Number.isFinite(ms)) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `retry: eta is not a valid time: ${String(value)}`);
  return ms;
}

/** The names {@link RetryOptions} has. */
const RETRY_OPTION_NAMES: ReadonlySet<string> = new Set(['exc', 'countdown', 'eta', 'maxRetries', 'queue']);

/**
 * What `ctx.retry()` does: throws a {@link Retry}, or, when `retries + 1` would pass the
 * max, the `exc` given (or MaxRetriesExceededError), so the run fails with it.
 */
export function requestRetry(task: RetryingTask, request: TaskRequest, given: RetryOptions | null = {}): never {
  const options: RetryOptions = objectOrNone(given, 'retry: options');
  checkOptionNames('retry', options, RETRY_OPTION_NAMES);
  const { countdown, eta } = options;
  const bad = (what: string, value: unknown) => new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `retry: ${what}, got ${describeGiven(value)}`);
  if (countdown !== undefined && !(typeof countdown === 'number' && Number.isFinite(countdown) && countdown >= 0)) throw bad('countdown must be a number >= 0', countdown);
  // A maxRetries of 'x' compared false with every count: the task retried for ever.
  const m = options.maxRetries;
  if (m !== undefined && m !== null && !(Number.isInteger(m) && m >= 0)) throw bad('maxRetries must be a whole number >= 0, or null for no limit', m);
  if (options.queue !== undefined) nonEmptyString(options.queue, 'retry: queue');
  // null means "forever", so `??` (which treats null as unset) must not be used here.
  const own = task.options.maxRetries === undefined ? DEFAULT_MAX_RETRIES : task.options.maxRetries;
  const max = options.maxRetries === undefined ? own : options.maxRetries;
  if (max !== null && request.retries + 1 > max) {
    if (options.exc !== undefined) throw options.exc;
    throw new MaxRetriesExceededError(
      `Can't retry ${task.name}[${request.id}] args:${JSON.stringify(request.args)} kwargs:${JSON.stringify(request.kwargs)}`,
    );
  }
  throw new Retry({ exc: options.exc, countdown: countdown ?? null, eta: eta === undefined ? null : toEpochMs(eta), queue: options.queue ?? null });
}

/** True when `error` is one `autoretryFor` names and `dontAutoretryFor` does not (control-flow errors never are). */
export function shouldAutoretry(spec: ResolvedTaskOptions['autoretryFor'], error: unknown, except?: ResolvedTaskOptions['dontAutoretryFor']): boolean {
  if (spec === undefined || isControlFlow(error)) return false;
  if (except?.some((cls) => error instanceof cls) === true) return false;
  if (typeof spec === 'function') return spec(error);
  return spec.some((cls) => error instanceof cls);
}

/**
 * `autoretryFor` after the task threw `error`: the Retry to perform (with the task's
 * backoff), or the error to fail with once retries run out. Returns `error` unchanged when
 * `autoretryFor` does not cover it.
 */
export function autoRetry(task: RetryingTask, request: TaskRequest, error: unknown): unknown {
  if (!shouldAutoretry(task.options.autoretryFor, error, task.options.dontAutoretryFor)) return error;
  const o = task.options;
  const backoff: RetryBackoff | null =
    o.retryBackoff === undefined || o.retryBackoff === false
      ? null
      : { factor: o.retryBackoff === true ? 1 : o.retryBackoff, maxSec: o.retryBackoffMaxSec ?? DEFAULT_RETRY_BACKOFF_MAX_SEC, jitter: o.retryJitter ?? true };
  try {
    requestRetry(task, request, { exc: error });
  } catch (thrown) {
    if (thrown instanceof Retry && backoff !== null) return new Retry({ exc: error, backoff });
    return thrown;
  }
  return error;
}

/**
 * Celery's exponential backoff: `min(max, factor * 2 ** retries)` seconds, then with full
 * jitter a whole number drawn uniformly from [0, that]. `random` returns [0, 1).
 */
export function backoffCountdown(backoff: RetryBackoff, retries: number, random: () => number): number {
  const countdown = Math.min(backoff.maxSec, backoff.factor * 2 ** retries);
  if (!backoff.jitter) return Math.max(0, countdown);
  return Math.max(0, Math.floor(random() * (Math.floor(countdown) + 1)));
}

/** Epoch ms at which the retry is due. `retries` is the count of the run that asked (request.retries). */
export function retryEta(retry: Retry, options: ResolvedTaskOptions, retries: number, now: number, random: () => number): number {
  if (retry.eta !== null) return retry.eta;
  if (retry.countdown !== null) return now + retry.countdown * 1000;
  if (retry.backoff !== null) return now + backoffCountdown(retry.backoff, retries, random) * 1000;
  return now + (options.defaultRetryDelaySec ?? DEFAULT_RETRY_DELAY_SEC) * 1000;
}

/** The traceback text stored with RETRY, as Celery's `str(Retry)`: `Retry in 5s: KeyError('k')`. */
export function retryText(retry: Retry, eta: number, now: number): string {
  const when = retry.eta !== null ? `at ${isoformatUtc(eta)}` : `in ${Math.round((eta - now) / 10) / 100}s`;
  return retry.exc === undefined ? `Retry ${when}` : `Retry ${when}: ${describeError(retry.exc)}`;
}

/**
 * The message a retry publishes: the same id, args, kwargs, embed, reply_to and custom
 * headers (Celery 5.3+'s `stamped_headers`/`stamps` among them); `retries` + 1, `eta`,
 * `parent_id` = the task's own id, `origin` = this process; and the two properties Celery
 * 5.2.6 adds (`replaced_task_nesting`, `origin` of the sender). A message that carries
 * `replaced_task_nesting` as a header (Celery 5.3+) keeps it there and gets no property, so
 * the header is never shadowed by a property 0 (core/replace-seam.ts reads the property first).
 */
export function buildRetryMessage(message: TaskMessage, eta: number, now: number, origin: string): TaskMessage {
  const h = message.headers;
  const { correlation_id, reply_to, expiration: _expiration, replaced_task_nesting: nesting, origin: _origin, ...props } = message.properties;
  const expires = h.expires === null ? null : parseIsoTime(h.expires);
  const { redelivered: _redelivered, ...headers } = h;
  const nestingInHeader = nesting === undefined && Object.prototype.hasOwnProperty.call(message.extraHeaders, 'replaced_task_nesting');
  return {
    protocol: 2,
    headers: { ...headers, eta: isoformatUtc(eta), retries: h.retries + 1, parent_id: h.id, origin },
    extraHeaders: { ...message.extraHeaders },
    properties: {
      // Celery's order: its two extra properties right after reply_to.
      correlation_id,
      reply_to,
      ...(nestingInHeader ? {} : { replaced_task_nesting: (nesting ?? 0) as Json }),
      origin: h.origin,
      ...props,
      ...(expires === null ? {} : { expiration: String(Math.max(0, Math.round(expires - now))) }),
    },
    args: message.args,
    kwargs: message.kwargs,
    embed: message.embed,
  };
}
