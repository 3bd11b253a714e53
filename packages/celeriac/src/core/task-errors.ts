/**
 * @module core/task-errors
 * Errors about tasks and their results, and the two-way mapping between JavaScript errors
 * and Celery's exception records (`{exc_type, exc_message, exc_module}`, docs/protocol.md
 * §3.2), so an error crosses between Python and TypeScript with its type and message.
 */
import { CeleriacError, ErrorCodes, brandClass, readableError } from '../errors.js';
import { jsonText } from '../protocol/repr.js';
import type { ExceptionRecord, Json } from '../protocol/types.js';

/** Python's builtin exception names: reported with module `builtins` so Python callers get the real class. */
const PY_BUILTINS = new Set([
  'Exception', 'ArithmeticError', 'AssertionError', 'AttributeError', 'EOFError', 'IndexError', 'KeyError',
  'LookupError', 'MemoryError', 'NameError', 'NotImplementedError', 'OSError', 'OverflowError', 'RecursionError',
  'RuntimeError', 'TimeoutError', 'TypeError', 'ValueError', 'ZeroDivisionError', 'ConnectionError',
  'FileNotFoundError', 'PermissionError', 'UnicodeError', 'KeyboardInterrupt', 'SystemExit',
]);

/** Errors that carry their own wire identity (Celery's exception classes). */
interface WireIdentity {
  excType: string;
  excModule: string | null;
  excArgs?: Json[];
}

function hasWireIdentity(err: unknown): err is Error & WireIdentity {
  return err instanceof Error && typeof (err as Partial<WireIdentity>).excType === 'string';
}

/**
 * An error stored by a task that failed (in any language), rebuilt from its exception
 * record. `name` is the remote type (`ValueError`), so `err.name === 'ValueError'` works.
 */
export class TaskError extends CeleriacError implements WireIdentity {
  readonly excType: string;
  readonly excModule: string | null;
  readonly excArgs: Json[];
  /** The remote traceback text, when the worker stored one. */
  readonly traceback: string | null;
  /** Id of the task that failed. */
  readonly taskId: string;

  constructor(record: ExceptionRecord, taskId: string, traceback: string | null) {
    const args = Array.isArray(record.exc_message) ? record.exc_message : [record.exc_message];
    // Each argument as JSON, or as its repr when JSON cannot write it: get() rejected with a
    // TypeError for a Python int past 2**53 (a bigint), and with a RangeError for an argument
    // some thousands of levels deep (a foreign writer's), instead of the task's error.
    const text = args.length === 1 && typeof args[0] === 'string' ? args[0] : args.map((a) => jsonText(a)).join(', ');
    super(ErrorCodes.TASK_FAILED, text);
    this.name = record.exc_type;
    this.excType = record.exc_type;
    this.excModule = record.exc_module;
    this.excArgs = args;
    this.traceback = traceback;
    this.taskId = taskId;
  }
}

/** Base of errors that mirror a Celery exception class by name and module. */
abstract class CeleryMirrorError extends CeleriacError implements WireIdentity {
  abstract readonly excType: string;
  abstract readonly excModule: string | null;
  get excArgs(): Json[] {
    return [this.message];
  }
}

/**
 * A task's arguments did not pass its `schema`. Stored as Python's `ValueError` (so a Python
 * caller gets one); `issues` are the schema's own.
 */
export class InvalidArguments extends CeleryMirrorError {
  readonly excType = 'ValueError';
  readonly excModule = 'builtins';
  constructor(
    message: string,
    readonly issues: readonly { readonly message: string; readonly path?: readonly unknown[] | undefined }[],
  ) {
    super(ErrorCodes.INVALID_ARGUMENT, message);
  }
}

/** A message named a task this worker does not know. Stored as Celery's `NotRegistered`. */
export class NotRegistered extends CeleryMirrorError {
  readonly excType = 'NotRegistered';
  readonly excModule = 'celery.exceptions';
  constructor(readonly taskName: string) {
    super(ErrorCodes.NOT_REGISTERED, taskName);
  }
  override get excArgs(): Json[] {
    return [this.taskName];
  }
}

/** A task was revoked: `reason` is 'revoked', 'expired' or 'terminated'. */
export class TaskRevokedError extends CeleryMirrorError {
  readonly excType = 'TaskRevokedError';
  readonly excModule = 'celery.exceptions';
  constructor(readonly reason: string) {
    super(ErrorCodes.REVOKED, reason);
  }
}

/** The worker stopped before the task finished. Celery's `WorkerLostError`. */
export class WorkerLostError extends CeleryMirrorError {
  readonly excType = 'WorkerLostError';
  readonly excModule = 'billiard.exceptions';
  constructor(message: string) {
    super(ErrorCodes.WORKER_LOST, message);
  }
}

/**
 * A value could not be passed on: kombu's `EncodeError`, as a worker stores it for a result it
 * cannot encode (result-writer.ts). Raised when `postMessage`'s structured clone refuses what
 * goes between the worker and a pool child (a message, result, error or state meta nested some
 * thousands of levels deep).
 */
export class EncodeError extends CeleryMirrorError {
  readonly excType = 'EncodeError';
  readonly excModule = 'kombu.exceptions';
  constructor(message: string) {
    super(ErrorCodes.PROTOCOL, message);
  }
}

/**
 * A chord could not call its body: a header part failed or was revoked (`Dependency <id>
 * raised ...`), or the body could not be sent. Stored as the body's FAILURE, as Celery's
 * `celery.exceptions.ChordError`.
 */
export class ChordError extends CeleryMirrorError {
  readonly excType = 'ChordError';
  readonly excModule = 'celery.exceptions';
  constructor(message: string) {
    super(ErrorCodes.TASK_FAILED, message);
  }
}

/**
 * Celery's `ImproperlyConfigured`: a canvas used in a way Celery refuses (replacing a task
 * with an empty chain, or with a signature that is part of a chord). Crosses to Python as
 * `celery.exceptions.ImproperlyConfigured`.
 */
export class ImproperlyConfigured extends CeleryMirrorError {
  readonly excType = 'ImproperlyConfigured';
  readonly excModule = 'celery.exceptions';
  constructor(message: string) {
    super(ErrorCodes.INVALID_ARGUMENT, message);
  }
}

/** `AsyncResult.get()` gave up waiting. */
export class ResultTimeoutError extends CeleriacError {
  constructor(readonly taskId: string, readonly timeoutMs: number) {
    super(ErrorCodes.TIMEOUT, `Result of task ${taskId} not ready after ${timeoutMs} ms`);
  }
}

/** Builds the exception record stored for an error thrown by a task. */
export function toExceptionRecord(thrown: unknown): ExceptionRecord {
  if (hasWireIdentity(thrown)) {
    return { exc_type: thrown.excType, exc_message: thrown.excArgs ?? [thrown.message], exc_module: thrown.excModule };
  }
  const err = readableError(thrown);
  // `class ValueError extends Error {}` keeps name 'Error'; Python reports the class name.
  const ctorName = Object.getPrototypeOf(err)?.constructor?.name as string | undefined;
  const own = err.name !== 'Error' && err.name !== '' ? err.name : ctorName && ctorName !== 'Error' ? ctorName : 'Exception';
  const name = own;
  return { exc_type: name, exc_message: [err.message], exc_module: PY_BUILTINS.has(name) ? 'builtins' : null };
}

/** A text traceback for a thrown value, as stored beside the exception record. */
export function formatTraceback(thrown: unknown): string {
  const err = readableError(thrown);
  return err.stack ?? `${err.name}: ${err.message}`;
}

/** Rebuilds an error from a stored exception record. */
export function fromExceptionRecord(record: ExceptionRecord, taskId: string, traceback: string | null): Error {
  if (record.exc_type === 'TaskRevokedError') {
    const reason = Array.isArray(record.exc_message) ? String(record.exc_message[0] ?? 'revoked') : String(record.exc_message);
    return new TaskRevokedError(reason);
  }
  if (record.exc_type === 'ChordError' && Array.isArray(record.exc_message) && typeof record.exc_message[0] === 'string') {
    return new ChordError(record.exc_message[0]);
  }
  return new TaskError(record, taskId, traceback);
}

/** The soft time limit passed: `ctx.signal` aborts with this as its reason. */
export class SoftTimeLimitExceeded extends CeleryMirrorError {
  readonly excType = 'SoftTimeLimitExceeded';
  readonly excModule = 'billiard.exceptions';
  constructor(readonly limitSec: number) {
    super(ErrorCodes.SOFT_TIME_LIMIT, `Soft time limit (${limitSec}s) exceeded`);
  }
  override get excArgs(): Json[] {
    return [this.limitSec];
  }
}

/** The hard time limit passed: the task fails and its slot is freed. */
export class TimeLimitExceeded extends CeleryMirrorError {
  readonly excType = 'TimeLimitExceeded';
  readonly excModule = 'billiard.exceptions';
  constructor(readonly limitSec: number) {
    super(ErrorCodes.TIME_LIMIT, `Time limit (${limitSec}s) exceeded`);
  }
  override get excArgs(): Json[] {
    return [this.limitSec];
  }
}

/**
 * Thrown by `ctx.retry()` (and by `autoretryFor`) to end this run and run the task again
 * later: the worker publishes the same task id with `retries` + 1 and a new ETA, stores
 * RETRY and acks this message. Not a failure; never stored as the task's error.
 */
export class Retry extends CeleryMirrorError {
  readonly excType = 'Retry';
  readonly excModule = 'celery.exceptions';
  /** The error that caused the retry, stored with the RETRY state (and raised when retries run out). */
  readonly exc: unknown;
  /** Seconds from now, when the caller gave a countdown. */
  readonly countdown: number | null;
  /** Epoch ms, when the caller gave an ETA. */
  readonly eta: number | null;
  /** Exponential backoff asked for by `retryBackoff` (autoretry only); resolved by the worker. */
  readonly backoff: RetryBackoff | null;
  /** Queue to send the retry to, when not the one the task came from. */
  readonly queue: string | null;

  constructor(options: { exc?: unknown; countdown?: number | null; eta?: number | null; backoff?: RetryBackoff | null; queue?: string | null } = {}) {
    super(ErrorCodes.RETRY, retryText(options));
    this.exc = options.exc;
    this.countdown = options.countdown ?? null;
    this.eta = options.eta ?? null;
    this.backoff = options.backoff ?? null;
    this.queue = options.queue ?? null;
  }
}

/** Celery's `retry_backoff` inputs, resolved into a countdown by the worker (it holds the randomness). */
export interface RetryBackoff {
  /** Base seconds: the countdown is `factor * 2 ** retries`. */
  readonly factor: number;
  /** Cap in seconds. */
  readonly maxSec: number;
  /** Full jitter: a random whole number of seconds in [0, countdown]. */
  readonly jitter: boolean;
}

function retryText(options: { exc?: unknown; countdown?: number | null; eta?: number | null }): string {
  const when = options.eta != null ? `at ${new Date(options.eta).toISOString()}` : options.countdown != null ? `in ${options.countdown}s` : 'later';
  return options.exc === undefined ? `Retry ${when}` : `Retry ${when}: ${describeError(options.exc)}`;
}

/** `Name('message')`, as Python's repr of an exception reads. */
export function describeError(thrown: unknown): string {
  const record = toExceptionRecord(thrown);
  const args = Array.isArray(record.exc_message) ? record.exc_message : [record.exc_message];
  return `${record.exc_type}(${args.map((a) => (typeof a === 'string' ? `'${a}'` : JSON.stringify(a))).join(', ')})`;
}

/**
 * Thrown by a task to give its message up: with `requeue` the message goes back to its
 * queue (marked redelivered) to run again, without it the message is dropped. No state is
 * stored (as Celery 5.2.6). Requeue needs late acks: an early-acked message is already gone.
 */
export class Reject extends CeleryMirrorError {
  readonly excType = 'Reject';
  readonly excModule = 'celery.exceptions';
  readonly requeue: boolean;
  readonly reason: string | null;

  constructor(options: { reason?: string; requeue?: boolean } = {}) {
    super(ErrorCodes.REJECT, `reject requeue=${options.requeue ?? false}: ${options.reason ?? ''}`);
    this.requeue = options.requeue ?? false;
    this.reason = options.reason ?? null;
  }
}

/** Thrown by a task to end this run without storing any state; the message is acked. */
export class Ignore extends CeleryMirrorError {
  readonly excType = 'Ignore';
  readonly excModule = 'celery.exceptions';
  constructor(reason = 'ignored') {
    super(ErrorCodes.IGNORE, reason);
  }
}

/** `ctx.retry()` past `maxRetries` without an `exc` to fail with. Celery's `MaxRetriesExceededError`. */
export class MaxRetriesExceededError extends CeleryMirrorError {
  readonly excType = 'MaxRetriesExceededError';
  readonly excModule = 'celery.exceptions';
  constructor(message: string) {
    super(ErrorCodes.MAX_RETRIES_EXCEEDED, message);
  }
}

// instanceof across copies of the package (errors.ts).
brandClass(TaskError, 'TaskError');
brandClass(InvalidArguments, 'InvalidArguments');
brandClass(NotRegistered, 'NotRegistered');
brandClass(TaskRevokedError, 'TaskRevokedError');
brandClass(WorkerLostError, 'WorkerLostError');
brandClass(ChordError, 'ChordError');
brandClass(ImproperlyConfigured, 'ImproperlyConfigured');
brandClass(ResultTimeoutError, 'ResultTimeoutError');
brandClass(SoftTimeLimitExceeded, 'SoftTimeLimitExceeded');
brandClass(TimeLimitExceeded, 'TimeLimitExceeded');
brandClass(Retry, 'Retry');
brandClass(Reject, 'Reject');
brandClass(Ignore, 'Ignore');
brandClass(MaxRetriesExceededError, 'MaxRetriesExceededError');
