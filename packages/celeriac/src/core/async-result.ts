/**
 * @module core/async-result
 * A handle on a task's result. Reading goes to the result backend; `get()` subscribes first
 * and then reads, so it never polls and never misses an update.
 *
 * Celery's accessors are methods here, because each reads the backend: `status()`/`state()`,
 * `result()`/`info()`, `wait()` (= `get()`), `collect()`. There is deliberately no `then`:
 * a `then` method would make every AsyncResult a thenable, and `await add.delay(2, 3)` would
 * resolve to the task's value instead of its handle. Celery's `r.then(cb, on_error)` is
 * `r.get().then(cb, onError)`.
 */
import { CeleriacError, ErrorCodes } from '../errors.js';
import { EXCEPTION_STATES, PROPAGATE_STATES, isReady } from '../protocol/states.js';
import { ProtocolError } from '../protocol/errors.js';
import { isExceptionRecord } from '../protocol/result.js';
import type { Json, ResultMeta, TaskState } from '../protocol/types.js';
import type { ResultBackend, Unsubscribe } from './spi/backend.js';
import type { Broker } from './spi/broker.js';
import { describeGiven, objectOrNone } from './option-names.js';
import { revokeCallOptions } from './revoke-options.js';
import { revokeTasks } from './spi/roles.js';
import { ResultTimeoutError, fromExceptionRecord } from './task-errors.js';
import { clearLongTimeout, setLongTimeout, type TimerHandle } from './clock.js';

/** What an AsyncResult needs from its app. */
export interface ResultHost {
  readonly backend: ResultBackend;
  /** Carries revokes when the backend stores none (core/spi/roles.ts). */
  readonly broker: Broker;
  /** Seconds a revoke is remembered. */
  readonly revokeExpiresSec: number;
  asyncResult(id: string): AsyncResult;
  /** A group's result from its id and members (Celery's `GroupResult`, core/group-result.ts). */
  groupResult(id: string, results: readonly AsyncResult[]): ResultGroup;
}

/**
 * A group met while walking a task's children (Celery stores `[[gid, null], [members]]`):
 * what {@link AsyncResult.collect} needs of core/group-result.ts's GroupResult.
 */
export interface ResultGroup {
  readonly id: string;
  readonly results: readonly AsyncResult[];
  get(options?: GetOptions): Promise<unknown[]>;
}

/** Options of {@link AsyncResult.get}. */
export interface GetOptions {
  /** Milliseconds to wait; undefined waits forever. */
  timeoutMs?: number;
  /** @deprecated The same as `timeoutMs` (milliseconds), the name before units were spelled out. */
  timeout?: number;
  /** Throw the task's error when it failed or was revoked. @default true */
  propagate?: boolean;
  /** Abort the wait. */
  signal?: AbortSignal;
}

let warnedTimeout = false;

/**
 * The options of a `get()` as given: undefined or null is none; anything but an object is
 * refused, where a number waited forever and null failed with a TypeError, and so is a
 * `signal` that is not an AbortSignal.
 * @throws CeleriacError INVALID_ARGUMENT saying what was wrong.
 */
export function getOptionsObject<T extends GetOptions>(options: T | null | undefined): T | Record<string, never> {
  const given = objectOrNone(options, 'get(): the options');
  const signal = (given as GetOptions).signal as unknown;
  // Any AbortSignal-shaped object (a polyfill's too), not only this realm's.
  if (signal !== undefined && !(typeof signal === 'object' && signal !== null && typeof (signal as AbortSignal).addEventListener === 'function' && typeof (signal as AbortSignal).aborted === 'boolean')) {
    throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `get(): signal must be an AbortSignal, got ${typeof signal}`);
  }
  const timeout = waitMsOf(given) as unknown;
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout >= 0)) {
    throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `get(): timeoutMs must be milliseconds >= 0, got ${typeof timeout === 'string' ? JSON.stringify(timeout) : String(timeout)}`);
  }
  return given;
}

/**
 * The wait of `get()` in milliseconds: `timeoutMs`, else the deprecated `timeout` (the same
 * unit), which warns once per process (DeprecationWarning CELERIAC_DEP_GET_TIMEOUT).
 */
export function waitMsOf(options: { readonly timeoutMs?: number | undefined; readonly timeout?: number | undefined }): number | undefined {
  if (options.timeout !== undefined && !warnedTimeout) {
    warnedTimeout = true;
    process.emitWarning('get({ timeout }) is deprecated: use get({ timeoutMs }) (the same number of milliseconds); see docs/upgrading.md', { type: 'DeprecationWarning', code: 'CELERIAC_DEP_GET_TIMEOUT' });
  }
  return options.timeoutMs ?? options.timeout;
}

/** A subscription made with its task's publish (core/early-wait.ts), for the result's first wait. */
export interface EarlySubscription {
  /** `listener` gets the ready meta, at once if it came already; rejects when the SUBSCRIBE failed. */
  attach(listener: (meta: ResultMeta) => void): Promise<Unsubscribe>;
}

/** Each result's early subscription, taken by its first wait. */
const earlySubscriptions = new WeakMap<AsyncResult, EarlySubscription>();

/** Hands `subscription` to `result`'s first wait (core/early-wait.ts). */
export function handEarlySubscription(result: AsyncResult, subscription: EarlySubscription): void {
  earlySubscriptions.set(result, subscription);
}

/** A handle on the result of task `id`. `R` is the task's return type. */
export class AsyncResult<R = unknown> {
  constructor(
    readonly id: string,
    protected readonly host: ResultHost,
    /** The previous task in a chain, when known. */
    readonly parent: AsyncResult | null = null,
  ) {}

  /** The stored record, or null while the task is PENDING. */
  meta(): Promise<ResultMeta | null> {
    return this.host.backend.get(this.id);
  }

  /** Current state: PENDING until a worker stores something. */
  async state(): Promise<TaskState> {
    return (await this.meta())?.status ?? 'PENDING';
  }

  /** Celery's `status`: the same as {@link AsyncResult.state}. */
  status(): Promise<TaskState> {
    return this.state();
  }

  /** True once the task succeeded, failed or was revoked. */
  async ready(): Promise<boolean> {
    return isReady(await this.state());
  }

  /** True when the task succeeded. */
  async successful(): Promise<boolean> {
    return (await this.state()) === 'SUCCESS';
  }

  /** True when the task failed. */
  async failed(): Promise<boolean> {
    return (await this.state()) === 'FAILURE';
  }

  /**
   * The return value when it succeeded, the error when it failed or was revoked, or the
   * meta of a custom state such as PROGRESS; null while PENDING.
   */
  async info(): Promise<Json | Error | null> {
    const meta = await this.meta();
    if (meta === null) return null;
    return this.decode(meta);
  }

  /** Celery's `result`: the same as {@link AsyncResult.info} (the value, the error, or progress meta). */
  result(): Promise<Json | Error | null> {
    return this.info();
  }

  /** The traceback text stored with a failure, or null. */
  async traceback(): Promise<string | null> {
    return (await this.meta())?.traceback ?? null;
  }

  /** Results of the tasks this task sent (callbacks, chain successor), from its stored record. */
  async children(): Promise<AsyncResult[]> {
    const meta = await this.meta();
    return (meta?.children ?? []).map((tuple) => this.host.asyncResult(tuple[0][0]));
  }

  /**
   * Waits until the task is ready and returns its value. Throws the task's error when it
   * failed or was revoked (unless `propagate: false`, which returns the error instead), and
   * ResultTimeoutError when `timeoutMs` pass first.
   */
  async get(options?: GetOptions): Promise<R> {
    const given = getOptionsObject(options);
    const meta = await this.waitReady(given);
    const value = this.decode(meta);
    if (PROPAGATE_STATES.has(meta.status) && (given.propagate ?? true)) throw value as Error;
    return value as R;
  }

  /** Celery's `wait()`: the same as {@link AsyncResult.get}, with the same options. */
  wait(options: GetOptions = {}): Promise<R> {
    return this.get(options);
  }

  /**
   * Celery's `collect()`: waits for this task, then for the tasks it sent, breadth first
   * (callbacks, chain successors, and groups as one node whose members follow), yielding
   * each node with its value. `options` apply to each wait (`timeoutMs` per node); with
   * `propagate` (default) the first failure met is thrown, as Celery's does.
   */
  async *collect(options: GetOptions = {}): AsyncGenerator<[AsyncResult | ResultGroup, unknown]> {
    const queue: (AsyncResult | ResultGroup)[] = [this];
    for (let node = queue.shift(); node !== undefined; node = queue.shift()) {
      const value: unknown = await node.get(options);
      yield [node, value];
      queue.push(...(node instanceof AsyncResult ? await node.childNodes() : node.results));
    }
  }

  /** The children tuples of the stored record as results: a group tuple becomes a group. */
  private async childNodes(): Promise<(AsyncResult | ResultGroup)[]> {
    const meta = await this.meta();
    return (meta?.children ?? []).map(([[id], members]) =>
      members === null ? this.host.asyncResult(id) : this.host.groupResult(id, members.map(([[memberId]]) => this.host.asyncResult(memberId))),
    );
  }

  /**
   * Revoke the task: workers skip it when they receive it or before it starts, including
   * workers started later (the revoke is stored in the backend for `REVOKE_EXPIRES_SEC`).
   * With `terminate`, a Celeriac worker running it now stops it (the backend announces the
   * revoke to running workers). It is also broadcast as Celery's pidbox `revoke` (terminate and
   * signal included), so running Python workers honour it too (core/spi/roles.ts).
   */
  async revoke(options: { terminate?: boolean; signal?: string } = {}): Promise<void> {
    await revokeTasks(this.host, [this.id], { expiresSec: this.host.revokeExpiresSec, ...revokeCallOptions(options) });
  }

  /**
   * Delete the stored result, and those of its known parents (Celery's `forget`). A later
   * `get()` then waits as for a task never run (PENDING), as Celery's does; an unknown id is
   * no error. `rpc://` keeps results only in the sender's memory: forget drops them there.
   */
  async forget(): Promise<void> {
    await this.parent?.forget();
    await this.host.backend.forget(this.id);
  }

  /**
   * The value of a meta: its result, or for a failure, retry or revoke the error its exception
   * record describes. Such a meta holding anything else (written by something other than a
   * Celery or Celeriac worker) gives a ProtocolError naming what it holds, where `get()` threw
   * the stored value itself (a number, a plain object) and Celery raises a TypeError.
   */
  private decode(meta: ResultMeta): Json | Error {
    if (!EXCEPTION_STATES.has(meta.status)) return meta.result;
    if (isExceptionRecord(meta.result)) return fromExceptionRecord(meta.result, this.id, meta.traceback);
    return new ProtocolError('bad-body', `Task ${this.id} is ${meta.status}, but its stored result is not an exception record ({exc_type, exc_message, exc_module}): got ${describeGiven(meta.result)}`);
  }

  /**
   * A wait whose subscription went out with the task's publish (core/early-wait.ts) only
   * listens. Otherwise: read; a ready meta ends the wait there, with no subscription at all (a
   * sender that waits for a short task most often finds it done). Otherwise subscribe, then read again, and take
   * the first ready meta either gives: the second read covers a meta stored before the
   * subscription took effect, the subscription everything stored after. A meta pushed while
   * that read is still in flight ends the wait at once.
   *
   * Written with one promise and plain callbacks rather than async frames: a client that
   * waits for many results calls this once per task (bench/README.md, RabbitMQ).
   */
  protected waitReady(options: GetOptions): Promise<ResultMeta> {
    // Checked by get() (getOptionsObject).
    const { signal } = options;
    const timeout = waitMsOf(options);
    const { backend } = this.host;
    const id = this.id;
    return new Promise<ResultMeta>((resolve, reject) => {
      let ended = false;
      let unsubscribe: Unsubscribe | undefined;
      let timer: TimerHandle | undefined;
      const end = (): boolean => {
        if (ended) return false;
        ended = true;
        clearLongTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        // Not awaited: the value is already here, and the UNSUBSCRIBE round trip would only
        // delay the caller. A failed unsubscribe has no one to tell (a dead connection's
        // subscriptions are gone anyway).
        unsubscribe?.().catch(ignore);
        return true;
      };
      const settleIfReady = (meta: ResultMeta | null): void => {
        if (meta !== null && isReady(meta.status) && end()) resolve(meta);
      };
      // A failure after the value arrived is moot: the wait has ended.
      const fail = (err: unknown): void => {
        if (end()) reject(err);
      };
      const onAbort = (): void => fail(new CeleriacError(ErrorCodes.TIMEOUT, `get() of ${id} aborted`, { cause: signal?.reason }));
      const subscribeThenRead = (): Promise<void> | undefined => {
        if (ended) return undefined;
        return backend.subscribe(id, settleIfReady).then((u) => {
          if (ended) return u().catch(ignore);
          unsubscribe = u;
          return backend.get(id).then(settleIfReady);
        });
      };
      const readThenSubscribe = (): void => {
        backend
          .get(id)
          .then((meta) => {
            settleIfReady(meta);
            return subscribeThenRead();
          })
          .catch(fail);
      };
      if (timeout !== undefined) timer = setLongTimeout(() => fail(new ResultTimeoutError(id, timeout)), timeout, false);
      if (signal !== undefined) {
        signal.addEventListener('abort', onAbort, { once: true });
        if (signal.aborted) onAbort();
      }
      // Subscribed in the write that sent the task (core/early-wait.ts): nothing to read.
      const early = earlySubscriptions.get(this);
      earlySubscriptions.delete(this);
      if (early === undefined) readThenSubscribe();
      else {
        early.attach(settleIfReady).then((u) => {
          if (ended) u().catch(ignore);
          else unsubscribe = u;
        }, readThenSubscribe);
      }
    });
  }
}

const ignore = (): void => undefined;

/** A result computed in the caller (eager mode): it holds its record locally. */
export class EagerResult<R = unknown> extends AsyncResult<R> {
  constructor(id: string, host: ResultHost, private readonly record: ResultMeta) {
    super(id, host);
  }

  override async meta(): Promise<ResultMeta> {
    return this.record;
  }

  protected override async waitReady(): Promise<ResultMeta> {
    return this.record;
  }
}
