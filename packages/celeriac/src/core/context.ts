/**
 * @module core/context
 * What a running task sees: `ctx.request` (who it is and how it was called), `ctx.signal`
 * (aborted on soft time limit, revoke-terminate or shutdown), `ctx.log` (carries task id and
 * name on every line) and `ctx.updateState` for progress.
 */
import type { Logger } from 'pino';
import type { Json, JsonObject, TaskState } from '../protocol/types.js';
import type { TaskRequest } from './request.js';

export type { TaskRequest } from './request.js';
import type { SignatureLike, TimeInput } from './call-options.js';

/** Options of `ctx.retry()`, as Celery's `Task.retry`. */
export interface RetryOptions {
  /** The error that caused the retry: stored with RETRY, and thrown once retries run out. */
  exc?: unknown;
  /** Seconds from now. @default the task's defaultRetryDelaySec (180) unless `eta` is given */
  countdown?: number;
  /** When to run again. */
  eta?: TimeInput;
  /** Overrides the task's `maxRetries` for this call; null retries forever. */
  maxRetries?: number | null;
  /** Send the retry to this queue instead of the one the task came from. */
  queue?: string;
}

/** The context object passed first to a task defined with `bind: true`. */
export interface TaskContext {
  readonly request: TaskRequest;
  /** Aborts when the task must stop: soft time limit, terminate, or cold shutdown. */
  readonly signal: AbortSignal;
  /** A logger whose lines carry `taskId` and `taskName`. */
  readonly log: Logger;
  /**
   * Store a custom state (such as `PROGRESS`) with its meta, visible to `AsyncResult`
   * callers as `state()` and `info()`.
   */
  updateState(state: TaskState, meta?: Json): Promise<void>;
  /**
   * Sends a custom task event (Celery's `Task.send_event`), such as
   * `ctx.sendEvent('task-progress', { current: 3, total: 10 })`: monitors following events
   * (`celeriac events`, Flower, a `ClusterState`, which shows it as state `PROGRESS`) receive
   * it with this task's uuid and the worker's hostname. Sent whether task events are enabled
   * or not, as in Celery; does nothing in eager mode. Rejects for a type that is not
   * `task-<subject>` or a field the event sets itself (`uuid`, `hostname`, `timestamp`...),
   * and when the broker refuses the publish.
   */
  sendEvent(type: string, fields?: JsonObject): Promise<void>;
  /**
   * Ends this run and runs the task again later (Celery's `self.retry`): throws a `Retry`,
   * which the worker turns into a new message with the same id, `retries` + 1 and a new ETA
   * (`countdown`, `eta`, else the task's `defaultRetryDelaySec`). Once `maxRetries` is reached
   * it throws `exc` (or MaxRetriesExceededError) instead, and the task fails with it.
   * Let the error propagate: a task that catches it and returns is not retried.
   */
  retry(options?: RetryOptions): never;
  /**
   * Ends this run and hands its place to `replacement` (Celery's `self.replace`): the
   * replacement is sent with this task's id, so callers waiting on this task get the
   * replacement's result; it inherits this task's callbacks, errbacks, remaining chain and
   * chord membership. A group is sent as a chord whose body, `celery.accumulate`, returns the
   * list of the group's results. The returned promise then rejects with `Ignore`: the worker
   * stores nothing for this run and acks it. Write `return ctx.replace(sig)` and let the
   * error propagate. In eager mode the replacement runs at once and its result is returned.
   */
  replace(replacement: SignatureLike): Promise<never>;
  /**
   * Adds `sig` (a task, chain, group or chord) to the chord this task is a header part of
   * (Celery's `self.add_to_chord`): the chord waits for one more part (Redis: `.t`, INCRBY,
   * atomic), then `sig` is sent with this task's group, group index, chord and root, and
   * counts as one part (a chord's body, a chain's last step). Resolves with its result id.
   * Rejects when this task is not part of a chord.
   */
  addToChord(sig: SignatureLike): Promise<string>;
}
