/**
 * @module core/beat-entry
 * The shape of a beat entry as written in the `beatSchedule` setting and stored for dynamic
 * entries: Celery's `beat_schedule` shape (name -> task, schedule, args, kwargs, options).
 * Only the data shape lives in core (settings need it); beat/ reads and checks it.
 */
import type { Json, JsonObject } from '../protocol/types.js';

/** A schedule object (built by `every`, `crontab` or `solar` from celeriac). */
export interface BeatScheduleObject {
  readonly kind: 'interval' | 'crontab' | 'solar';
}

/** What happens to a run that comes later than its grace time (beat was down, or no leader). */
export type MisfirePolicy = 'run-once' | 'skip';

/** Call options a beat entry may give its task messages (Celery's entry `options`). */
export interface BeatEntryOptions {
  /** Target queue. */
  queue?: string;
  /** Exchange ('' = straight to the queue). */
  exchange?: string;
  /** Routing key. */
  routingKey?: string;
  /** 0-9; on Redis 0 is served first. */
  priority?: number;
  /** Seconds after sending (or an ISO time) after which the task is not run. */
  expires?: number | string;
  /** Extra message headers. */
  headers?: JsonObject;
  /** Store no result. */
  ignoreResult?: boolean;
  /** Hard time limit in seconds (Celery's `time_limit`). */
  timeLimitSec?: number;
  /** Soft time limit in seconds (Celery's `soft_time_limit`). */
  softTimeLimitSec?: number;
  /** @deprecated Use `timeLimitSec` (seconds, as before). */
  timeLimit?: number;
  /** @deprecated Use `softTimeLimitSec` (seconds, as before). */
  softTimeLimit?: number;
  /** Name shown in logs and events instead of the task name. */
  shadow?: string;
  /**
   * Seconds each run waits after it is sent, held by the broker (on RabbitMQ with quorum
   * queues: kombu's `celery_delayed_*` queues), as Celery's entry option `countdown`.
   */
  countdown?: number;
}

/** One beat entry, Celery's `beat_schedule` value shape. */
export interface BeatEntryDefinition {
  /** Task name (need not be registered in this app, nor written in TypeScript). */
  task: string;
  /** Seconds, a five-field crontab string, or `every(...)`, `crontab(...)`, `solar(...)`. */
  schedule: number | string | BeatScheduleObject;
  /** Positional arguments. @default [] */
  args?: readonly Json[];
  /** Keyword arguments. @default {} */
  kwargs?: JsonObject;
  /** Call options of the task messages. @default {} */
  options?: BeatEntryOptions;
  /** IANA zone for a crontab that names none. @default the app's `timezone` */
  timezone?: string;
  /** Late runs: run once to catch up, or skip them. @default 'run-once' */
  misfire?: MisfirePolicy;
  /** A run is late when it is more than this many seconds past its slot. @default beatMisfireGraceSec */
  misfireGraceSec?: number;
}
