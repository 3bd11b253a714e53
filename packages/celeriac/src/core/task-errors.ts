/**
 * @module core/task-errors
 * Errors about tasks and their results, and the two-way mapping between JavaScript errors
 * and Celery's exception records (`{exc_type, exc_message, exc_module}`, celery-protocol.md
 * §3.2), so an error crosses between Python and TypeScript with its type and message.
 */
import { CeleriacError, ErrorCodes, coerceError } from '../errors.js';
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
    const text = args.length === 1 && typeof args[0] === 'string' ? args[0] : args.map((a) => JSON.stringify(a)).join(', ');
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
  const err = coerceError(thrown);
  // `class ValueError extends Error {}` keeps name 'Error'; Python reports the class name.
  const ctorName = Object.getPrototypeOf(err)?.constructor?.name as string | undefined;
  const own = err.name !== 'Error' && err.name !== '' ? err.name : ctorName && ctorName !== 'Error' ? ctorName : 'Exception';
  const name = own;
  return { exc_type: name, exc_message: [err.message], exc_module: PY_BUILTINS.has(name) ? 'builtins' : null };
}

/** A text traceback for a thrown value, as stored beside the exception record. */
export function formatTraceback(thrown: unknown): string {
  const err = coerceError(thrown);
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
