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
  /** Started, then given up by a cold shutdown or a warm shutdown past its deadline. */
  | 'abandoned'
  /** Received but never started because the worker is shutting down. */
  | 'not-started';

/** What to do with the message. */
export interface Settlement {
  action: 'ack' | 'reject' | 'restore' | 'none';
  reason: string;
}

/** The ack policy in force for one task. */
export interface AckPolicy {
  acksLate: boolean;
  acksOnFailureOrTimeout: boolean;
  /** True when the message was already acked before the task ran (early ack). */
  ackedEarly: boolean;
}

/** Decides ack, reject or restore for one outcome. */
export function decideSettlement(outcome: DeliveryOutcome, policy: AckPolicy): Settlement {
  if (outcome === 'not-started') return { action: 'restore', reason: 'never started: give it back to the front of its queue' };
  if (policy.ackedEarly) return { action: 'none', reason: 'acked before the task ran (early ack)' };
  switch (outcome) {
    case 'success':
      return { action: 'ack', reason: 'task succeeded' };
    case 'skipped':
      return { action: 'ack', reason: 'not run (unknown, revoked or expired): done with it' };
    case 'failure':
    case 'timeout':
      return policy.acksOnFailureOrTimeout
        ? { action: 'ack', reason: `task ${outcome === 'timeout' ? 'timed out' : 'failed'}; acksOnFailureOrTimeout is on` }
        : { action: 'reject', reason: `task ${outcome === 'timeout' ? 'timed out' : 'failed'}; acksOnFailureOrTimeout is off: drop it` };
    case 'abandoned':
      return policy.acksLate
        ? { action: 'restore', reason: 'late ack and the worker stopped mid-task: deliver it again' }
        : { action: 'ack', reason: 'early ack: the message is already gone' };
  }
}
