import { describe, it, expect } from 'vitest';
import {
  EXCEPTION_STATES,
  PROPAGATE_STATES,
  READY_STATES,
  UNREADY_STATES,
  isReady,
  mergeState,
  statePrecedence,
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
  it('follows Celery PRECEDENCE with unknown states at the None slot', () => {
    const order = ['SUCCESS', 'FAILURE', 'PROGRESS', 'REVOKED', 'STARTED', 'RECEIVED', 'REJECTED', 'RETRY', 'PENDING'];
    expect(order.map(statePrecedence)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(statePrecedence('IGNORED')).toBe(2);
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
    ['SUCCESS', 'RETRY', 'RETRY'],
    ['RETRY', 'STARTED', 'STARTED'],
    [null, 'STARTED', 'STARTED'],
  ] as const)('current %s + incoming %s -> %s', (current, incoming, expected) => {
    expect(mergeState(current, incoming)).toBe(expected);
  });
});
