/**
 * @module errors
 * The one error catalogue of Celeriac. Every error the library raises on purpose is a
 * {@link CeleriacError} with a stable `code` (documented in docs/errors.md). Control-flow
 * signals a task may throw (Retry, Reject, Ignore) have their own classes in core/.
 *
 * This file sits below every layer (protocol included), so anything may import it.
 */

/** Stable error codes. Never renumber or reuse a code; add new ones at the end. */
export const ErrorCodes = {
  /** A message could not be decoded (bad JSON, bad body shape, unsafe content type...). */
  PROTOCOL: 'CELERIAC_ERR_PROTOCOL',
  /** A setting has the wrong type or an unknown name. */
  CONFIG: 'CELERIAC_ERR_CONFIG',
  /** A task name is not registered in the app or worker. */
  NOT_REGISTERED: 'CELERIAC_ERR_NOT_REGISTERED',
  /** A task name was registered twice. */
  DUPLICATE_TASK: 'CELERIAC_ERR_DUPLICATE_TASK',
  /** `AsyncResult.get()` waited longer than its timeout. */
  TIMEOUT: 'CELERIAC_ERR_TIMEOUT',
  /** A task ended in FAILURE and `get()` rethrew its error (as a TaskError). */
  TASK_FAILED: 'CELERIAC_ERR_TASK_FAILED',
  /** A broker or backend URL has a scheme no adapter handles. */
  UNKNOWN_TRANSPORT: 'CELERIAC_ERR_UNKNOWN_TRANSPORT',
  /** An operation on a component that is closed or not started. */
  STATE: 'CELERIAC_ERR_STATE',
  /** Bad arguments passed to a public API (wrong option type, negative countdown...). */
  INVALID_ARGUMENT: 'CELERIAC_ERR_INVALID_ARGUMENT',
  /** A module given to `-A` could not be loaded or exports no app. */
  APP_LOAD: 'CELERIAC_ERR_APP_LOAD',
  /** The soft time limit of a task passed. */
  SOFT_TIME_LIMIT: 'CELERIAC_ERR_SOFT_TIME_LIMIT',
  /** The hard time limit of a task passed. */
  TIME_LIMIT: 'CELERIAC_ERR_TIME_LIMIT',
  /** A task was revoked (by request, because it expired, or terminated). */
  REVOKED: 'CELERIAC_ERR_REVOKED',
  /** The worker shut down before the task finished. */
  WORKER_LOST: 'CELERIAC_ERR_WORKER_LOST',
  /** A broker or backend operation failed (connection lost, server error). */
  TRANSPORT: 'CELERIAC_ERR_TRANSPORT',
  /** A task asked to be retried (`Retry`, thrown by `ctx.retry()` or `autoretryFor`). */
  RETRY: 'CELERIAC_ERR_RETRY',
  /** A task rejected its message (`Reject`), with or without requeue. */
  REJECT: 'CELERIAC_ERR_REJECT',
  /** A task asked the worker to store no state for this run (`Ignore`). */
  IGNORE: 'CELERIAC_ERR_IGNORE',
  /** A task asked for a retry past its `maxRetries` and gave no error to fail with. */
  MAX_RETRIES_EXCEEDED: 'CELERIAC_ERR_MAX_RETRIES_EXCEEDED',
  /** A fenced publish (beat) was refused: the sender no longer holds beat's lease. */
  FENCED: 'CELERIAC_ERR_FENCED',
  /**
   * A settlement found the delivery's lease gone (its holder stalled past the lease, or a sweep
   * gave the message back): the message will be delivered again. Not STATE, which is a
   * settlement of a delivery already settled here.
   */
  LEASE_LOST: 'CELERIAC_ERR_LEASE_LOST',
  /**
   * The server answered a command with an error that no wait changes (Redis: a key of the
   * wrong type, a script error): not an outage, so not retried. TRANSPORT is the one that is.
   */
  COMMAND_REFUSED: 'CELERIAC_ERR_COMMAND_REFUSED',
} as const;

/** One of the stable error codes in {@link ErrorCodes}. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Options shared by every catalogued error. */
export interface CeleriacErrorOptions {
  /** The underlying error, if any. */
  cause?: unknown;
}

const BRAND = Symbol.for('celeriac.brand');
const ordinaryInstanceOf = Function.prototype[Symbol.hasInstance];

/**
 * Gives `cls` the brand `celeriac.<name>`, so that `instanceof cls` also holds for an instance
 * of the same class from another copy of this package (a second `node_modules/celeriac`, a
 * tsconfig `paths` alias to the sources, a bundle): the worker of one copy must know a `Reject`
 * thrown by a task written against the other. A class without a brand of its own (a user's
 * subclass) keeps the ordinary `instanceof`. Internal.
 */
export function brandClass(cls: abstract new (...args: never[]) => unknown, name: string): void {
  Object.defineProperty(cls, BRAND, { value: `celeriac.${name}` });
}

/** Whether a class in `value`'s prototype chain carries `cls`'s own brand. */
function hasBrandOf(cls: object, value: unknown): boolean {
  if (typeof value !== 'object' || value === null || !Object.hasOwn(cls, BRAND)) return false;
  const want = (cls as Record<symbol, unknown>)[BRAND];
  for (let proto = Object.getPrototypeOf(value) as object | null; proto !== null; proto = Object.getPrototypeOf(proto) as object | null) {
    const ctor = Object.hasOwn(proto, 'constructor') ? (proto as { constructor: unknown }).constructor : undefined;
    if (typeof ctor === 'function' && Object.hasOwn(ctor, BRAND) && (ctor as unknown as Record<symbol, unknown>)[BRAND] === want) return true;
  }
  return false;
}

/**
 * `instanceof` as branded classes answer it: the ordinary prototype test, else the brand
 * test of {@link brandClass}. For classes that cannot extend CeleriacError (the App).
 */
export function brandedInstanceOf(cls: object, value: unknown): boolean {
  try {
    return ordinaryInstanceOf.call(cls, value) || hasBrandOf(cls, value);
  } catch {
    // A value that throws when asked (a revoked Proxy: every trap throws) is none of ours.
    return false;
  }
}

/**
 * Base class of every error Celeriac raises on purpose. `code` is stable across releases;
 * match on it rather than on the message text. `instanceof` holds across copies of the
 * package for it and for each error class Celeriac exports (a brand, `Symbol.for('celeriac.brand')`).
 */
export class CeleriacError extends Error {
  /** `instanceof` with the brand of another copy of the package: see {@link brandClass}. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return brandedInstanceOf(this, value);
  }

  /** Stable code from {@link ErrorCodes}. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options: CeleriacErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

brandClass(CeleriacError, 'CeleriacError');

/**
 * `value instanceof Error`, false where asking throws: a revoked Proxy's every trap throws,
 * `getPrototypeOf` (so `instanceof`) too. A task that threw one had its end go unhandled, and
 * its message was handed back again and again.
 */
export function isError(value: unknown): value is Error {
  try {
    return value instanceof Error;
  } catch {
    return false;
  }
}

/**
 * Turns any thrown value into an `Error`. Used at every boundary where user code or a
 * transport may throw something that is not an Error (a string, an object, undefined).
 */
export function coerceError(thrown: unknown): Error {
  if (isError(thrown)) return thrown;
  if (typeof thrown === 'string') return new Error(thrown);
  let text: string;
  try {
    text = JSON.stringify(thrown) ?? String(thrown);
  } catch {
    try {
      text = String(thrown);
    } catch {
      // An object whose toJSON and toString both throw (or a null-prototype one with a bad toJSON).
      text = '<unprintable value>';
    }
  }
  return new Error(`Non-error thrown: ${text}`);
}

/**
 * `thrown` as an error whose name, message and stack can be read. A task may throw an error
 * whose `message` is a getter that throws; its stack, formatted on first read, calls it too.
 * Reading it while recording the failure threw, the failure was never stored, and the task's
 * message was handed back for ever. Such an error is replaced by one that says so, as Python
 * prints `<unprintable ValueError object>`; null and undefined become an Error as any other
 * value does.
 */
export function readableError(thrown: unknown): Error {
  const err = coerceError(thrown);
  try {
    // Each read may run user code: a getter, or prepareStackTrace through toString().
    void err.name;
    void err.message;
    void err.stack;
    return err;
  } catch {
    // replaced below
  }
  let kind = 'Error';
  try {
    kind = String(Object.getPrototypeOf(err)?.constructor?.name ?? 'Error');
  } catch {
    // keep 'Error'
  }
  return new Error(`<unprintable ${kind} object>`);
}

/**
 * `text` when it is at most `max` characters; else its start and its end, with how many
 * characters were left out of `what` (an event, a log line) between.
 */
export function clipText(text: string, max: number, what: string): string {
  if (text.length <= max) return text;
  const half = max / 2 - 64;
  return `${text.slice(0, half)}\n... [${text.length - 2 * half} characters left out of ${what}] ...\n${text.slice(-half)}`;
}

/** Most characters of a text a log line carries of an error someone else made (its message, its stack). */
export const LOG_TEXT_MAX = 64 * 1024;
/** Most causes deep, and most errors of an AggregateError, a log line carries of such an error. */
const LOGGED_CAUSES = 8;
const LOGGED_ERRORS = 10;
/** Most own properties of a primitive value copied from such an error to its log line (`code`, `status`...). */
const LOGGED_PROPERTIES = 20;

/**
 * An error thrown by code that is not ours (a task, a signal handler, an event listener) as a
 * log line can carry it: its message and stack clipped to {@link LOG_TEXT_MAX}, at most
 * {@link LOGGED_CAUSES} causes deep and {@link LOGGED_ERRORS} errors of an AggregateError, and
 * its own properties of primitive values. A cause chain 100,000 deep made the logger's
 * serializer overflow the stack (a worker took that for a failure of its own, and with late
 * acks ran the task again), and 100,000 aggregated errors made a line of megabytes. Never throws.
 */
export function loggableError(thrown: unknown, depth = 0): Error {
  const clip = (text: string): string => clipText(text, LOG_TEXT_MAX, 'this log line');
  try {
    const err = readableError(thrown);
    const errors = err instanceof AggregateError && Array.isArray(err.errors) ? err.errors : null;
    const out = errors === null ? new Error(clip(err.message)) : new AggregateError(errors.slice(0, depth < LOGGED_CAUSES ? LOGGED_ERRORS : 0).map((x: unknown) => loggableError(x, depth + 1)), clip(err.message));
    out.name = err.name;
    out.stack = clip(err.stack ?? '');
    let copied = 0;
    for (const key of Object.keys(err)) {
      const value = (err as unknown as Record<string, unknown>)[key];
      if (key === 'errors' || (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean')) continue;
      (out as unknown as Record<string, unknown>)[key] = typeof value === 'string' ? clip(value) : value;
      if (++copied >= LOGGED_PROPERTIES) break;
    }
    const cause = (err as { cause?: unknown }).cause;
    if (cause !== undefined && depth < LOGGED_CAUSES) out.cause = loggableError(cause, depth + 1);
    return out;
  } catch {
    return new Error('<unprintable error>');
  }
}
