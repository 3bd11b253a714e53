/**
 * @module core/task-options
 * Per-task options and their validation.
 */
import { CeleriacError, ErrorCodes } from '../errors.js';
import { priorityProblem, secondsProblem, timeLimitProblem } from '../protocol/limits.js';
import { parseRate, type RateLimit } from './rate.js';
import { isStandardSchema, type StandardSchemaV1 } from './standard-schema.js';
import { checkOptionNames, checkSerializer, describeGiven, nonEmptyString, objectOrNone } from './option-names.js';
import type { TaskRequest } from './request.js';
import { renameDeprecated, type RenameTable } from './deprecated-names.js';

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
  /** Hard time limit in seconds (Celery's `time_limit`); 0 or null: none. @default undefined (taskTimeLimitSec) */
  timeLimitSec?: number | null;
  /** Soft time limit in seconds (Celery's `soft_time_limit`); 0 or null: none. @default undefined (taskSoftTimeLimitSec) */
  softTimeLimitSec?: number | null;
  /**
   * Retry automatically when the task throws one of these error classes (`instanceof`), or
   * when this predicate returns true. `Retry`, `Reject` and `Ignore` are never auto-retried.
   * @default undefined (no automatic retry)
   */
  autoretryFor?: readonly ErrorClass[] | ((error: unknown) => boolean);
  /**
   * Errors `autoretryFor` covers that fail at once all the same (`instanceof`; Celery 5.3's
   * `dont_autoretry_for`): `autoretryFor: [HttpError], dontAutoretryFor: [NotFound]`.
   * @default undefined (none)
   */
  dontAutoretryFor?: readonly ErrorClass[];
  /** Most retries before the task fails; null retries forever. @default 3 */
  maxRetries?: number | null;
  /** Seconds before a retry when `ctx.retry()` gives neither countdown nor eta (Celery's `default_retry_delay`). @default 180 */
  defaultRetryDelaySec?: number;
  /**
   * With `autoretryFor`: exponential backoff, `base * 2 ** retries` seconds (`true` = base 1).
   * @default false
   */
  retryBackoff?: boolean | number;
  /** Cap of the backoff countdown in seconds (Celery's `retry_backoff_max`). @default 600 */
  retryBackoffMaxSec?: number;
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
  /**
   * Check each call's arguments against the function before it runs (and when sent with
   * `delay`/`applyAsync`): too few or too many fail with Python's TypeError text, as Celery's.
   * Turn off for a function with TypeScript optional parameters that have no default.
   * @default true
   */
  checkArity?: boolean;
  /**
   * A Standard Schema (zod, valibot, ArkType, TypeBox...) of the argument list (a tuple):
   * the worker validates the arguments before the body runs, and the body receives the
   * schema's output. Arguments that do not pass fail the task with `InvalidArguments`
   * (Python's ValueError). Types of `delay` and of the function follow the schema.
   * @default undefined
   */
  schema?: StandardSchemaV1;
  /** With `schema`: validate at `delay`/`applyAsync` too, so a bad call fails in the caller. @default false */
  validateOnSend?: boolean;
  /**
   * Seconds after sending past which a call of this task is not run (Celery's task-level
   * `expires`); a call's own `expires` wins. @default undefined (none)
   */
  expires?: number;
  /** Only `'json'` (safe content types only: docs/security.md); any other value is refused. @default 'json' */
  serializer?: 'json';
  /**
   * How the task is called when it is linked as an errback (`linkError`). `'request'`: Celery
   * 5's new-style errback, called in the worker where the linked task failed with
   * `(request, error, traceback, ...the signature's args)` (docs/canvas.md#errbacks); the task
   * cannot be `bind: true`. `'id'`: sent as a task with the failed task's id first.
   * @default 'id'
   */
  errbackStyle?: 'request' | 'id';
  /**
   * Called where the body ran once it returned (Celery's `Task.on_success`), before
   * `taskSuccess`. What it throws is logged and ignored, as for every hook.
   */
  onSuccess?: (result: unknown, request: TaskRequest) => void | Promise<void>;
  /** Called where the body ran once it failed (`Task.on_failure`), before `taskFailure`. */
  onFailure?: (error: unknown, request: TaskRequest) => void | Promise<void>;
  /** Called where the body ran when it asked for a retry (`Task.on_retry`); `reason` is the Retry. */
  onRetry?: (reason: unknown, request: TaskRequest) => void | Promise<void>;
  /** Called after every run, whatever the outcome (`Task.after_return`), before `taskPostrun`. */
  after?: (state: 'SUCCESS' | 'FAILURE' | 'RETRY' | 'IGNORED' | 'REJECTED', retval: unknown, request: TaskRequest) => void | Promise<void>;
  // Names of 0.1 that say no unit: still read, with one DeprecationWarning each.
  /** @deprecated Use `timeLimitSec` (seconds, as before). */
  timeLimit?: number | null;
  /** @deprecated Use `softTimeLimitSec` (seconds, as before). */
  softTimeLimit?: number | null;
  /** @deprecated Use `defaultRetryDelaySec` (seconds, as before). */
  defaultRetryDelay?: number;
  /** @deprecated Use `retryBackoffMaxSec` (seconds, as before). */
  retryBackoffMax?: number;
}

/** The names {@link TaskOptions} has. */
const TASK_OPTION_NAMES: ReadonlySet<string> = new Set([
  'bind', 'params', 'queue', 'priority', 'acksLate', 'acksOnFailureOrTimeout', 'ignoreResult', 'trackStarted', 'timeLimitSec',
  'softTimeLimitSec', 'autoretryFor', 'dontAutoretryFor', 'maxRetries', 'defaultRetryDelaySec', 'retryBackoff', 'retryBackoffMaxSec', 'retryJitter',
  'rateLimit', 'clusterRateLimit', 'rejectOnWorkerLost', 'checkArity', 'schema', 'validateOnSend', 'errbackStyle', 'expires', 'serializer',
  'onSuccess', 'onFailure', 'onRetry', 'after',
]);

/** Celery task options with no Celeriac counterpart, and why. */
const TASK_OPTIONS_WITHOUT_EQUIVALENT: Readonly<Record<string, string>> = {
  base: 'a task is a function, not a class; put shared behaviour in a function the task calls',
  name: 'the name is the first argument of app.task',
  typing: 'arguments are always checked against the function (turn off with checkArity: false)',
  shared: 'tasks belong to the app they are defined on',
  lazy: 'tasks are registered when app.task runs',
  throws: 'every failure is logged with its traceback',
  storeErrorsEvenIfIgnored: 'a task with ignoreResult stores nothing',
  sendEvents: 'task events are the worker\'s choice (-E, setting workerSendTaskEvents)',
  resultSerializer: 'results are stored as JSON',
  compression: 'messages are not compressed',
  backend: 'the app has one result backend (setting backend)',
  afterReturn: 'the hook is named `after` here: after(state, retval, request)',
  retryKwargs: 'give autoretryFor\'s retries as options of the task: maxRetries, defaultRetryDelaySec, retryBackoff',
  trail: 'a task\'s children are always stored with its result',
  autoregister: 'app.task registers the task; nothing else does',
  abstract: 'a task is a function, not a class to derive from',
  requestStack: 'the running task\'s request is ctx.request, or currentTask() outside the body',
  resultreprMaxsize: 'a result\'s repr in logs and events is cut at 1024 characters, as Celery\'s default',
  storeEagerResult: 'an eager run\'s result lives in its EagerResult only, never in the result backend',
  shadowName: 'give a shadow name per call: applyAsync(args, kwargs, { shadow })',
  pydantic: 'validate arguments with the option schema (a Standard Schema: zod, valibot, arktype...)',
  pydanticStrict: 'validate arguments with the option schema (a Standard Schema: zod, valibot, arktype...)',
  pydanticContext: 'validate arguments with the option schema (a Standard Schema: zod, valibot, arktype...)',
  pydanticDumpKwargs: 'validate arguments with the option schema (a Standard Schema: zod, valibot, arktype...)',
};

/** Task option names of 0.1 that say no unit, read as their names now with one warning each. */
const DEPRECATED_TASK_OPTIONS: RenameTable = {
  timeLimit: { now: 'timeLimitSec', unit: 'seconds' },
  softTimeLimit: { now: 'softTimeLimitSec', unit: 'seconds' },
  defaultRetryDelay: { now: 'defaultRetryDelaySec', unit: 'seconds' },
  retryBackoffMax: { now: 'retryBackoffMaxSec', unit: 'seconds' },
};

/** Task options after validation, frozen; the deprecated names are read as their names now. */
export type ResolvedTaskOptions = Readonly<TaskOptions & { bind: boolean }>;

/** The options that are true or false (or left out). */
const BOOLEAN_TASK_OPTIONS = [
  'bind', 'acksLate', 'acksOnFailureOrTimeout', 'ignoreResult', 'trackStarted', 'retryJitter', 'rejectOnWorkerLost', 'checkArity', 'validateOnSend',
] as const;

/** Validates and freezes task options (null: none). */
export function resolveTaskOptions(name: string, given: TaskOptions | null): ResolvedTaskOptions {
  const fail = (what: string) => new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `Task ${JSON.stringify(name)}: ${what}`);
  if (typeof name !== 'string' || name === '') throw fail('a task needs a non-empty string name');
  let options: TaskOptions;
  try {
    options = renameDeprecated(objectOrNone(given, 'options'), DEPRECATED_TASK_OPTIONS, 'task option');
  } catch (err) {
    throw fail((err as Error).message);
  }
  checkOptionNames(`Task ${JSON.stringify(name)}`, options, TASK_OPTION_NAMES, TASK_OPTIONS_WITHOUT_EQUIVALENT);
  checkSerializer(`Task ${JSON.stringify(name)}`, options.serializer);
  // One rule for every limit (protocol/limits.ts): what is accepted here is sent, and runs.
  const problems: [string, string | null][] = [
    ['expires', options.expires === undefined ? null : secondsProblem(options.expires)],
    ['timeLimitSec', timeLimitProblem(options.timeLimitSec)],
    ['softTimeLimitSec', timeLimitProblem(options.softTimeLimitSec)],
    ['priority', options.priority === undefined ? null : priorityProblem(options.priority)],
  ];
  for (const [key, problem] of problems) if (problem !== null) throw fail(`${key} ${problem}`);
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
  if (options.schema !== undefined && !isStandardSchema(options.schema)) {
    throw fail('schema must implement Standard Schema v1 (zod, valibot, ArkType, TypeBox...): it has no `~standard` with version 1');
  }
  if (options.errbackStyle !== undefined && options.errbackStyle !== 'request' && options.errbackStyle !== 'id') throw fail("errbackStyle must be 'request' or 'id'");
  if (options.errbackStyle === 'request' && options.bind === true) throw fail("a new-style errback (errbackStyle: 'request') is called with (request, error, traceback), not a context: drop bind");
  for (const key of ['onSuccess', 'onFailure', 'onRetry', 'after'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'function') throw fail(`${key} must be a function`);
  }
  if (options.params !== undefined && !(Array.isArray(options.params) && options.params.every((p) => typeof p === 'string'))) {
    throw fail('params must be a list of parameter names');
  }
  for (const key of BOOLEAN_TASK_OPTIONS) {
    if (options[key] !== undefined && typeof options[key] !== 'boolean') throw fail(`${key} must be true or false, got ${describeGiven(options[key])}`);
  }
  if (options.queue !== undefined) nonEmptyString(options.queue, `Task ${JSON.stringify(name)}: queue`);
  return Object.freeze({ ...options, bind: options.bind ?? false });
}

function checkRetryOptions(options: TaskOptions, fail: (what: string) => CeleriacError): void {
  const a = options.autoretryFor;
  if (a !== undefined && typeof a !== 'function' && !(Array.isArray(a) && a.every((c) => typeof c === 'function'))) {
    throw fail('autoretryFor must be a list of error classes or a predicate');
  }
  const d = options.dontAutoretryFor;
  if (d !== undefined && !(Array.isArray(d) && d.every((c) => typeof c === 'function'))) throw fail('dontAutoretryFor must be a list of error classes');
  const m = options.maxRetries;
  if (m !== undefined && m !== null && !(Number.isInteger(m) && m >= 0)) throw fail('maxRetries must be an integer >= 0 or null');
  for (const key of ['defaultRetryDelaySec', 'retryBackoffMaxSec'] as const) {
    const v = options[key];
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= 0)) throw fail(`${key} must be a number of seconds >= 0`);
  }
  const b = options.retryBackoff;
  if (b !== undefined && typeof b !== 'boolean' && !(typeof b === 'number' && Number.isFinite(b) && b >= 0)) {
    throw fail('retryBackoff must be a boolean or base seconds >= 0');
  }
}
