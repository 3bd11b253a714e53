import fc from 'fast-check';
import { describe, it, expect } from 'vitest';
import { ClusterState } from '../monitor/cluster-state.js';
import {
  EXCEPTION_STATES,
  PROPAGATE_STATES,
  READY_STATES,
  UNREADY_STATES,
  canBeLost,
  foldTaskState,
  isReady,
  mergeState,
  stateOfEvent,
  statePrecedence,
  taskEventOrder,
  type TaskFact,
} from './states.js';

describe('state sets', () => {
  it('match celery.states', () => {
    expect([...READY_STATES].sort()).toEqual(['FAILURE', 'REVOKED', 'SUCCESS']);
    expect([...UNREADY_STATES].sort()).toEqual(['PENDING', 'RECEIVED', 'REJECTED', 'RETRY', 'STARTED']);
    expect([...EXCEPTION_STATES].sort()).toEqual(['FAILURE', 'RETRY', 'REVOKED']);
    expect([...PROPAGATE_STATES].sort()).toEqual(['FAILURE', 'REVOKED']);
    expect(isReady('SUCCESS')).toBe(true);
    expect(isReady('IGNORED')).toBe(false);
    expect(isReady('PROGRESS')).toBe(false);
  });
});

describe('statePrecedence', () => {
  it('ranks final states first, then LOST, custom states, and the rest in Celery\'s order', () => {
    const order = ['SUCCESS', 'FAILURE', 'REVOKED', 'LOST', 'PROGRESS', 'STARTED', 'RECEIVED', 'REJECTED', 'RETRY', 'PENDING'];
    expect(order.map(statePrecedence)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(statePrecedence('IGNORED')).toBe(4);
    // Names of Object.prototype are custom states, not table lookups.
    expect(statePrecedence('constructor')).toBe(4);
    expect(statePrecedence('__proto__')).toBe(4);
  });
});

describe('mergeState', () => {
  it.each([
    ['SUCCESS', 'STARTED', 'SUCCESS'],
    ['STARTED', 'SUCCESS', 'SUCCESS'],
    ['RECEIVED', 'STARTED', 'STARTED'],
    ['STARTED', 'RECEIVED', 'STARTED'],
    ['PENDING', 'RECEIVED', 'RECEIVED'],
    ['FAILURE', 'PROGRESS', 'FAILURE'],
    ['STARTED', 'PROGRESS', 'PROGRESS'],
    ['PROGRESS', 'PROGRESS', 'PROGRESS'],
    // The bug: Celery ranks custom states above REVOKED.
    ['REVOKED', 'PROGRESS', 'REVOKED'],
    ['PROGRESS', 'REVOKED', 'REVOKED'],
    ['REVOKED', 'LOST', 'REVOKED'],
    ['LOST', 'REVOKED', 'REVOKED'],
    ['LOST', 'PROGRESS', 'LOST'],
    ['LOST', 'SUCCESS', 'SUCCESS'],
    ['REVOKED', 'SUCCESS', 'SUCCESS'],
    ['SUCCESS', 'REVOKED', 'SUCCESS'],
    ['SUCCESS', 'RETRY', 'SUCCESS'],
    ['STARTED', 'RETRY', 'RETRY'],
    ['RETRY', 'STARTED', 'STARTED'],
    ['RETRY', 'PENDING', 'PENDING'],
    [null, 'STARTED', 'STARTED'],
  ] as const)('current %s + incoming %s -> %s', (current, incoming, expected) => {
    expect(mergeState(current, incoming)).toBe(expected);
  });
});

describe('stateOfEvent and taskEventOrder', () => {
  it('follow Flower: built-in subjects, custom subjects upper-cased, non-task events none', () => {
    expect(stateOfEvent('task-succeeded')).toBe('SUCCESS');
    expect(stateOfEvent('TASK-REVOKED')).toBe('REVOKED');
    expect(stateOfEvent('task-progress')).toBe('PROGRESS');
    expect(stateOfEvent('task-constructor')).toBe('CONSTRUCTOR');
    expect(stateOfEvent('worker-online')).toBeNull();
    expect(stateOfEvent('task-')).toBeNull();
    expect(stateOfEvent('')).toBeNull();
  });

  it('orders the events of one millisecond by a task\'s life', () => {
    const types = ['task-succeeded', 'task-progress', 'task-started', 'task-received', 'task-sent'];
    expect([...types].sort((a, b) => taskEventOrder(a) - taskEventOrder(b))).toEqual(['task-sent', 'task-received', 'task-started', 'task-progress', 'task-succeeded']);
  });
});

const FINAL_EVENTS = ['task-succeeded', 'task-failed', 'task-revoked'];
const OTHER_EVENTS = ['task-sent', 'task-received', 'task-started', 'task-retried', 'task-rejected', 'task-progress', 'task-resizing', 'worker-heartbeat'];

/** Any fact a reader may learn: every event kind, stored metas, revokes and lost marks. */
const factArb: fc.Arbitrary<TaskFact> = fc.oneof(
  fc.constantFrom(...FINAL_EVENTS, ...OTHER_EVENTS).map((type) => ({ kind: 'event', type }) as const),
  fc.constantFrom('PENDING', 'STARTED', 'PROGRESS', 'RETRY', 'SUCCESS', 'FAILURE', 'REVOKED').map((status) => ({ kind: 'meta', status }) as const),
  fc.constant({ kind: 'revoked' } as const),
  fc.constant({ kind: 'lost' } as const),
);

/** The strongest final state among the facts, or null. */
function strongestFinal(facts: readonly TaskFact[]): string | null {
  const finals = facts.map((f) => foldTaskState([f])).filter((s) => isReady(s));
  return finals.length === 0 ? null : finals.reduce((a, b) => (statePrecedence(a) <= statePrecedence(b) ? a : b));
}

describe('the state model (property)', () => {
  it('ends in the strongest final state whatever order the facts come in; LOST and custom states never replace one', () => {
    fc.assert(
      fc.property(fc.array(factArb, { maxLength: 12 }), fc.infiniteStream(fc.nat()), (facts, seeds) => {
        const final = strongestFinal(facts);
        fc.pre(final !== null);
        const shuffled = [...facts].map((f) => [seeds.next().value as number, f] as const).sort((a, b) => a[0] - b[0]).map(([, f]) => f);
        expect(foldTaskState(facts)).toBe(final);
        expect(foldTaskState(shuffled)).toBe(final);
      }),
      { numRuns: 500 },
    );
  });

  it('a lost mark applies only to a task a worker held, unfinished', () => {
    expect(foldTaskState([{ kind: 'event', type: 'task-received' }, { kind: 'lost' }])).toBe('LOST');
    expect(foldTaskState([{ kind: 'event', type: 'task-progress' }, { kind: 'lost' }])).toBe('LOST');
    expect(foldTaskState([{ kind: 'event', type: 'task-revoked' }, { kind: 'lost' }])).toBe('REVOKED');
    expect(foldTaskState([{ kind: 'lost' }])).toBe('PENDING');
    expect(foldTaskState([{ kind: 'event', type: 'task-retried' }, { kind: 'lost' }])).toBe('RETRY');
    expect(canBeLost('LOST')).toBe(false);
  });

  it('ClusterState (the API feed, the live page, `celeriac events`) decides as the model does', () => {
    const eventArb = fc.constantFrom(...FINAL_EVENTS, ...OTHER_EVENTS);
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 12 }), (types) => {
        const s = new ClusterState();
        types.forEach((type, i) => s.apply({ type, uuid: 'u1', hostname: 'w@h', timestamp: 1 + i, clock: i }, 1000 + i));
        const facts = types.map((type) => ({ kind: 'event', type }) as const);
        expect(s.task('u1')?.state ?? 'PENDING').toBe(foldTaskState(facts));
      }),
      { numRuns: 500 },
    );
  });
});
