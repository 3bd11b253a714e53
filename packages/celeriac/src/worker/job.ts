/**
 * @module worker/job
 * The executor's record of a task request it holds, from admission until its message is
 * settled. Only the executor changes it; the rest of the worker reads a {@link JobView}
 * (inspect, stats) and reaches running bodies through the executor (terminate, abandon).
 */
import type { Delivery } from '../core/spi/broker.js';
import type { AnyTask } from '../core/task.js';
import type { TaskMessage } from '../protocol/types.js';
import { LazyAbortController } from './lazy-abort.js';
import type { RunHandle } from './pools/types.js';
import type { Subject } from './task-outcomes.js';

/** A task request the worker holds, as others may read it (inspect, stats). */
export interface JobView {
  readonly delivery: Delivery;
  readonly message: TaskMessage;
  readonly task: AnyTask;
  /** Reserved (waiting for a slot) or active (running). */
  readonly state: 'reserved' | 'active';
  /** Epoch ms when it started running. */
  readonly startedAt: number | null;
  readonly ackedEarly: boolean;
}

/** The executor's own record of a job. */
export interface Job extends JobView, Subject {
  readonly task: AnyTask;
  state: 'reserved' | 'active';
  startedAt: number | null;
  ackedEarly: boolean;
  terminatedBy: string | null;
  readonly abort: LazyAbortController;
  /** The pool's handle on the run, while the body runs. */
  running: RunHandle | null;
  /** Removes the broker's running record of an early-acked task (Delivery.markRunning); null when none. */
  endRunning: (() => void) | null;
}

/**
 * A job made by a constructor, not an object literal: a literal is an allocation site, whose
 * tenuring decision V8 revises once it has seen the first fetches' jobs all alive at once,
 * and every function compiled against the first decision (the executor's `run` among them)
 * was then dropped and compiled again, in about one fresh worker in five to ten.
 */
class JobRecord implements Job {
  state: 'reserved' | 'active' = 'reserved';
  startedAt: number | null = null;
  ackedEarly = false;
  terminatedBy: string | null = null;
  readonly abort = new LazyAbortController();
  running: RunHandle | null = null;
  endRunning: (() => void) | null = null;

  constructor(
    readonly delivery: Delivery,
    readonly message: TaskMessage,
    readonly task: AnyTask,
  ) {}
}

/** A job for a delivery just admitted: reserved, until a slot lets it start. */
export function newJob(delivery: Delivery, message: TaskMessage, task: AnyTask): Job {
  return new JobRecord(delivery, message, task);
}
