/**
 * @module protocol/states
 * Task state sets, and the one state model every reader uses: which state a
 * task is in, given what is known about it (events, the stored meta, a revoke, a lost mark),
 * whatever order those arrive in. The worker's API status, its event stream, the live page
 * (through `ClusterState`) and the dashboard's fold and store (through {@link STATE_RANKS})
 * all decide with {@link mergeState}; docs/monitoring.md describes the rules.
 *
 * Celery's precedence (`celery.states.precedence`) with one deliberate change: Celery ranks
 * every state it does not list (custom ones such as PROGRESS) between FAILURE and REVOKED,
 * so a late `task-progress` turned a terminated task from REVOKED back to PROGRESS, forever.
 * Here the final states (SUCCESS, FAILURE, REVOKED: Celery's READY_STATES) are final for
 * every reader: nothing but a stronger final state replaces one. Custom states and LOST rank
 * below them and above STARTED.
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

/**
 * A monitor's own state (no worker stores or sends it): the worker that held the task went
 * offline before the task finished. Any final state replaces it; nothing else does.
 */
export const LOST_STATE = 'LOST';

/** True when `state` is final (SUCCESS, FAILURE or REVOKED). */
export function isReady(state: TaskState): boolean {
  return READY_STATES.has(state);
}

/**
 * Rank of each named state, lower wins: Celery's order with final states first, then LOST,
 * then (at {@link CUSTOM_STATE_RANK}) every state not named here. Ranks are stored by the
 * dashboard (`state_rank`), so a change here needs a migration there.
 */
export const STATE_RANKS: Readonly<Record<string, number>> = Object.freeze({
  SUCCESS: 0,
  FAILURE: 1,
  REVOKED: 2,
  LOST: 3,
  STARTED: 5,
  RECEIVED: 6,
  REJECTED: 7,
  RETRY: 8,
  PENDING: 9,
});

/** Rank of a custom state (PROGRESS, IGNORED, anything not in {@link STATE_RANKS}). */
export const CUSTOM_STATE_RANK = 4;

/** Ranks up to this one are final states. */
export const FINAL_RANK_MAX = 2;

/** Rank of a state in the model: a lower number wins. */
export function statePrecedence(state: TaskState): number {
  return Object.hasOwn(STATE_RANKS, state) ? (STATE_RANKS[state] as number) : CUSTOM_STATE_RANK;
}

/**
 * Folds a newly learned state into the current one. The incoming state wins when it ranks
 * at least as high (a tie goes to the newer observation, as in Celery's event state).
 *
 * RETRY is exempt from ranking against unfinished states, as in `celery.events.state`: a
 * retried task runs again, so anything after a RETRY, and a RETRY after anything unfinished,
 * is taken as newer. A final state is never replaced by RETRY.
 */
export function mergeState(current: TaskState | null | undefined, incoming: TaskState): TaskState {
  if (current === null || current === undefined) return incoming;
  const currentRank = statePrecedence(current);
  const incomingRank = statePrecedence(incoming);
  if (current === 'RETRY') return incoming;
  if (incoming === 'RETRY') return currentRank <= FINAL_RANK_MAX ? current : incoming;
  return incomingRank <= currentRank ? incoming : current;
}

/** The task event subjects with a built-in state (`celery.events.state`); others are custom states. */
export const TASK_EVENT_STATES = {
  sent: 'PENDING',
  received: 'RECEIVED',
  started: 'STARTED',
  succeeded: 'SUCCESS',
  failed: 'FAILURE',
  retried: 'RETRY',
  revoked: 'REVOKED',
  rejected: 'REJECTED',
} as const satisfies Record<string, TaskState>;

/**
 * The state a task event means, Flower's rule: a built-in subject's state, else the subject
 * upper-cased (`task-progress` -> PROGRESS). Null for a type that is not a task event.
 */
export function stateOfEvent(type: string): TaskState | null {
  const lower = type.toLowerCase();
  if (!lower.startsWith('task-') || lower.length === 5) return null;
  const subject = lower.slice(5);
  return Object.hasOwn(TASK_EVENT_STATES, subject) ? TASK_EVENT_STATES[subject as keyof typeof TASK_EVENT_STATES] : subject.toUpperCase();
}

// Where each event falls in a task's life: events of one millisecond sort by it, since they
// come through different paths (the worker batches its own events, a task's custom events go
// at once) and arrive in either order.
const EVENT_ORDER: Readonly<Record<string, number>> = Object.freeze({
  'task-sent': 0,
  'task-received': 1,
  'task-started': 2,
  'task-retried': 4,
  'task-rejected': 4,
  'task-succeeded': 5,
  'task-failed': 5,
  'task-revoked': 5,
});

/** Position of a task event type in a task's life, to order events of the same time (custom events: 3). */
export function taskEventOrder(type: string): number {
  return EVENT_ORDER[type.toLowerCase()] ?? 3;
}

/** One thing known about a task, as {@link foldTaskState} takes it. */
export type TaskFact =
  /** A Celery task event, by type (`task-succeeded`, `task-progress`...). */
  | { readonly kind: 'event'; readonly type: string }
  /** The status of the meta stored in the result backend. */
  | { readonly kind: 'meta'; readonly status: TaskState }
  /** A revoke that took effect (the worker discarded or terminated the task). */
  | { readonly kind: 'revoked' }
  /** A monitor saw the task's worker go offline while the task was unfinished. */
  | { readonly kind: 'lost' };

/** The inclusive range of ranks a lost mark applies to (custom states, STARTED, RECEIVED). */
export const LOSABLE_RANKS: readonly [number, number] = Object.freeze([CUSTOM_STATE_RANK, 6]) as readonly [number, number];

/**
 * Whether a lost mark applies to a task in `state`: it was with a worker (RECEIVED, STARTED
 * or a custom state) and unfinished. A PENDING, RETRY or REJECTED task is with no worker,
 * a final one is done, a LOST one already lost. As ranks: {@link LOSABLE_RANKS}.
 */
export function canBeLost(state: TaskState | null | undefined): boolean {
  if (state === null || state === undefined) return false;
  const rank = statePrecedence(state);
  return rank >= LOSABLE_RANKS[0] && rank <= LOSABLE_RANKS[1];
}

/** The state after one more fact: a lost mark only as {@link canBeLost} says; a non-task event changes nothing. */
export function applyFact(state: TaskState | null, fact: TaskFact): TaskState | null {
  switch (fact.kind) {
    case 'event': {
      const incoming = stateOfEvent(fact.type);
      return incoming === null ? state : mergeState(state, incoming);
    }
    case 'meta':
      return mergeState(state, fact.status);
    case 'revoked':
      return mergeState(state, 'REVOKED');
    case 'lost':
      return canBeLost(state) ? LOST_STATE : state;
  }
}

/** A task's state after `facts`, in the order they became known: PENDING when none says. */
export function foldTaskState(facts: Iterable<TaskFact>, initial: TaskState | null = null): TaskState {
  let state: TaskState | null = initial;
  for (const fact of facts) state = applyFact(state, fact);
  return state ?? 'PENDING';
}
