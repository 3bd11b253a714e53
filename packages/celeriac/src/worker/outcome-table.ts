/**
 * @module worker/outcome-table
 * Every way a task message can leave the worker, one row each: the state stored in the
 * result backend, the follow-ups sent before it is stored, the task event emitted, whether
 * it counts as processed, and the ack decision with its one-line reason. The executor applies
 * a task message's row in one place (`Executor.conclude`), a delivery's row (malformed, past
 * its delivery limit, a worker-side failure) in another (`Executor.endDelivery`), and both
 * hand the decision to worker/settlement.ts, the only module that settles a message; nothing
 * else decides what happens to a message. A new outcome (a hook's verdict) is a new row, not
 * a new branch.
 */
import type { TaskEventType } from './task-events.js';

/** How the life of a task message in this worker ended. */
export type OutcomeKind =
  // Decided for the delivery, whatever task it carries (Executor.endDelivery).
  /** Not a task message: set aside for an operator (FAILURE stored when its id can be read: worker/unreadable.ts). */
  | 'malformed'
  /** Delivered more than `workerMaxDeliveries` times without being settled: dead-lettered on arrival, never run. */
  | 'over-limit'
  /** The worker could not finish handling it (the result store down, a bug): given back after a backoff. */
  | 'worker-failure'
  // Decided before the body runs.
  /** No task of that name is registered here. */
  | 'unregistered'
  /** Revoked before it started. */
  | 'revoked'
  /** Its `expires` passed before it started. */
  | 'expired'
  /** Its ETA is in the future: the broker holds it until then. */
  | 'deferred'
  /** Received but never started because the worker is shutting down. */
  | 'not-started'
  // Decided by how the body ended.
  | 'success'
  | 'failure'
  /**
   * The body returned a value the result backend cannot encode (a Map, a cycle, nesting past
   * 1,000 levels): FAILURE EncodeError, as Celery's tracer ends it.
   */
  | 'unencodable'
  /** The hard time limit passed. */
  | 'timeout'
  /** The thread running the task died under it (WorkerLostError). */
  | 'worker-lost'
  /** As `worker-lost`, with late acks and `rejectOnWorkerLost`: the message is delivered again. */
  | 'worker-lost-requeued'
  /** The task asked for a retry (`Retry`); its new message is published first. */
  | 'retry'
  /** The task threw `Reject({ requeue: false })`. */
  | 'rejected'
  /** The task threw `Reject({ requeue: true })`. */
  | 'rejected-requeue'
  /** The task threw `Ignore`. */
  | 'ignored'
  /** Stopped while running by a revoke with `terminate`. */
  | 'terminated'
  // Given up by a cold shutdown, or a warm one past its deadline.
  /** Given up with an early ack: the message is gone, so FAILURE records why. */
  | 'abandoned'
  /** Given up with a late ack: the message goes back and the task runs again. */
  | 'abandoned-restored';

/** The ack policy in force for one task. */
export interface AckPolicy {
  readonly acksLate: boolean;
  readonly acksOnFailureOrTimeout: boolean;
  /** With late acks, requeue a task whose thread was lost instead of failing it. @default false */
  readonly rejectOnWorkerLost?: boolean;
  /** True when the message was acked before the task ran (early ack). */
  readonly ackedEarly: boolean;
}

/**
 * What the worker does with a message: `requeue` is a reject with requeue (to the tail,
 * marked redelivered), `restore` gives it back to the front of its queue, `defer` hands it
 * to the broker until its ETA, `none` leaves it (already acked).
 */
export interface AckDecision {
  /**
   * `redeliver`: a worker-side failure, given back after a backoff; it and `requeue` become a
   * dead letter at `workerMaxDeliveries` (worker/redelivery.ts). `dead-letter` and `set-aside`
   * move the message to the set-aside store (core/set-aside.ts), as a dead letter or as malformed.
   */
  readonly action: 'ack' | 'reject' | 'requeue' | 'restore' | 'defer' | 'redeliver' | 'dead-letter' | 'set-aside' | 'none';
  /** Why, in one line (logged at debug level). */
  readonly reason: string;
}

/** What one outcome does, in the order the executor applies it. */
export interface OutcomeRow {
  /** Sent before the state is stored, as Celery's tracer does: the link callbacks and next chain step, the errbacks, or the retry's new message. */
  readonly followUps: 'callbacks' | 'errbacks' | 'retry' | null;
  /** The state stored in the result backend; null: nothing is stored. A ready state is also reported to the task's chord and chain. */
  readonly state: 'SUCCESS' | 'FAILURE' | 'REVOKED' | 'RETRY' | null;
  /**
   * Storing is best effort: a failure to store is logged and the ending goes on (the worker is
   * going down; or the state only tells what happened, as RETRY once the retry's message is out).
   */
  readonly bestEffort: boolean;
  /** The task event emitted once the state is stored; null: none. */
  readonly event: Exclude<TaskEventType, 'task-received' | 'task-started'> | null;
  /** The body ran to an end: counted in the worker's totals. */
  readonly counted: boolean;
  /** What to do with the message under `policy`. */
  ack(policy: AckPolicy): AckDecision;
}

const decision = (action: AckDecision['action'], reason: string): AckDecision => Object.freeze({ action, reason });

/** The decision whatever the policy. */
const always = (d: AckDecision) => (): AckDecision => d;

const EARLY = decision('none', 'acked before the task ran (early ack)');

/** For a task that started: once acked early there is nothing left to do with its message. */
const afterStart =
  (late: (policy: AckPolicy) => AckDecision, early = EARLY) =>
  (policy: AckPolicy): AckDecision =>
    policy.ackedEarly ? early : late(policy);

/** A failure's ack: kept or dropped as acksOnFailureOrTimeout says. */
function onFailure(what: string): (policy: AckPolicy) => AckDecision {
  const ack = decision('ack', `${what}; acksOnFailureOrTimeout is on`);
  const reject = decision('reject', `${what}; acksOnFailureOrTimeout is off: drop it`);
  return afterStart((policy) => (policy.acksOnFailureOrTimeout ? ack : reject));
}

/** A row that stores nothing and sends nothing. */
const bare = (event: OutcomeRow['event'], counted: boolean, ack: OutcomeRow['ack']): OutcomeRow =>
  Object.freeze({ followUps: null, state: null, bestEffort: false, event, counted, ack });

/** A row that stores a state. */
const storing = (state: NonNullable<OutcomeRow['state']>, followUps: OutcomeRow['followUps'], event: OutcomeRow['event'], counted: boolean, ack: OutcomeRow['ack']): OutcomeRow =>
  Object.freeze({ followUps, state, bestEffort: false, event, counted, ack });

/** The rows; see {@link OutcomeKind}. */
export const OUTCOME_TABLE: { readonly [K in OutcomeKind]: OutcomeRow } = Object.freeze({
  // No row of these stores through the table: the set-aside path and the dead letter store their own FAILURE.
  malformed: bare(null, false, always(decision('set-aside', 'not a task message: set aside, never run'))),
  // Its dead letter stores FAILURE and sends task-failed, and tells the task's chord (worker/settlement.ts).
  'over-limit': bare(null, false, always(decision('dead-letter', 'delivered past workerMaxDeliveries without being settled: dead-lettered, not run'))),
  'worker-failure': bare(null, false, always(decision('redeliver', 'the worker could not finish handling it: deliver it again after a backoff, up to workerMaxDeliveries'))),
  // As Celery's Consumer.on_unknown_task: FAILURE NotRegistered stored, task-failed sent, the message rejected (no requeue).
  unregistered: storing('FAILURE', null, 'task-failed', false, always(decision('reject', 'unknown task: FAILURE stored, rejected without requeue'))),
  revoked: storing('REVOKED', null, 'task-revoked', false, always(decision('ack', 'revoked before it started: REVOKED stored, done with it'))),
  expired: storing('REVOKED', null, 'task-revoked', false, always(decision('ack', 'expired before it started: REVOKED stored, done with it'))),
  deferred: bare(null, false, always(decision('defer', 'ETA in the future: the broker holds it until then'))),
  'not-started': bare(null, false, always(decision('restore', 'never started: give it back to the front of its queue'))),
  success: storing('SUCCESS', 'callbacks', 'task-succeeded', true, afterStart(always(decision('ack', 'task succeeded')))),
  failure: storing('FAILURE', 'errbacks', 'task-failed', true, onFailure('task failed')),
  // Decided when the SUCCESS could not be stored; its success follow-ups could not be sent either (the same value).
  unencodable: storing('FAILURE', 'errbacks', 'task-failed', true, onFailure('its return value could not be encoded')),
  timeout: storing('FAILURE', 'errbacks', 'task-failed', true, onFailure('task timed out')),
  'worker-lost': storing('FAILURE', 'errbacks', 'task-failed', true, onFailure('worker lost the task: FAILURE stored')),
  // Not stored and no task-failed (as Celery): the task runs again.
  'worker-lost-requeued': bare(null, true, afterStart(always(decision('redeliver', 'worker lost the task; rejectOnWorkerLost: deliver it again after a backoff, up to workerMaxDeliveries')))),
  // Best effort: the retry's message is out, so giving this one back for a RETRY that could
  // not be stored ran the task again beside its retry, a whole extra chain per failed store.
  retry: Object.freeze({
    ...storing('RETRY', 'retry', 'task-retried', true, afterStart(always(decision('ack', 'retry published as a new message: this one is done')))),
    bestEffort: true,
  }),
  rejected: bare('task-rejected', true, afterStart(always(decision('reject', 'task raised Reject without requeue: drop it')))),
  'rejected-requeue': bare(
    'task-rejected',
    true,
    afterStart(
      always(decision('requeue', 'task raised Reject with requeue: back to its queue, marked redelivered')),
      decision('none', 'Reject(requeue) needs late acks: the message was acked before the task ran, it is gone'),
    ),
  ),
  ignored: bare(null, true, afterStart(always(decision('ack', 'task raised Ignore: done with it, no state stored')))),
  terminated: storing('REVOKED', null, 'task-revoked', true, afterStart(always(decision('ack', 'revoked and terminated while running: REVOKED stored, done with it')))),
  // task-failed too: without it a monitor showed the task STARTED for good.
  abandoned: Object.freeze({
    ...storing('FAILURE', null, 'task-failed', false, afterStart(always(decision('ack', 'early ack: the message is already gone')))),
    bestEffort: true,
  }),
  'abandoned-restored': bare(null, false, always(decision('restore', 'late ack and the worker stopped mid-task: deliver it again'))),
});

/** The ack decision for `outcome` under `policy`. */
export function decideAck(outcome: OutcomeKind, policy: AckPolicy): AckDecision {
  return OUTCOME_TABLE[outcome].ack(policy);
}
