/**
 * @module worker/task-traits
 * What the executor reads of a task on every run and that never changes: its ack policies
 * (the task's options over the app's settings; one for a run acked early, one not) and whether
 * it reports STARTED. Made once per task.
 */
import type { App } from '../core/app.js';
import type { AnyTask } from '../core/task.js';
import type { AckPolicy } from './outcome-table.js';

/** The policy of a message whose task is unknown: its row acks whatever the policy says. */
export const NO_TASK_POLICY: AckPolicy = Object.freeze({ acksLate: false, acksOnFailureOrTimeout: true, ackedEarly: false });

/** What does not change per task: its ack policies ([not acked early, acked early]) and whether it reports STARTED. */
interface Traits {
  readonly policies: readonly [AckPolicy, AckPolicy];
  readonly trackStarted: boolean;
}

/** The traits of an app's tasks, each made on first use. */
export class TaskTraits {
  readonly #of = new WeakMap<AnyTask, Traits>();

  constructor(private readonly app: App) {}

  /** The ack policy in force for a run of `task` (unknown: {@link NO_TASK_POLICY}). */
  policy(task: AnyTask | undefined, ackedEarly: boolean): AckPolicy {
    return task === undefined ? NO_TASK_POLICY : this.#traits(task).policies[ackedEarly ? 1 : 0];
  }

  /** Whether `task` stores STARTED when it starts. */
  trackStarted(task: AnyTask): boolean {
    return this.#traits(task).trackStarted;
  }

  #traits(task: AnyTask): Traits {
    let traits = this.#of.get(task);
    if (traits === undefined) {
      const s = this.app.settings;
      const o = task.options;
      const base = { acksLate: o.acksLate ?? s.taskAcksLate, acksOnFailureOrTimeout: o.acksOnFailureOrTimeout ?? s.taskAcksOnFailureOrTimeout, rejectOnWorkerLost: o.rejectOnWorkerLost ?? s.taskRejectOnWorkerLost };
      traits = { policies: [Object.freeze({ ...base, ackedEarly: false }), Object.freeze({ ...base, ackedEarly: true })], trackStarted: o.trackStarted ?? s.taskTrackStarted };
      this.#of.set(task, traits);
    }
    return traits;
  }
}
