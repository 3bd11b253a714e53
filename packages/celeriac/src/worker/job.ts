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

/** A job for a delivery just admitted: reserved, until a slot lets it start. */
export function newJob(delivery: Delivery, message: TaskMessage, task: AnyTask): Job {
  return { delivery, message, task, state: 'reserved', startedAt: null, ackedEarly: false, terminatedBy: null, abort: new LazyAbortController(), running: null, endRunning: null };
}
