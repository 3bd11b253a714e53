/**
 * @module worker/settlement
 * The one place where the outcome of a delivery decides what happens to its message.
 * Every branch names its reason; the executor logs it at debug level.
 */

/** How a delivery ended, as far as acking is concerned. */
export type DeliveryOutcome =
  | 'success'
  | 'failure'
  /** The hard time limit passed. */
  | 'timeout'
  /** Not run: unknown task, revoked or expired. Celery acks these. */
  | 'skipped'
  /** The task asked for a retry (`Retry`) and its new message was published. */
  | 'retry'
  /** The task threw `Reject({ requeue: false })`. */
  | 'rejected'
  /** The task threw `Reject({ requeue: true })`. */
  | 'rejected-requeue'
  /** The task threw `Ignore`. */
  | 'ignored'
  /** Stopped while running by a revoke with `terminate`. */
  | 'terminated'
  /** The process or thread running the task died under it (WorkerLostError). */
  | 'worker-lost'
  /** Started, then given up by a cold shutdown or a warm shutdown past its deadline. */
  | 'abandoned'
  /** Received but never started because the worker is shutting down. */
  | 'not-started';

/** What to do with the message. `requeue` = reject with requeue (to the tail, marked redelivered). */
export interface Settlement {
  action: 'ack' | 'reject' | 'requeue' | 'restore' | 'none';
  reason: string;
}

/** The ack policy in force for one task. */
export interface AckPolicy {
  acksLate: boolean;
  acksOnFailureOrTimeout: boolean;
  /** With late acks, requeue a task whose process was lost instead of failing it. @default false */
  rejectOnWorkerLost?: boolean;
  /** True when the message was already acked before the task ran (early ack). */
  ackedEarly: boolean;
}

/** Decides ack, reject, requeue or restore for one outcome. */
export function decideSettlement(outcome: DeliveryOutcome, policy: AckPolicy): Settlement {
  if (outcome === 'not-started') return { action: 'restore', reason: 'never started: give it back to the front of its queue' };
  if (policy.ackedEarly) {
    return outcome === 'rejected-requeue'
      ? { action: 'none', reason: 'Reject(requeue) needs late acks: the message was acked before the task ran, it is gone' }
      : { action: 'none', reason: 'acked before the task ran (early ack)' };
  }
  switch (outcome) {
    case 'success':
      return { action: 'ack', reason: 'task succeeded' };
    case 'skipped':
      return { action: 'ack', reason: 'not run (unknown, revoked or expired): done with it' };
    case 'retry':
      return { action: 'ack', reason: 'retry published as a new message: this one is done' };
    case 'ignored':
      return { action: 'ack', reason: 'task raised Ignore: done with it, no state stored' };
    case 'terminated':
      return { action: 'ack', reason: 'revoked and terminated while running: REVOKED stored, done with it' };
    case 'rejected':
      return { action: 'reject', reason: 'task raised Reject without requeue: drop it' };
    case 'rejected-requeue':
      return { action: 'requeue', reason: 'task raised Reject with requeue: back to its queue, marked redelivered' };
    case 'failure':
    case 'timeout':
      return policy.acksOnFailureOrTimeout
        ? { action: 'ack', reason: `task ${outcome === 'timeout' ? 'timed out' : 'failed'}; acksOnFailureOrTimeout is on` }
        : { action: 'reject', reason: `task ${outcome === 'timeout' ? 'timed out' : 'failed'}; acksOnFailureOrTimeout is off: drop it` };
    case 'worker-lost':
      if (policy.acksLate && policy.rejectOnWorkerLost) return { action: 'requeue', reason: 'worker lost the task; rejectOnWorkerLost: deliver it again' };
      return policy.acksOnFailureOrTimeout
        ? { action: 'ack', reason: 'worker lost the task: FAILURE stored; acksOnFailureOrTimeout is on' }
        : { action: 'reject', reason: 'worker lost the task: FAILURE stored; acksOnFailureOrTimeout is off: drop it' };
    case 'abandoned':
      return policy.acksLate
        ? { action: 'restore', reason: 'late ack and the worker stopped mid-task: deliver it again' }
        : { action: 'ack', reason: 'early ack: the message is already gone' };
  }
}
