/**
 * @module protocol/states
 * Task state sets and ordering, mirroring `celery.states` (docs/protocol.md §3.3).
 */

import type { TaskState } from './types.js';

/** States after which a task will not change again: a result is available. */
export const READY_STATES: ReadonlySet<string> = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);

/** Built-in states of a task that has not finished. IGNORED is in neither set, as in Celery. */
export const UNREADY_STATES: ReadonlySet<string> = new Set([
  'PENDING',
  'RECEIVED',
  'STARTED',
  'REJECTED',
  'RETRY',
]);

/** States whose stored `result` is an exception record. */
export const EXCEPTION_STATES: ReadonlySet<string> = new Set(['RETRY', 'FAILURE', 'REVOKED']);

/** States that `AsyncResult.get()` turns into a thrown error by default. */
export const PROPAGATE_STATES: ReadonlySet<string> = new Set(['FAILURE', 'REVOKED']);

/** True when `state` is final (SUCCESS, FAILURE or REVOKED). */
export function isReady(state: TaskState): boolean {
  return READY_STATES.has(state);
}

// Celery's ordering, strongest first. `null` stands for every state not listed (custom
// states and IGNORED), which Celery ranks between FAILURE and REVOKED.
const PRECEDENCE: readonly (string | null)[] = [
  'SUCCESS',
  'FAILURE',
  null,
  'REVOKED',
  'STARTED',
  'RECEIVED',
  'REJECTED',
  'RETRY',
  'PENDING',
];

const UNKNOWN_PRECEDENCE = PRECEDENCE.indexOf(null);

/**
 * Rank of a state in Celery's precedence list; a lower number wins. Unknown and custom
 * states share the rank Celery gives to `None` (2).
 */
export function statePrecedence(state: TaskState): number {
  const index = PRECEDENCE.indexOf(state);
  return index < 0 ? UNKNOWN_PRECEDENCE : index;
}

/**
 * Folds a newly observed state into the current one, for events that arrive out of order
 * (e.g. `task-started` after `task-succeeded`). The incoming state wins unless it ranks
 * strictly below the current one; on a tie the newer observation wins, as Celery's event
 * state does. A missing current state always yields the incoming one.
 *
 * RETRY is exempt from ranking in both directions, as in `celery.events.state`: a retried
 * task runs again, so a RETRY after SUCCESS (or anything after RETRY) is taken as newer.
 */
export function mergeState(current: TaskState | null | undefined, incoming: TaskState): TaskState {
  if (current === null || current === undefined) return incoming;
  if (current === 'RETRY' || incoming === 'RETRY') return incoming;
  return statePrecedence(incoming) > statePrecedence(current) ? current : incoming;
}
