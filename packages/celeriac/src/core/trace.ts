/**
 * @module core/trace
 * Runs one task function for one message: builds the request and context, maps kwargs onto
 * positions, calls the function inside the current-task scope and reports the outcome.
 * Shared by the worker's executor and eager mode; acks, time limits and storage are theirs.
 */
import type { Logger } from 'pino';
import type { DeliveryInfo, Json, JsonObject, ResultTuple, TaskMessage, TaskState } from '../protocol/types.js';
import type { TaskContext, TaskRequest } from './context.js';
import { runAsCurrentTask, takeChildren } from './current-task.js';
import { checkCustomEvent, isCustomEventHost, sendCustomEvent } from './custom-event.js';
import { replacedNesting } from './replace-seam.js';
import { autoRetry, requestRetry } from './retry.js';
import type { Signals } from './signals.js';
import { Ignore, Reject, Retry } from './task-errors.js';
import { loggableError } from '../errors.js';
import { validateArguments } from './standard-schema.js';
import type { AnyTask } from './task.js';

/** How one run ended. */
export type TraceOutcome = ({ ok: true; value: Json } | { ok: false; error: unknown }) & {
  /** Results of the tasks the body sent with `addToParent` (Celery's `request.children`). */
  children?: ResultTuple[];
};

/** Everything a run needs besides the task and message. */
export interface TraceEnvironment {
  hostname: string;
  deliveryInfo: DeliveryInfo;
  isEager: boolean;
  /** `[hard, soft]` seconds in force. */
  timeLimit: readonly [number | null, number | null];
  /** Read only when the task asks for `ctx.signal` (environments may make it lazily). */
  readonly signal: AbortSignal;
  log: Logger;
  updateState(state: TaskState, meta: Json): Promise<void>;
}

/** Builds `ctx.request` from a message. */
export function buildRequest(message: TaskMessage, env: Pick<TraceEnvironment, 'hostname' | 'deliveryInfo' | 'isEager' | 'timeLimit'>): TaskRequest {
  return Object.freeze(new Request(message, env));
}

/** TaskRequest's fields but `properties`, which {@link Request} makes when read. */
type RequestFields = Omit<TaskRequest, 'properties'>;

/**
 * `ctx.request`. A class, not an object literal, so that every request shares one shape: a
 * literal with its own `get properties()` closure got a hidden class of its own per task,
 * allocated outside the young generation, which kept the whole message alive through the next
 * scavenges (a drain promoted ten times the memory and cost more CPU per task).
 */
class Request extends (class {} as new () => RequestFields) implements TaskRequest {
  readonly #message: TaskMessage;
  #properties: JsonObject | undefined;

  constructor(message: TaskMessage, env: Pick<TraceEnvironment, 'hostname' | 'deliveryInfo' | 'isEager' | 'timeLimit'>) {
    super();
    const h = message.headers;
    // Every field assigned here, in one order (the fields are TaskRequest's, declared there).
    const self = this as { -readonly [K in keyof RequestFields]: RequestFields[K] };
    self.id = h.id;
    self.task = h.task;
    self.args = message.args;
    self.kwargs = message.kwargs;
    self.retries = h.retries;
    self.parentId = h.parent_id;
    self.rootId = h.root_id;
    self.groupId = h.group;
    self.groupIndex = h.group_index;
    self.hostname = env.hostname;
    self.deliveryInfo = env.deliveryInfo;
    self.eta = h.eta;
    self.expires = h.expires;
    self.timeLimit = env.timeLimit;
    self.ignoreResult = h.ignore_result;
    self.origin = h.origin === '' ? null : h.origin;
    self.replyTo = message.properties.reply_to;
    self.correlationId = message.properties.correlation_id;
    self.isEager = env.isEager;
    self.headers = message.extraHeaders;
    self.replacedTaskNesting = replacedNesting(message);
    this.#message = message;
  }

  /** Made when read: few tasks look at it, and a copy per task was a fifth of what building the request allocated. */
  get properties(): JsonObject {
    return (this.#properties ??= { ...this.#message.properties, delivery_info: this.deliveryInfo } as unknown as JsonObject);
  }
}

/**
 * Positional arguments for the function: `args`, then each kwarg placed at the position its
 * name has in the task's `params`. Mirrors Python's errors for unknown or doubled names.
 */
export function bindArguments(task: AnyTask, args: readonly Json[], kwargs: Readonly<Record<string, Json>>): unknown[] {
  const names = Object.keys(kwargs);
  if (names.length === 0) return [...args];
  const params = task.options.params;
  if (params === undefined) {
    throw new TypeError(
      `${task.name}() got unexpected keyword arguments ${names.map((n) => `'${n}'`).join(', ')}; ` +
        'declare the task option `params` to map keyword arguments onto parameters',
    );
  }
  const out: unknown[] = [...args];
  for (const name of names) {
    const index = params.indexOf(name);
    if (index < 0) throw new TypeError(`${task.name}() got an unexpected keyword argument '${name}'`);
    if (index < args.length) throw new TypeError(`${task.name}() got multiple values for argument '${name}'`);
    while (out.length < index) out.push(undefined);
    out[index] = kwargs[name];
  }
  return out;
}

/** The `ctx` a bound task receives as its first argument. */
function taskContext(task: AnyTask, message: TaskMessage, env: TraceEnvironment, request: TaskRequest): TaskContext {
  let log: Logger | undefined;
  return {
    request,
    get signal() {
      return env.signal;
    },
    // Made on first use: a pino child serializes its bindings, a cost most tasks never need.
    get log() {
      return (log ??= env.log.child({ taskId: request.id, taskName: request.task }));
    },
    updateState: (state, meta = null) => env.updateState(state, meta),
    sendEvent: async (type, fields = {}) => {
      checkCustomEvent(type, fields);
      if (!env.isEager && isCustomEventHost(task.host)) await sendCustomEvent(task.host, env.hostname, request.id, type, fields);
    },
    retry: (options) => requestRetry(task, request, options),
    replace: (sig) => task.host.replaceTask({ message, isEager: env.isEager, nesting: request.replacedTaskNesting }, sig) as Promise<never>,
    addToChord: (sig) => task.host.replaceTask({ message, isEager: env.isEager, nesting: request.replacedTaskNesting, addToChord: true }, sig) as Promise<string>,
  };
}

/** A body's success; a class, not a literal, for the reason worker/job.ts gives. */
class Succeeded {
  readonly ok = true as const;
  constructor(readonly value: Json) {}
}
const succeeded = (value: unknown): TraceOutcome => new Succeeded(value === undefined ? null : (value as Json));

/**
 * Runs the task function and reports its outcome; never rejects. A plain function's outcome
 * is returned as it is, not in a promise: its body is over, with nothing left to wait for or
 * to supervise. A function that returns a promise gets a promise of its outcome.
 */
export function traceTask(task: AnyTask, message: TaskMessage, env: TraceEnvironment): TraceOutcome | Promise<TraceOutcome> {
  const signals = task.host.signals;
  const request = buildRequest(message, env);
  if (hasHooks(task, signals)) return traceWithSignals(signals, task, message, env, request);
  const outcome = traceBody(task, message, env, request);
  return outcome instanceof Promise ? outcome.then((o) => withChildren(request, o)) : withChildren(request, outcome);
}

/** `outcome` with the children its body sent (addToParent), when it sent any. */
function withChildren(request: TaskRequest, outcome: TraceOutcome): TraceOutcome {
  const sent = takeChildren(request);
  return sent.length === 0 ? outcome : { ...outcome, children: sent };
}

/** True when a task hook or a signal fired around the body is set (most apps have none: no cost then). */
function hasHooks(task: AnyTask, signals: Signals | undefined): boolean {
  const o = task.options;
  if (o.onSuccess !== undefined || o.onFailure !== undefined || o.onRetry !== undefined || o.after !== undefined) return true;
  return signals !== undefined && (signals.has('taskPrerun') || signals.has('taskPostrun') || signals.has('taskSuccess') || signals.has('taskFailure') || signals.has('taskRetry'));
}

/** Calls a task's own hook; what it throws is logged, never the task's outcome. */
async function callHook(env: TraceEnvironment, task: AnyTask, hook: string, call: () => unknown): Promise<void> {
  try {
    await call();
  } catch (err) {
    env.log.error({ err: loggableError(err), taskName: task.name, hook }, `the ${hook} hook of ${task.name} failed (ignored: the task's outcome stands)`);
  }
}

/**
 * The body between Celery's signals, in Celery's order: `taskPrerun`, the body, then
 * `taskSuccess`, `taskRetry` or `taskFailure`, then `taskPostrun`. Handlers cannot change
 * the outcome (Signals logs what they throw).
 */
async function traceWithSignals(signals: Signals | undefined, task: AnyTask, message: TaskMessage, env: TraceEnvironment, request: TaskRequest): Promise<TraceOutcome> {
  const o = task.options;
  const base = { id: request.id, task, args: message.args, kwargs: message.kwargs, request };
  await signals?.emit('taskPrerun', base);
  const outcome = withChildren(request, await traceBody(task, message, env, request));
  let state: 'SUCCESS' | 'FAILURE' | 'RETRY' | 'IGNORED' | 'REJECTED';
  if (outcome.ok) {
    state = 'SUCCESS';
    if (o.onSuccess !== undefined) await callHook(env, task, 'onSuccess', () => o.onSuccess?.(outcome.value, request));
    await signals?.emit('taskSuccess', { task, request, result: outcome.value });
  } else if (outcome.error instanceof Retry) {
    state = 'RETRY';
    if (o.onRetry !== undefined) await callHook(env, task, 'onRetry', () => o.onRetry?.(outcome.error, request));
    await signals?.emit('taskRetry', { task, request, reason: outcome.error });
  } else if (outcome.error instanceof Ignore || outcome.error instanceof Reject) {
    state = outcome.error instanceof Ignore ? 'IGNORED' : 'REJECTED';
  } else {
    state = 'FAILURE';
    if (o.onFailure !== undefined) await callHook(env, task, 'onFailure', () => o.onFailure?.(outcome.error, request));
    await signals?.emit('taskFailure', { ...base, error: outcome.error });
  }
  const retval = outcome.ok ? outcome.value : outcome.error;
  if (o.after !== undefined) await callHook(env, task, 'after', () => o.after?.(state, retval, request));
  await signals?.emit('taskPostrun', { ...base, retval, state });
  return outcome;
}

/** A body's error as its outcome: autoretryFor turns a listed error into a Retry (or, retries spent, keeps the error). */
function failedWith(task: AnyTask, request: TaskRequest, error: unknown): TraceOutcome {
  return { ok: false, error: autoRetry(task, request, error) };
}

/** Calls the function (`ctx` first when bound) as the current task; its outcome, or a promise of it. */
function callBody(task: AnyTask, message: TaskMessage, env: TraceEnvironment, request: TaskRequest, positional: readonly unknown[]): TraceOutcome | Promise<TraceOutcome> {
  const fn = task.fn as (...a: unknown[]) => unknown;
  const value = runAsCurrentTask(request, fn, task.options.bind ? [taskContext(task, message, env, request), ...positional] : (positional as unknown[]));
  if (typeof (value as PromiseLike<unknown> | null)?.then === 'function') return Promise.resolve(value).then(succeeded, (error: unknown) => failedWith(task, request, error));
  return succeeded(value);
}

/**
 * The body alone: arguments bound and checked, the function called, its outcome. Closures
 * are made only on the paths that wait (a promise, a schema that validates asynchronously).
 */
function traceBody(task: AnyTask, message: TaskMessage, env: TraceEnvironment, request: TaskRequest): TraceOutcome | Promise<TraceOutcome> {
  try {
    const positional = bindArguments(task, message.args, message.kwargs);
    const schema = task.options.schema;
    if (schema === undefined) {
      const problem = task.argumentProblem(message.args, message.kwargs);
      if (problem !== null) throw new TypeError(problem);
      return callBody(task, message, env, request, positional);
    }
    const checked = validateArguments(schema, task.name, positional);
    if (!(checked instanceof Promise)) return callBody(task, message, env, request, checked);
    return checked.then(
      (args) => {
        try {
          return callBody(task, message, env, request, args);
        } catch (error) {
          return failedWith(task, request, error);
        }
      },
      (error: unknown) => failedWith(task, request, error),
    );
  } catch (error) {
    return failedWith(task, request, error);
  }
}
