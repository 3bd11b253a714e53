/**
 * @module core/call-options
 * The options of a call (`applyAsync`, `sendTask`): Celery's `apply_async` options.
 */
import type { JsonObject, SignatureDict } from '../protocol/types.js';
import type { PublishRetryPolicy } from './publish-retry.js';
import type { TaskRequest } from './request.js';
import { renameDeprecated, type RenameTable } from './deprecated-names.js';
import { CeleriacError, ErrorCodes } from '../errors.js';
import { MAX_ID_LENGTH } from '../protocol/limits.js';
import { describeGiven, objectOrNone } from './option-names.js';

/**
 * A signature (anything with Celery's wire form: `Signature`, `Chain`, `Group`, `Chord`) or
 * its wire dict.
 */
export type SignatureLike = { toDict(): SignatureDict } | SignatureDict;

/**
 * A callback that takes a value of type `T` as its first argument (the parent's result for
 * `link`, the failed task's id for `linkError`): a signature or canvas whose input accepts
 * `T` (`task.s(...)` checks the task's first parameter), or a wire dict, which is not checked.
 */
export type Callback<T> = { toDict(): SignatureDict; readonly __input?: (value: T) => void } | SignatureDict;

/**
 * An errback: an old-style one takes the failed task's id first (`Callback<string>`); a
 * new-style one (a task with `errbackStyle: 'request'`) takes the failed request, the error
 * and the traceback (`Callback<ErrbackRequest>`).
 */
export type Errback = Callback<string> | Callback<ErrbackRequest>;

/** What a new-style errback receives first: the failed task's request (Celery's `request`). */
export type ErrbackRequest = TaskRequest;

/** A point in time: a Date, epoch milliseconds, or an ISO-8601 string. */
export type TimeInput = Date | number | string;

/** Celery's `apply_async` options. */
export interface ApplyOptions {
  /** Seconds from now before the task may run. */
  countdown?: number;
  /** When the task may run. */
  eta?: TimeInput;
  /** Seconds from now (a number) or a point in time after which the task is not run. */
  expires?: number | Date | string;
  /** 0-9. On Redis and memory 0 is served first. */
  priority?: number;
  /** Target queue; overrides routes and the task's queue. */
  queue?: string;
  /** Routing key (defaults to the queue name). */
  routingKey?: string;
  /** Exchange ('' = direct to the queue). */
  exchange?: string;
  /** Extra message headers, merged at the top level as Celery does. */
  headers?: JsonObject;
  /** Use this task id instead of a fresh uuid4. */
  taskId?: string;
  /** Store no result for this call. */
  ignoreResult?: boolean;
  /** Hard time limit in seconds for this call (Celery's `time_limit`); 0 or null: none. */
  timeLimitSec?: number | null;
  /** Soft time limit in seconds for this call (Celery's `soft_time_limit`); 0 or null: none. */
  softTimeLimitSec?: number | null;
  /** @deprecated Use `timeLimitSec` (seconds, as before). */
  timeLimit?: number | null;
  /** @deprecated Use `softTimeLimitSec` (seconds, as before). */
  softTimeLimit?: number | null;
  /** Name shown in logs and events instead of the task name. */
  shadow?: string;
  /** Tasks to call with this task's result when it succeeds. */
  link?: SignatureLike | readonly SignatureLike[];
  /** Tasks to call with this task's id when it fails. */
  linkError?: SignatureLike | readonly SignatureLike[];
  /** Parent task id (filled automatically when sent from inside a task). */
  parentId?: string;
  /** Root task id of the workflow (filled automatically when sent from inside a task). */
  rootId?: string;
  /** Group id when sent as a group member. */
  groupId?: string;
  /** Position inside a chord header. */
  groupIndex?: number;
  /** Retry counter carried by a retry. */
  retries?: number;
  /** Remaining chain, reversed (next task last), as Celery carries it. */
  chain?: readonly SignatureDict[];
  /** Chord body to call when this header part completes the chord. */
  chord?: SignatureDict;
  /**
   * How many `ctx.replace` calls led to this message; sent as the `replaced_task_nesting`
   * message property, as Celery 5.2.6 does. Set by `ctx.replace`.
   */
  replacedTaskNesting?: number;
  /** Only `'json'` (safe content types only: docs/security.md); any other value is refused. @default 'json' */
  serializer?: 'json';
  /**
   * Retry the publish while the broker is unreachable (Celery's `retry`). @default the
   * setting `taskPublishRetry` (true)
   */
  retry?: boolean;
  /**
   * How to retry (Celery's `retry_policy`): merged over the setting `taskPublishRetryPolicy`.
   * Celery's snake_case field names are accepted too. See core/publish-retry.ts.
   */
  retryPolicy?: PublishRetryPolicy;
  /**
   * Sent from inside a task run by a worker: record this task among the sender's `children`
   * in its stored result, so `collect()` and `children()` find it (Celery's `add_to_parent`).
   * @default true
   */
  addToParent?: boolean;
  /**
   * Where the result is sent with the rpc:// backend (Celery's `reply_to`): the reply queue of
   * the client that waits for it. Canvas steps sent later by a worker (a chain's next step, a
   * chord's body) carry the sending client's, as Celery's `freeze` writes it in each step's
   * options, so the client that sent the workflow receives its result.
   * @default this process's own reply queue
   */
  replyTo?: string;
}

/** The names {@link ApplyOptions} has. */
export const CALL_OPTION_NAMES: ReadonlySet<string> = new Set([
  'countdown', 'eta', 'expires', 'priority', 'queue', 'routingKey', 'exchange', 'headers', 'taskId', 'ignoreResult', 'timeLimitSec',
  'softTimeLimitSec', 'shadow', 'link', 'linkError', 'parentId', 'rootId', 'groupId', 'groupIndex', 'retries', 'chain', 'chord',
  'replacedTaskNesting', 'serializer', 'retry', 'retryPolicy', 'addToParent', 'replyTo',
]);

/** Call option names of 0.1 that say no unit, read as their names now with one warning each. */
const DEPRECATED_CALL_OPTIONS: RenameTable = {
  timeLimit: { now: 'timeLimitSec', unit: 'seconds' },
  softTimeLimit: { now: 'softTimeLimitSec', unit: 'seconds' },
};

/**
 * `options` with the deprecated names (`timeLimit`, `softTimeLimit`) read as their names now,
 * warned once each per process. `countdown` and `expires` keep apply_async's names
 * (docs/api.md, Units).
 * @throws CeleriacError INVALID_ARGUMENT when both names of one option are given.
 */
export function renameCallOptions<T extends object>(options: T): T {
  return renameDeprecated(options, DEPRECATED_CALL_OPTIONS, 'call option');
}

const STRING_OPTIONS = ['taskId', 'shadow', 'parentId', 'rootId', 'groupId'] as const;
const TEXT_OPTIONS = ['exchange', 'routingKey', 'replyTo'] as const;
const BOOLEAN_OPTIONS = ['ignoreResult', 'retry', 'addToParent'] as const;

/** A signature, or a signature dict (an object naming its task). */
export const isSignatureLike = (v: unknown): boolean =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && (typeof (v as { toDict?: unknown }).toDict === 'function' || typeof (v as { task?: unknown }).task === 'string');

/**
 * A call's options object as given (see `objectOrNone`): none for undefined or null.
 * @throws CeleriacError INVALID_ARGUMENT naming the call (`what`) and what it got.
 */
export function callOptionsObject<T extends object>(what: string, given: T | null | undefined): T | Record<string, never> {
  return objectOrNone(given, `${what}: the call options`);
}

/**
 * Checks the types of the call options the message takes as they are (ids, names, flags,
 * headers, callbacks), which nothing else checks: from JavaScript, or from JSON a service
 * passes on, a `taskId` of 5 made a message every worker sets aside as malformed, and
 * `headers: 'x'` spread its characters into the headers. Null is "not given" where Celery
 * takes None.
 * @throws CeleriacError INVALID_ARGUMENT naming the option, the call and what it takes.
 */
export function checkCallOptionValues(what: string, options: ApplyOptions): void {
  const fail = (name: string, wants: string, value: unknown) => new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${what}: ${name} must be ${wants}, got ${describeGiven(value)}`);
  const o = options as Record<string, unknown>;
  for (const name of STRING_OPTIONS) {
    const v = o[name];
    if (v !== undefined && v !== null && (typeof v !== 'string' || v === '')) throw fail(name, 'a non-empty string', v);
    if (name !== 'shadow' && typeof v === 'string' && v.length > MAX_ID_LENGTH) {
      throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${what}: ${name} must be an id of at most ${MAX_ID_LENGTH} characters, got ${v.length}`);
    }
  }
  for (const name of TEXT_OPTIONS) {
    const v = o[name];
    if (v !== undefined && v !== null && typeof v !== 'string') throw fail(name, 'a string', v);
  }
  for (const name of BOOLEAN_OPTIONS) {
    const v = o[name];
    if (v !== undefined && v !== null && typeof v !== 'boolean') throw fail(name, 'true or false', v);
  }
  const index = o['groupIndex'];
  if (index !== undefined && index !== null && !(Number.isInteger(index) && (index as number) >= 0)) throw fail('groupIndex', 'an integer >= 0', index);
  const retries = o['retries'];
  if (retries !== undefined && retries !== null && !(Number.isInteger(retries) && (retries as number) >= 0)) throw fail('retries', 'an integer >= 0', retries);
  const headers = o['headers'];
  if (headers !== undefined && headers !== null && (typeof headers !== 'object' || Array.isArray(headers))) throw fail('headers', 'an object of header names and values', headers);
  for (const name of ['link', 'linkError'] as const) {
    const v = o[name];
    if (v !== undefined && v !== null && !(Array.isArray(v) ? v.every(isSignatureLike) : isSignatureLike(v))) throw fail(name, 'a signature or a list of signatures', v);
  }
  const chain = o['chain'];
  if (chain !== undefined && chain !== null && !(Array.isArray(chain) && chain.every(isSignatureLike))) throw fail('chain', 'a list of signature dicts', chain);
  const chord = o['chord'];
  if (chord !== undefined && chord !== null && !isSignatureLike(chord)) throw fail('chord', 'a signature dict', chord);
}

/** Celery call options with no Celeriac counterpart, and why. */
export const CALL_OPTIONS_WITHOUT_EQUIVALENT: Readonly<Record<string, string>> = {
  compression: 'messages are not compressed',
  connection: 'the app holds the broker connection',
  producer: 'the app holds the broker connection',
  publisher: 'the app holds the broker connection',
  mandatory: 'an unroutable message is not returned',
  immediate: 'an AMQP 0-8 flag RabbitMQ dropped',
  declare: 'queues are declared by the workers that consume them',
  exchangeType: 'exchanges are declared by the broker adapter',
  deliveryMode: 'messages are always persistent',
  router: 'routes come from the setting taskRoutes',
};

/**
 * The call options of a task that returns `R`: `link` callbacks must accept `R` as their first
 * argument and `linkError` errbacks the failed task's id (a string), checked at compile time.
 */
export type TaskApplyOptions<R> = Omit<ApplyOptions, 'link' | 'linkError'> & {
  /** Tasks to call with this task's result when it succeeds. */
  link?: Callback<R> | readonly Callback<R>[];
  /** Tasks to call when it fails: with its id, or (new-style) with its request, the error and the traceback. */
  linkError?: Errback | readonly Errback[];
};
