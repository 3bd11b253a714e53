/**
 * @module core/context
 * What a running task sees: `ctx.request` (who it is and how it was called), `ctx.signal`
 * (aborted on soft time limit, revoke-terminate or shutdown), `ctx.log` (carries task id and
 * name on every line) and `ctx.updateState` for progress.
 */
import type { Logger } from 'pino';
import type { DeliveryInfo, Json, JsonObject, TaskState } from '../protocol/types.js';
import type { TimeInput } from './call-options.js';

/** The request a task runs for. Mirrors Celery's `task.request`. */
export interface TaskRequest {
  /** Task id. */
  readonly id: string;
  /** Registered task name. */
  readonly task: string;
  readonly args: readonly Json[];
  readonly kwargs: Readonly<JsonObject>;
  /** How many times this task was retried before this run. */
  readonly retries: number;
  readonly parentId: string | null;
  readonly rootId: string;
  readonly groupId: string | null;
  readonly groupIndex: number | null;
  /** The worker's node name (`celery@host`), or `eager` when run eagerly. */
  readonly hostname: string;
  /** Where the message came from; empty when run eagerly. */
  readonly deliveryInfo: Readonly<DeliveryInfo>;
  /** ISO ETA the task was sent with, if any. */
  readonly eta: string | null;
  /** ISO expiry the task was sent with, if any. */
  readonly expires: string | null;
  /** `[hard, soft]` seconds in force for this run. */
  readonly timeLimit: readonly [number | null, number | null];
  readonly ignoreResult: boolean;
  /** Sender node name. */
  readonly origin: string | null;
  readonly replyTo: string;
  readonly correlationId: string;
  /** True when the task runs in the caller (eager mode). */
  readonly isEager: boolean;
  /** Custom headers the caller set. */
  readonly headers: Readonly<JsonObject>;
}

/** Options of `ctx.retry()`, as Celery's `Task.retry`. */
export interface RetryOptions {
  /** The error that caused the retry: stored with RETRY, and thrown once retries run out. */
  exc?: unknown;
  /** Seconds from now. @default the task's defaultRetryDelay (180) unless `eta` is given */
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
   * Ends this run and runs the task again later (Celery's `self.retry`): throws a `Retry`,
   * which the worker turns into a new message with the same id, `retries` + 1 and a new ETA
   * (`countdown`, `eta`, else the task's `defaultRetryDelay`). Once `maxRetries` is reached
   * it throws `exc` (or MaxRetriesExceededError) instead, and the task fails with it.
   * Let the error propagate: a task that catches it and returns is not retried.
   */
  retry(options?: RetryOptions): never;
}
