import { describe, expect, it } from 'vitest';
import { decideSettlement, type AckPolicy, type DeliveryOutcome } from './settlement.js';

const policy = (p: Partial<AckPolicy> = {}): AckPolicy => ({ acksLate: false, acksOnFailureOrTimeout: true, ackedEarly: false, ...p });
const OUTCOMES: DeliveryOutcome[] = [
  'success', 'failure', 'timeout', 'skipped', 'retry', 'rejected', 'rejected-requeue', 'ignored', 'terminated', 'worker-lost', 'abandoned', 'not-started',
];

describe('decideSettlement', () => {
  it('gives back a message that never started, whatever the policy', () => {
    for (const p of [policy(), policy({ acksLate: true }), policy({ ackedEarly: true }), policy({ acksOnFailureOrTimeout: false })]) {
      expect(decideSettlement('not-started', p).action).toBe('restore');
    }
  });

  it('does nothing more for an early-acked message, whatever the outcome', () => {
    for (const outcome of OUTCOMES.filter((o) => o !== 'not-started')) {
      const d = decideSettlement(outcome, policy({ ackedEarly: true, acksLate: false, acksOnFailureOrTimeout: false }));
      expect(d.action, outcome).toBe('none');
    }
  });

  it('acks a success and a skipped (unknown, revoked, expired) message', () => {
    expect(decideSettlement('success', policy({ acksLate: true })).action).toBe('ack');
    expect(decideSettlement('skipped', policy()).action).toBe('ack');
    expect(decideSettlement('skipped', policy({ acksLate: true, acksOnFailureOrTimeout: false })).action).toBe('ack');
  });

  it('acks failures and timeouts when acksOnFailureOrTimeout is on', () => {
    expect(decideSettlement('failure', policy({ acksLate: true })).action).toBe('ack');
    expect(decideSettlement('timeout', policy({ acksLate: true })).action).toBe('ack');
  });

  it('rejects (drops) failures and timeouts when acksOnFailureOrTimeout is off', () => {
    const off = policy({ acksLate: true, acksOnFailureOrTimeout: false });
    expect(decideSettlement('failure', off)).toMatchObject({ action: 'reject', reason: expect.stringContaining('failed') });
    expect(decideSettlement('timeout', off)).toMatchObject({ action: 'reject', reason: expect.stringContaining('timed out') });
  });

  it('restores an abandoned late-ack task and acks an abandoned early-ack one that was not acked yet', () => {
    expect(decideSettlement('abandoned', policy({ acksLate: true })).action).toBe('restore');
    expect(decideSettlement('abandoned', policy({ acksLate: false })).action).toBe('ack');
  });

  it('names a reason for every decision', () => {
    for (const outcome of OUTCOMES) {
      for (const acksLate of [true, false]) {
        for (const acksOnFailureOrTimeout of [true, false]) {
          for (const ackedEarly of [true, false]) {
            const d = decideSettlement(outcome, { acksLate, acksOnFailureOrTimeout, ackedEarly });
            expect(['ack', 'reject', 'requeue', 'restore', 'none']).toContain(d.action);
            expect(d.reason.length).toBeGreaterThan(5);
          }
        }
      }
    }
  });

  it('acks a retried, an ignored and a terminated task whatever acksOnFailureOrTimeout says', () => {
    for (const outcome of ['retry', 'ignored', 'terminated'] as const) {
      expect(decideSettlement(outcome, policy({ acksLate: true, acksOnFailureOrTimeout: false })).action, outcome).toBe('ack');
      expect(decideSettlement(outcome, policy({ acksLate: true })).action, outcome).toBe('ack');
    }
  });

  it('Reject drops or requeues as the task asked', () => {
    expect(decideSettlement('rejected', policy({ acksLate: true })).action).toBe('reject');
    expect(decideSettlement('rejected-requeue', policy({ acksLate: true })).action).toBe('requeue');
  });

  it('Reject(requeue) after an early ack cannot requeue, and says so', () => {
    const d = decideSettlement('rejected-requeue', policy({ ackedEarly: true }));
    expect(d.action).toBe('none');
    expect(d.reason).toMatch(/late acks/);
  });

  it('a lost worker requeues only with late acks and rejectOnWorkerLost', () => {
    expect(decideSettlement('worker-lost', policy({ acksLate: true, rejectOnWorkerLost: true })).action).toBe('requeue');
    expect(decideSettlement('worker-lost', policy({ acksLate: true })).action).toBe('ack');
    expect(decideSettlement('worker-lost', policy({ acksLate: true, acksOnFailureOrTimeout: false })).action).toBe('reject');
    expect(decideSettlement('worker-lost', policy({ acksLate: false, rejectOnWorkerLost: true })).action).toBe('ack');
  });
});
