/**
 * @module core/request
 * `ctx.request`: who a running task is and how it was called (Celery's `task.request`). Its
 * own module so call options can name it (a new-style errback receives one) without
 * importing the task context.
 */
import type { DeliveryInfo, Json, JsonObject } from '../protocol/types.js';

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
  /**
   * The message properties, as Celery's `request.properties`: `correlation_id`, `reply_to`,
   * `priority`, any other property the sender set (`app_id`...), and `delivery_info`.
   */
  readonly properties: Readonly<JsonObject>;
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
  /** How many `replace` calls led to this run (Celery's `replaced_task_nesting`); 0 for a plain call. */
  readonly replacedTaskNesting: number;
}

