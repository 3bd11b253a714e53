/**
 * @module core/signals
 * Celery's signals as typed events on the app: `app.on('taskPrerun', fn)`. One map of
 * payload types ({@link SignalPayloads}) fixes what each handler receives; the names are
 * Celery's in camelCase (`task_prerun` -> `taskPrerun`).
 *
 * Handlers run in order of registration, in the process where Celery sends the signal: the
 * task signals (`taskPrerun`, `taskPostrun`, `taskSuccess`, `taskFailure`, `taskRetry`) where
 * the body runs (a pool thread or process, the worker for the async pool, the caller in eager
 * mode); `workerProcessInit` in each pool child; the others in the worker, beat or sender.
 * A handler may return a promise: the signal waits for it. A handler that throws or rejects
 * is logged and skipped; it never changes the task's outcome. With no handler for a name,
 * emitting it costs one map look-up.
 */
import type { Logger } from 'pino';
import type { Json, JsonObject, TaskMessage } from '../protocol/types.js';
import { CeleriacError, ErrorCodes, loggableError } from '../errors.js';
import type { TaskRequest } from './request.js';

/** What a handler of a task signal learns about the task (Celery's `sender`, the task object). */
export interface SignalTask {
  readonly name: string;
}

/** The payload of each signal, by name. */
export interface SignalPayloads {
  /**
   * Before a task message is published (Celery's `before_task_publish`), in the sender. The
   * message may be changed in place: custom headers go in `message.extraHeaders`.
   */
  beforeTaskPublish: { readonly name: string; readonly id: string; readonly message: TaskMessage; readonly exchange: string; readonly routingKey: string };
  /** After the broker took a task message (`after_task_publish`), in the sender. */
  afterTaskPublish: { readonly name: string; readonly id: string; readonly exchange: string; readonly routingKey: string };
  /** The worker received a task message it knows (`task_received`), in the worker. */
  taskReceived: { readonly id: string; readonly name: string; readonly message: TaskMessage };
  /** Before the body runs (`task_prerun`), where it runs. */
  taskPrerun: { readonly id: string; readonly task: SignalTask; readonly args: readonly Json[]; readonly kwargs: Readonly<JsonObject>; readonly request: TaskRequest };
  /** After the body ran, whatever the outcome (`task_postrun`), where it ran. */
  taskPostrun: {
    readonly id: string;
    readonly task: SignalTask;
    readonly args: readonly Json[];
    readonly kwargs: Readonly<JsonObject>;
    readonly request: TaskRequest;
    /** The return value, or the error thrown. */
    readonly retval: unknown;
    /** The state the run leads to: SUCCESS, FAILURE, RETRY, or IGNORED / REJECTED. */
    readonly state: 'SUCCESS' | 'FAILURE' | 'RETRY' | 'IGNORED' | 'REJECTED';
  };
  /** The body returned (`task_success`), where it ran. */
  taskSuccess: { readonly task: SignalTask; readonly request: TaskRequest; readonly result: unknown };
  /**
   * The task failed (`task_failure`): where the body ran when it threw; in the worker when the
   * worker ended it (hard time limit, its thread or process died), with `request` null.
   */
  taskFailure: {
    readonly id: string;
    readonly task: SignalTask;
    readonly error: unknown;
    readonly args: readonly Json[];
    readonly kwargs: Readonly<JsonObject>;
    readonly request: TaskRequest | null;
  };
  /** The task asked for a retry (`task_retry`), where it ran; `reason` is the Retry error. */
  taskRetry: { readonly task: SignalTask; readonly request: TaskRequest; readonly reason: unknown };
  /** Revoked, expired or terminated (`task_revoked`), in the worker. */
  taskRevoked: { readonly id: string; readonly name: string; readonly terminated: boolean; readonly signum: string | null; readonly expired: boolean };
  /** A message for a task this worker does not know (`task_unknown`), in the worker. */
  taskUnknown: { readonly id: string; readonly name: string; readonly message: TaskMessage; readonly error: unknown };
  /** A message that is not a task message was set aside (`task_rejected`), in the worker. */
  taskRejected: { readonly queue: string; readonly reason: string };
  /** The worker is starting, before it connects (`worker_init`). */
  workerInit: { readonly hostname: string };
  /** The worker consumes its queues (`worker_ready`). */
  workerReady: { readonly hostname: string };
  /** The worker is shutting down (`worker_shutdown`). */
  workerShutdown: { readonly hostname: string };
  /**
   * A pool child loaded the app (`worker_process_init`), in that child; with the async and
   * solo pools, once in the worker, where their bodies run.
   */
  workerProcessInit: { readonly pid: number; readonly threadId: number };
  /** Beat is starting (`beat_init`). */
  beatInit: { readonly hostname: string };
}

/** A signal's name. */
export type SignalName = keyof SignalPayloads;

/** A handler of signal `K`. */
export type SignalHandler<K extends SignalName> = (payload: SignalPayloads[K]) => void | Promise<void>;

/** The names, for checking what a caller passes. */
export const SIGNAL_NAMES: ReadonlySet<string> = new Set<SignalName>([
  'beforeTaskPublish', 'afterTaskPublish', 'taskReceived', 'taskPrerun', 'taskPostrun', 'taskSuccess', 'taskFailure',
  'taskRetry', 'taskRevoked', 'taskUnknown', 'taskRejected', 'workerInit', 'workerReady', 'workerShutdown', 'workerProcessInit', 'beatInit',
]);

/** Celery's snake_case name -> ours, for the error a Celery habit gets. */
function camelOf(name: string): string {
  return name.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/** The handlers of an app. */
export class Signals {
  private readonly handlers = new Map<SignalName, SignalHandler<SignalName>[]>();

  /** `log` receives the handlers' errors (read when one throws: the app may swap its logger). */
  constructor(private readonly log: () => Logger) {}

  /** Adds a handler; returns a function that removes it. Throws on an unknown name. */
  on<K extends SignalName>(name: K, handler: SignalHandler<K>): () => void {
    if (!SIGNAL_NAMES.has(name)) {
      const camel = camelOf(String(name));
      const hint = SIGNAL_NAMES.has(camel) ? ` (Celery's ${String(name)} is '${camel}')` : '';
      throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `unknown signal ${JSON.stringify(name)}${hint}; known: ${[...SIGNAL_NAMES].join(', ')}`);
    }
    if (typeof handler !== 'function') throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `the handler of ${name} must be a function`);
    const list = this.handlers.get(name) ?? [];
    // A new array: an emit in progress keeps calling the list it started with.
    this.handlers.set(name, [...list, handler as SignalHandler<SignalName>]);
    return () => this.off(name, handler);
  }

  /** Removes a handler (the first registration of it). */
  off<K extends SignalName>(name: K, handler: SignalHandler<K>): void {
    const list = this.handlers.get(name);
    if (list === undefined) return;
    const at = list.indexOf(handler as SignalHandler<SignalName>);
    if (at < 0) return;
    const next = list.filter((_h, i) => i !== at);
    if (next.length === 0) this.handlers.delete(name);
    else this.handlers.set(name, next);
  }

  /** True when `name` has a handler: callers skip building a payload otherwise. */
  has(name: SignalName): boolean {
    return this.handlers.has(name);
  }

  /**
   * Calls the handlers of `name` in order, each after the previous one's promise settled.
   * Never throws nor rejects. Undefined when every handler returned at once (or there is none).
   */
  emit<K extends SignalName>(name: K, payload: SignalPayloads[K]): Promise<void> | undefined {
    const list = this.handlers.get(name);
    if (list === undefined) return undefined;
    for (let i = 0; i < list.length; i += 1) {
      const pending = this.call(name, list[i]!, payload);
      if (pending !== undefined) return this.finish(name, list, i + 1, payload, pending);
    }
    return undefined;
  }

  private async finish<K extends SignalName>(name: K, list: readonly SignalHandler<SignalName>[], from: number, payload: SignalPayloads[K], first: Promise<void>): Promise<void> {
    await first;
    for (let i = from; i < list.length; i += 1) await this.call(name, list[i]!, payload);
  }

  /** One handler: undefined when it returned at once, else a promise that never rejects. */
  private call(name: SignalName, handler: SignalHandler<SignalName>, payload: unknown): Promise<void> | undefined {
    try {
      const out = handler(payload as never);
      if (typeof (out as PromiseLike<void> | undefined)?.then !== 'function') return undefined;
      return Promise.resolve(out).catch((err: unknown) => this.failed(name, err));
    } catch (err) {
      this.failed(name, err);
      return undefined;
    }
  }

  private failed(name: SignalName, err: unknown): void {
    try {
      this.log().error({ err: loggableError(err), signal: name }, `a ${name} signal handler failed (ignored: the task and worker go on)`);
    } catch {
      // A logger that throws must not break the caller either.
    }
  }
}
