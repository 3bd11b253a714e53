/**
 * @module worker/pools/time-limit-table
 * Which time limits a run gets. As in Celery's worker, per element: the message's
 * `timelimit` header `[hard, soft]` first (a Python caller's `time_limit` /
 * `soft_time_limit` land there, and so do the task's own limits when the sender knows the
 * task), then the limits set at run time for the task (Celery's `time_limit` control
 * command, which replaces the task's attributes), else the task's options, then the
 * worker's defaults (`--time-limit` / `--soft-time-limit`, else the `taskTimeLimitSec` /
 * `taskSoftTimeLimitSec` settings).
 */
import type { AnyTask } from '../../core/task.js';
import { checkTimeLimit } from '../../protocol/limits.js';
import type { TaskMessage } from '../../protocol/types.js';
import type { TimeLimits } from './types.js';

/** Limits set at run time for one task; null or absent means none at the task level. */
export interface TimeLimitOverride {
  /** Hard limit in seconds. */
  hard?: number | null;
  /** Soft limit in seconds. */
  soft?: number | null;
}

function check(value: number | null | undefined, what: string): number | null {
  return checkTimeLimit(value, `${what} time limit`);
}

/**
 * A limit that applies: a positive number of seconds. 0 and null mean "none here, ask the
 * next level", as Celery's `time_limit or task.time_limit` and billiard's
 * `timeout or self.timeout`; so `timelimit: [0, null]` from a Python caller is no limit.
 * Anything else (negative, infinite) from a hand-made header is no limit either.
 */
function limitOf(value: number | null | undefined): number | null {
  return typeof value === 'number' && value > 0 && value !== Infinity ? value : null;
}

/** Run-time time limits per task name, and the precedence rules. */
export class TimeLimitTable {
  private readonly overrides = new Map<string, TimeLimits>();

  /** `defaults` apply when neither the message nor the task sets a limit. */
  constructor(private readonly defaults: TimeLimits) {}

  /** Sets both limits of a task for runs that start from now on; `null` removes the override. */
  set(taskName: string, limits: TimeLimitOverride | null): void {
    if (limits === null) {
      this.overrides.delete(taskName);
      return;
    }
    this.overrides.set(taskName, Object.freeze({ hard: check(limits.hard, 'hard'), soft: check(limits.soft, 'soft') }));
  }

  /** The override of a task, if one is set. */
  get(taskName: string): TimeLimits | undefined {
    return this.overrides.get(taskName);
  }

  /** The limits for one run of `task` from `message`. */
  resolve(task: AnyTask, message: TaskMessage): TimeLimits {
    const [headerHard, headerSoft] = message.headers.timelimit;
    const override = this.overrides.get(task.name);
    const taskHard = override !== undefined ? override.hard : (task.options.timeLimitSec ?? null);
    const taskSoft = override !== undefined ? override.soft : (task.options.softTimeLimitSec ?? null);
    return {
      hard: limitOf(headerHard) ?? limitOf(taskHard) ?? limitOf(this.defaults.hard),
      soft: limitOf(headerSoft) ?? limitOf(taskSoft) ?? limitOf(this.defaults.soft),
    };
  }
}
