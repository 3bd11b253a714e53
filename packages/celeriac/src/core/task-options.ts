/**
 * @module core/task-options
 * Per-task options and their validation.
 */
import { CeleriacError, ErrorCodes } from '../errors.js';
import { parseRate, type RateLimit } from './rate.js';

/** An error class (as listed in `autoretryFor`). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ErrorClass = abstract new (...args: any[]) => unknown;

/** Per-task options. Each unset field falls back to the app setting of the same meaning. */
export interface TaskOptions {
  /** Pass the task context as the function's first argument. @default false */
  bind?: boolean;
  /**
   * Names of the function's positional parameters, so keyword arguments (from Python's
   * `delay(x=1)` or `applyAsync(args, { kwargs })`) land in the right position.
   * Without it, a message carrying kwargs fails with TypeError. @default undefined
   */
  params?: readonly string[];
  /** Queue this task is sent to unless the call names one. @default undefined (routes, then taskDefaultQueue) */
  queue?: string;
  /** Default priority 0-9 for calls of this task. @default undefined (taskDefaultPriority) */
  priority?: number;
  /** Ack after running. @default undefined (taskAcksLate) */
  acksLate?: boolean;
  /** With late acks, ack failures and timeouts. @default undefined (taskAcksOnFailureOrTimeout) */
  acksOnFailureOrTimeout?: boolean;
  /** Store no result. @default undefined (taskIgnoreResult) */
  ignoreResult?: boolean;
  /** Store STARTED when it begins. @default undefined (taskTrackStarted) */
  trackStarted?: boolean;
  /** Hard time limit in seconds. @default undefined (taskTimeLimit) */
  timeLimit?: number;
  /** Soft time limit in seconds. @default undefined (taskSoftTimeLimit) */
  softTimeLimit?: number;
  /**
   * Retry automatically when the task throws one of these error classes (`instanceof`), or
   * when this predicate returns true. `Retry`, `Reject` and `Ignore` are never auto-retried.
   * @default undefined (no automatic retry)
   */
  autoretryFor?: readonly ErrorClass[] | ((error: unknown) => boolean);
  /** Most retries before the task fails; null retries forever. @default 3 */
  maxRetries?: number | null;
  /** Seconds before a retry when `ctx.retry()` gives neither countdown nor eta. @default 180 */
  defaultRetryDelay?: number;
  /**
   * With `autoretryFor`: exponential backoff, `base * 2 ** retries` seconds (`true` = base 1).
   * @default false
   */
  retryBackoff?: boolean | number;
  /** Cap of the backoff countdown in seconds. @default 600 */
  retryBackoffMax?: number;
  /** Full jitter: the backoff countdown is a random whole number in [0, countdown]. @default true */
  retryJitter?: boolean;
  /**
   * Most runs per worker, as Celery's `rate_limit`: `'10/s'`, `'100/m'`, `'1000/h'` or a
   * number per second; null or 0 for none. @default undefined (taskDefaultRateLimit)
   */
  rateLimit?: RateLimit | null;
  /**
   * Most runs across every worker together, enforced in the result backend (Redis: one Lua
   * script). Same forms as `rateLimit`. Celeriac only. @default undefined (none)
   */
  clusterRateLimit?: RateLimit;
  /**
   * With late acks, requeue the message when the process running the task is lost
   * (WorkerLostError) instead of storing FAILURE. @default undefined (taskRejectOnWorkerLost)
   */
  rejectOnWorkerLost?: boolean;
}

/** Task options after validation, frozen. */
export type ResolvedTaskOptions = Readonly<TaskOptions & { bind: boolean }>;

/** Validates and freezes task options. */
export function resolveTaskOptions(name: string, options: TaskOptions): ResolvedTaskOptions {
  const fail = (what: string) => new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `Task ${JSON.stringify(name)}: ${what}`);
  if (typeof name !== 'string' || name === '') throw fail('a task needs a non-empty string name');
  for (const key of ['timeLimit', 'softTimeLimit'] as const) {
    const v = options[key];
    if (v !== undefined && !(typeof v === 'number' && v > 0)) throw fail(`${key} must be a positive number of seconds`);
  }
  if (options.priority !== undefined && !(Number.isInteger(options.priority) && options.priority >= 0 && options.priority <= 9)) {
    throw fail('priority must be an integer from 0 to 9');
  }
  checkRetryOptions(options, fail);
  for (const key of ['rateLimit', 'clusterRateLimit'] as const) {
    const v = options[key];
    if (v === undefined || v === null) continue;
    try {
      parseRate(v);
    } catch (err) {
      throw fail(`${key}: ${(err as Error).message}`);
    }
  }
  if (options.params !== undefined && !options.params.every((p) => typeof p === 'string')) {
    throw fail('params must be a list of parameter names');
  }
  return Object.freeze({ ...options, bind: options.bind ?? false });
}

function checkRetryOptions(options: TaskOptions, fail: (what: string) => CeleriacError): void {
  const a = options.autoretryFor;
  if (a !== undefined && typeof a !== 'function' && !(Array.isArray(a) && a.every((c) => typeof c === 'function'))) {
    throw fail('autoretryFor must be a list of error classes or a predicate');
  }
  const m = options.maxRetries;
  if (m !== undefined && m !== null && !(Number.isInteger(m) && m >= 0)) throw fail('maxRetries must be an integer >= 0 or null');
  for (const key of ['defaultRetryDelay', 'retryBackoffMax'] as const) {
    const v = options[key];
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= 0)) throw fail(`${key} must be a number of seconds >= 0`);
  }
  const b = options.retryBackoff;
  if (b !== undefined && typeof b !== 'boolean' && !(typeof b === 'number' && Number.isFinite(b) && b >= 0)) {
    throw fail('retryBackoff must be a boolean or base seconds >= 0');
  }
}
