/**
 * @module core/task
 * A task definition: its name, options and function, and the typed ways to call it
 * (`delay`, `applyAsync`, `s`, `si`). Argument and return types are inferred from the
 * function, so calls are checked at compile time.
 */
import { CeleriacError, ErrorCodes } from '../errors.js';
import type { Json, JsonObject } from '../protocol/types.js';
import type { AsyncResult } from './async-result.js';
import type { TaskContext } from './context.js';
import { callOptionsObject, type ApplyOptions, type TaskApplyOptions } from './call-options.js';
import type { Replacer } from './replace-seam.js';
import type { Signals } from './signals.js';
import type { ResolvedTaskOptions } from './task-options.js';
import { Signature } from './signature.js';
import { arityProblem, functionArity, type Arity } from './arity.js';
import { validateArguments } from './standard-schema.js';
import { withGet, type SendPromise } from './early-wait.js';

/** The function of a task, with or without the bound context. */
export type TaskFunction = (...args: never[]) => unknown;

/** What a task needs from its app to send itself. */
export interface TaskHost {
  sendTask(name: string, args: readonly Json[], kwargs: JsonObject, options: ApplyOptions): SendPromise;
  sendTasks(calls: readonly { name: string; args?: readonly Json[]; options?: ApplyOptions }[]): Promise<AsyncResult[]>;
  /** Sends a replacement for a running task of this host (`ctx.replace`). */
  readonly replaceTask: Replacer;
  /** The app's signal handlers (`app.on`), fired around the body where it runs. */
  readonly signals?: Signals;
}

/** Options of `applyAsync` of a task returning `R`: Celery's call options plus `kwargs`. */
export type TaskCallOptions<R = unknown> = TaskApplyOptions<R> & {
  /** Keyword arguments (mapped onto positions by the task's `params` option). */
  kwargs?: JsonObject;
};

/**
 * A registered task. `A` is the argument tuple callers pass (the bound context excluded),
 * `R` the awaited return type.
 */
export class Task<A extends unknown[] = unknown[], R = unknown> {
  #arity: Arity | undefined;

  constructor(
    readonly name: string,
    readonly options: ResolvedTaskOptions,
    /** The function as given (with the context first when `bind` is set). */
    readonly fn: TaskFunction,
    /** The app it belongs to, which sends it (and, for `ctx.replace`, its replacement). */
    readonly host: TaskHost,
  ) {}

  /** What the function accepts (read from it once). */
  get arity(): Arity {
    return (this.#arity ??= functionArity(this.fn, this.name, this.options.bind, this.options.params));
  }

  /**
   * Python's TypeError text when `args` and `kwargs` do not fit the function, as Celery's
   * `check_arguments` reports it; null when they do, or when the task has a `schema` (which
   * then decides) or `checkArity: false`.
   */
  argumentProblem(args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>): string | null {
    if (this.options.checkArity === false || this.options.schema !== undefined) return null;
    const names = Object.keys(kwargs);
    const params = this.options.params;
    if (names.length === 0) return arityProblem(this.arity, args.length, (i) => i < args.length);
    const given = new Set(names.map((n) => params?.indexOf(n) ?? -1));
    return arityProblem(this.arity, args.length, (i) => i < args.length || given.has(i));
  }

  /**
   * Send the task with positional arguments. Shortcut for `applyAsync(args)`.
   * `await add.delay(2, 3).get()` waits for the value, as Celery's `add.delay(2, 3).get()`.
   */
  delay(...args: A): SendPromise<R> {
    return this.applyAsync(args);
  }

  /** Send the task with call options (countdown, eta, expires, priority, queue, link...). */
  applyAsync(args?: A, options?: TaskApplyOptions<R>): SendPromise<R>;
  /** With `kwargs`, positional arguments may cover only the leading parameters. */
  applyAsync(args: Partial<A> | undefined, options: TaskCallOptions<R> & { kwargs: JsonObject }): SendPromise<R>;
  applyAsync(args?: Partial<A>, options?: TaskCallOptions<R>): SendPromise<R> {
    if (args !== undefined && !Array.isArray(args)) {
      throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${this.name}.applyAsync: args must be an array, got ${typeof args}`);
    }
    let given: TaskCallOptions<R>;
    try {
      given = callOptionsObject(`call of ${this.name}`, options);
    } catch (err) {
      return withGet(Promise.reject(err as Error));
    }
    const { kwargs = {}, ...rest } = given;
    // As Celery's apply_async checks a task it knows (typing): a bad call fails here, not later.
    const problem = this.argumentProblem(args ?? [], kwargs);
    if (problem !== null) return withGet(Promise.reject(new TypeError(problem)));
    const { schema, validateOnSend, params } = this.options;
    // No closure on this path: one-by-one `delay()` is a producer's hot path.
    if (schema === undefined || validateOnSend !== true) return this.host.sendTask(this.name, (args ?? []) as Json[], kwargs, rest) as SendPromise<R>;
    const send = () => this.host.sendTask(this.name, (args ?? []) as Json[], kwargs, rest) as Promise<AsyncResult<R>>;
    // Validated as the worker will: keyword arguments in their positions first.
    const positional: unknown[] = [...(args ?? [])];
    for (const [name, value] of Object.entries(kwargs)) {
      const at = params?.indexOf(name) ?? -1;
      if (at >= 0) positional[at] = value;
    }
    try {
      return withGet(Promise.resolve(validateArguments(schema, this.name, positional)).then(send));
    } catch (err) {
      return withGet(Promise.reject(err as Error));
    }
  }

  /**
   * Send the task once per argument list, all with the same options, in one bulk publish
   * (one round trip on Redis; see `app.sendTasks`). Results come back in the same order.
   */
  async applyAsyncMany(argsList: readonly A[], options?: TaskApplyOptions<R>): Promise<AsyncResult<R>[]> {
    if (!Array.isArray(argsList) || !argsList.every((args) => Array.isArray(args))) {
      throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${this.name}.applyAsyncMany: argsList must be an array of argument arrays`);
    }
    const given: TaskApplyOptions<R> = callOptionsObject(`call of ${this.name}`, options);
    if (given.taskId !== undefined) {
      throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${this.name}.applyAsyncMany: taskId would be shared by every call; leave it out`);
    }
    // One options object for every call: a bulk send checks it once (app.sendTasks).
    const calls = argsList.map((args) => ({ name: this.name, args: args as Json[], options: given }));
    return this.host.sendTasks(calls) as Promise<AsyncResult<R>[]>;
  }

  /**
   * A signature of this task with some arguments. When it is used as a callback or chain
   * step, the parent's result is prepended at call time, so give the remaining ones: the
   * parent's return type must then match the first parameter (checked at compile time).
   */
  s(...args: TailArgs<A>): Signature<R, HeadArg<A>>;
  /** A signature with every argument given: it cannot take a parent's result. */
  s(...args: A): Signature<R, never>;
  s(...args: unknown[]): Signature<R, unknown> {
    return new Signature<R, unknown>(this.name, args as Json[], {}, {}, false, null, this.host);
  }

  /** An immutable signature: parent results are not prepended. */
  si(...args: A): Signature<R, unknown> {
    return new Signature<R, unknown>(this.name, args as Json[], {}, {}, true, null, this.host);
  }
}

/** The arguments after the first (for a signature whose first argument is the parent's result). */
export type TailArgs<A extends unknown[]> = number extends A['length'] ? A : A extends [unknown?, ...infer T] ? T : [];

/** The first argument's type: what a partial signature accepts from its parent. */
export type HeadArg<A extends unknown[]> = number extends A['length'] ? A[number] : A extends [infer H, ...unknown[]] ? H : A extends [(infer H)?, ...unknown[]] ? H : never;

/** Any task, whatever its types. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTask = Task<any[], any>;

/** Celery tasks get their context as first argument when bound. */
export type BoundFunction<A extends unknown[], R> = (ctx: TaskContext, ...args: A) => R;
