/**
 * @module core/app
 * The app: settings, the task registry, the broker and backend it talks to, and the ways to
 * send tasks and read results. One explicit object, nothing global.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { createLogger } from './log.js';
import { CeleriacError, ErrorCodes, brandClass, brandedInstanceOf } from '../errors.js';
import { nonEmptyString } from './option-names.js';
import type { Json, JsonObject, TaskState } from '../protocol/types.js';
import { AsyncResult, EagerResult, type ResultHost } from './async-result.js';
import { systemClock, type Clock } from './clock.js';
import { GroupResult } from './group-result.js';
import { addToCurrentTask } from './current-task.js';
import { resultTuple } from './result-meta.js';
import { runEager } from './run-eager.js';
import { callOptionsObject, type ApplyOptions } from './call-options.js';
import { buildTaskMessage, type OutgoingTask, type ProducerHost, type TaskCall } from './producer.js';
import { EarlyWait, withGet, type SendPromise } from './early-wait.js';
import { sendMessages } from './send.js';
import { compileRoutes, type Route } from './routing.js';
import { resolveSettings, type ResolvedSettings, type Settings } from './settings.js';
import type { ResultBackend } from './spi/backend.js';
import type { Broker } from './spi/broker.js';
import type { TaskContext } from './context.js';
import type { Replacer } from './replace-seam.js';
import { Signals, type SignalHandler, type SignalName } from './signals.js';
import { Task, type AnyTask, type TaskHost } from './task.js';
import type { SchemaInput, SchemaOutput, StandardSchemaV1 } from './standard-schema.js';

/** A tuple type without `readonly` (schema libraries infer readonly tuples). */
type Mutable<T> = T extends readonly unknown[] ? [...T] : never;
import { resolveTaskOptions, type TaskOptions } from './task-options.js';
import { queueTopologyOf } from './queue-topology.js';
import { checkScheme, openTransport, redactUrl, type TransportContext, type TransportTable } from './transport-table.js';

/** How long a revoke is remembered, as Celery's worker keeps revoked ids (3 hours). */
export const REVOKE_EXPIRES_SEC = 10_800;

/** Things an app is built from besides settings. Tests and the CLI pass adapters directly. */
export interface AppOptions {
  /** URL scheme table used to open `settings.broker` and `settings.backend`. */
  transports?: TransportTable;
  /** Use this broker instead of opening `settings.broker`. */
  broker?: Broker;
  /** Use this backend instead of opening `settings.backend`. */
  backend?: ResultBackend;
  /** Source of time. @default systemClock */
  clock?: Clock;
  /** Source of randomness in [0, 1) (retry jitter). @default Math.random */
  random?: () => number;
  /** Environment read for settings. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Logger to use. @default a pino logger at `settings.logLevel`, writing as `settings.logFormat` says */
  logger?: Logger;
}

/** A Celeriac application. Create it with `createApp`, the one factory. */
export class App implements ProducerHost, ResultHost, TaskHost {
  /** `instanceof App` holds for an app made by another copy of the package too (errors.ts brandClass). */
  static [Symbol.hasInstance](value: unknown): boolean {
    return brandedInstanceOf(this, value);
  }

  private settingsValue: ResolvedSettings;
  private overridden: Settings = {};
  private brokerValue: Broker | undefined;
  private backendValue: ResultBackend | undefined;
  private readonly transports: TransportTable;
  readonly clock: Clock;
  /** Source of randomness in [0, 1), injected so retry jitter can be tested. */
  readonly random: () => number;
  private logValue: Logger;
  /** Reply address of this process (Celery's `reply_to` oid). */
  readonly replyTo = randomUUID();
  readonly revokeExpiresSec = REVOKE_EXPIRES_SEC;
  private readonly registry = new Map<string, AnyTask>();
  /** Celery's signals as typed events: see {@link on}. */
  readonly signals: Signals = new Signals(() => this.log);
  private router: (name: string) => Route | null;

  /**
   * Internal: use `createApp`, which also wires the canvas layer (built-in tasks and
   * `ctx.replace`, given here as `replaceTask`) that core may not import.
   */
  constructor(
    settings: Settings,
    options: AppOptions,
    /** Sends a replacement for a running task (`ctx.replace`). */
    readonly replaceTask: Replacer,
  ) {
    this.settingsValue = resolveSettings(settings, options.env);
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.logValue = options.logger ?? createLogger({ level: this.settingsValue.logLevel, format: this.settingsValue.logFormat });
    this.router = compileRoutes(this.settingsValue.taskRoutes);
    this.transports = options.transports ?? { brokers: {}, backends: {} };
    this.brokerValue = options.broker;
    this.backendValue = options.backend;
    // Fail fast on an unknown scheme, even though adapters open lazily.
    for (const kind of ['brokers', 'backends'] as const) {
      const url = kind === 'brokers' ? this.settingsValue.broker : this.settingsValue.backend;
      const given = kind === 'brokers' ? this.brokerValue : this.backendValue;
      if (given === undefined) checkScheme(this.transports, kind, url);
    }
  }

  /** The app's logger (pino); every worker, beat and adapter of the app logs through it. */
  get log(): Logger {
    return this.logValue;
  }

  /**
   * Replaces the app's logger before a worker or beat is made from it, as the CLI does for
   * `--logfile` and `--log-format`; its level becomes `settings.logLevel`. Parts made
   * earlier keep the logger they were given.
   */
  useLogger(logger: Logger): void {
    logger.level = this.settingsValue.logLevel;
    this.logValue = logger;
  }

  /** Resolved settings (frozen). */
  get settings(): ResolvedSettings {
    return this.settingsValue;
  }

  /** The broker, opened from `settings.broker` on first use. */
  get broker(): Broker {
    this.brokerValue ??= openTransport(this.transports, 'brokers', this.settingsValue.broker, this.transportContext());
    return this.brokerValue;
  }

  /** The result backend, opened from `settings.backend` on first use. */
  get backend(): ResultBackend {
    this.backendValue ??= openTransport(this.transports, 'backends', this.settingsValue.backend, this.transportContext());
    return this.backendValue;
  }

  private transportContext(): TransportContext {
    return {
      clock: this.clock,
      transportOptions: this.settingsValue.brokerTransportOptions,
      backendTransportOptions: this.settingsValue.resultBackendTransportOptions,
      brokerUseSsl: this.settingsValue.brokerUseSsl,
      brokerLoginMethod: this.settingsValue.brokerLoginMethod,
      backendUseSsl: this.settingsValue.redisBackendUseSsl,
      log: (level, msg, fields) => this.log[level](fields ?? {}, msg),
      brokerUrl: this.settingsValue.broker,
      replyTo: this.replyTo,
      resultExpiresSec: this.settingsValue.resultExpiresSec,
      queues: queueTopologyOf(this.settingsValue),
      shared: this.sharedByTransports,
    };
  }

  /** What this app's broker and backend share (TransportContext.shared). */
  private readonly sharedByTransports = new Map<string, unknown>();

  /**
   * Change settings before the app is used, as the CLI's flags do for a module loaded with
   * `-A` (`-b`, `--result-backend`, `-c`, `-l`, ...). Values are checked as `createApp`
   * checks them; the broker or backend URL can no longer change once that adapter is open.
   */
  overrideSettings(overrides: Settings): void {
    const opened = (overrides.broker !== undefined && this.brokerValue !== undefined) || (overrides.backend !== undefined && this.backendValue !== undefined);
    if (opened) throw new CeleriacError(ErrorCodes.STATE, 'broker or backend already in use; override URLs before sending or consuming');
    const resolved = resolveSettings({ ...this.settingsValue, ...overrides }, {});
    if (this.brokerValue === undefined) checkScheme(this.transports, 'brokers', resolved.broker);
    if (this.backendValue === undefined) checkScheme(this.transports, 'backends', resolved.backend);
    this.settingsValue = resolved;
    this.overridden = { ...this.overridden, ...overrides };
    this.router = compileRoutes(resolved.taskRoutes);
    if (overrides.logLevel !== undefined) this.log.level = resolved.logLevel;
  }

  /**
   * Every setting changed by {@link overrideSettings} since the app was created (the CLI's
   * `-b`, `--result-backend`, `-c`, ...). The threads and prefork pools apply them to the app
   * each child imports, so a child sees the settings its worker runs with.
   */
  get settingOverrides(): Readonly<Settings> {
    return this.overridden;
  }

  /** Registered tasks by name. */
  get tasks(): ReadonlyMap<string, AnyTask> {
    return this.registry;
  }

  /** Broker URL with the password hidden. */
  get brokerUrl(): string {
    return redactUrl(this.settings.broker);
  }

  /** Backend URL with the password hidden. */
  get backendUrl(): string {
    return redactUrl(this.settings.backend);
  }

  /**
   * Define a task whose arguments a Standard Schema (zod, valibot, ArkType, TypeBox...) checks:
   * callers pass the schema's input, the function receives its output.
   */
  task<S extends StandardSchemaV1<readonly unknown[], readonly unknown[]>, R>(
    name: string,
    options: TaskOptions & { schema: S; bind?: false },
    fn: (...args: Mutable<SchemaOutput<S>>) => R,
  ): Task<Mutable<SchemaInput<S>>, Awaited<R>>;
  /** A bound task with a schema. */
  task<S extends StandardSchemaV1<readonly unknown[], readonly unknown[]>, R>(
    name: string,
    options: TaskOptions & { schema: S; bind: true },
    fn: (ctx: TaskContext, ...args: Mutable<SchemaOutput<S>>) => R,
  ): Task<Mutable<SchemaInput<S>>, Awaited<R>>;
  /** Define a task from a name and a function; types are inferred from the function. */
  task<A extends unknown[], R>(name: string, fn: (...args: A) => R): Task<A, Awaited<R>>;
  /** Define a bound task: the function receives the task context first. */
  task<A extends unknown[], R>(name: string, options: TaskOptions & { bind: true }, fn: (ctx: TaskContext, ...args: A) => R): Task<A, Awaited<R>>;
  /** Define a task with options. */
  task<A extends unknown[], R>(name: string, options: TaskOptions & { bind?: false }, fn: (...args: A) => R): Task<A, Awaited<R>>;
  task(name: string, optionsOrFn: TaskOptions | ((...args: never[]) => unknown), maybeFn?: (...args: never[]) => unknown): AnyTask {
    const fn = typeof optionsOrFn === 'function' ? optionsOrFn : maybeFn;
    if (typeof fn !== 'function' || (fn === optionsOrFn && maybeFn !== undefined)) {
      // Celery's decorator has no place for options after the function: they would be dropped unread.
      const why = typeof fn === 'function' ? 'the options go before the function, app.task(name, options, fn)' : 'the last argument must be the task function';
      throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `app.task(${JSON.stringify(name)}): ${why}`);
    }
    const resolved = resolveTaskOptions(name, typeof optionsOrFn === 'function' ? null : optionsOrFn);
    if (this.registry.has(name)) {
      throw new CeleriacError(ErrorCodes.DUPLICATE_TASK, `A task named ${JSON.stringify(name)} is already registered in this app`);
    }
    const task = new Task(name, resolved, fn, this);
    this.registry.set(name, task);
    return task;
  }

  /**
   * Adds a handler for one of Celery's signals, in camelCase (`task_prerun` -> `taskPrerun`);
   * returns a function that removes it. A handler may be async (the signal waits for it); one
   * that throws is logged and does not change the task. docs/signals.md tells where each fires.
   */
  on<K extends SignalName>(name: K, handler: SignalHandler<K>): () => void {
    return this.signals.on(name, handler);
  }

  /** The registered task of that name, if any. */
  lookup(name: string): AnyTask | undefined {
    return this.registry.get(name);
  }

  /** The route `taskRoutes` gives a task name, if any. */
  route(name: string): Route | null {
    return this.router(name);
  }

  /**
   * Send a task by name: it need not be registered here, nor written in TypeScript. In eager
   * mode a task registered in this app runs in the caller instead. `sendTask(...).get()`
   * waits for the value (see {@link SendPromise}).
   */
  sendTask(name: string, args: readonly Json[] = [], kwargs: JsonObject = {}, options?: ApplyOptions): SendPromise {
    let out: OutgoingTask;
    let given: ApplyOptions;
    try {
      given = callOptionsObject(`call of ${name}`, options);
      out = buildTaskMessage(this, name, args, kwargs, given);
    } catch (error) {
      return withGet(Promise.reject(error as Error));
    }
    const local = this.settings.taskAlwaysEager ? this.lookup(name) : undefined;
    // An id the caller did not choose is made for this send (producer.ts): nothing is stored under it.
    const early = local === undefined && EarlyWait.possible(this.backend, this.broker) ? new EarlyWait(out.message.headers.id, this.backend, this.broker, given.taskId === undefined) : undefined;
    return withGet(this.#sendTask(name, out, local, given, early), early);
  }

  async #sendTask(name: string, out: OutgoingTask, local: AnyTask | undefined, options: ApplyOptions, early: EarlyWait | undefined): Promise<AsyncResult> {
    const id = out.message.headers.id;
    if (local !== undefined) {
      const record = await runEager(this, local, out);
      return new EagerResult(id, this, record);
    }
    // One microtask: a `.get()` chained on the send is seen before the publish (core/early-wait.ts).
    if (early !== undefined) await undefined;
    await sendMessages(this, [out], { what: `send task ${name}[${id}]`, calls: [options], ...(early === undefined ? {} : { early }) });
    if (options.addToParent ?? true) addToCurrentTask(resultTuple(id));
    const result = new AsyncResult(id, this);
    early?.bind(result);
    return result;
  }

  /**
   * Send many tasks at once: every message is built (and checked) first, then published
   * with as few round trips as the broker allows (one pipelined write on Redis). Results
   * come back in the order of `calls`. Not atomic: if publishing fails part-way, some tasks
   * may have been sent, and a retried publish may send some twice. One retry policy covers
   * the batch: none if any call sets `retry: false`, else `taskPublishRetryPolicy` with each
   * call's `retryPolicy` merged over it in order. In eager mode each registered task runs in
   * the caller, in order.
   */
  async sendTasks(calls: readonly TaskCall[]): Promise<AsyncResult[]> {
    if (!Array.isArray(calls)) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `sendTasks(): calls must be an array of { name, args, kwargs, options }, got ${typeof calls}`);
    const bad = calls.findIndex((c: unknown) => typeof c !== 'object' || c === null || Array.isArray(c));
    if (bad >= 0) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `sendTasks(): calls[${bad}] must be an object naming a task ({ name, args, kwargs, options }), got ${calls[bad] === null ? 'null' : typeof calls[bad]}`);
    if (this.settings.taskAlwaysEager) {
      const results: AsyncResult[] = [];
      for (const c of calls) results.push(await this.sendTask(c.name, c.args, c.kwargs, c.options));
      return results;
    }
    // The calls of a bulk send mostly share one options object: it is checked once.
    const checked = new Set<ApplyOptions>();
    const outs = calls.map((c) => buildTaskMessage(this, c.name, c.args ?? [], c.kwargs ?? {}, c.options ?? {}, checked));
    await sendMessages(this, outs, { what: `send ${outs.length} tasks`, calls: calls.map((c) => c.options ?? {}) });
    outs.forEach((out, i) => {
      if (calls[i]?.options?.addToParent ?? true) addToCurrentTask(resultTuple(out.message.headers.id));
    });
    return outs.map((out) => new AsyncResult(out.message.headers.id, this));
  }

  /**
   * A handle on the result of a task id.
   * @throws CeleriacError INVALID_ARGUMENT for an id that is not a non-empty string (an
   *   `undefined` from a missing request parameter waited forever on the key of "undefined").
   */
  asyncResult<R = unknown>(id: string): AsyncResult<R> {
    return new AsyncResult<R>(nonEmptyString(id, 'asyncResult(): a task id'), this);
  }

  /** A handle on a group's result from its id and members (restore a saved one with `GroupResult.restore`). */
  groupResult(id: string, results: readonly AsyncResult[]): GroupResult {
    nonEmptyString(id, 'groupResult(): a group id');
    // Duck-typed: a result of another copy of this module (src and dist in one process) is one too.
    const isResult = (r: unknown): boolean => typeof r === 'object' && r !== null && typeof (r as AsyncResult).id === 'string' && typeof (r as AsyncResult).get === 'function';
    if (!Array.isArray(results) || !results.every(isResult)) {
      throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `groupResult(${id}): results must be an array of AsyncResult (app.asyncResult(id) makes one)`);
    }
    return new GroupResult(id, results, this);
  }

  /** Store a state for a task id from outside the task (rarely needed; tasks use `ctx.updateState`). */
  async storeState(taskId: string, state: TaskState, result: Json): Promise<void> {
    await this.backend.store({ status: state, result, traceback: null, children: [], date_done: null, task_id: taskId }, {
      expiresSec: this.settings.resultExpiresSec,
    });
  }

  /** Close the broker and backend connections (those that were opened). */
  async close(): Promise<void> {
    await Promise.allSettled([this.brokerValue?.close(), this.backendValue?.close()]);
  }
}

brandClass(App, 'App');
