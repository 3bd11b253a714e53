import { describe, expect, it } from 'vitest';
import { decideAck, OUTCOME_TABLE, type AckPolicy, type OutcomeKind } from './outcome-table.js';

const policy = (p: Partial<AckPolicy> = {}): AckPolicy => ({ acksLate: false, acksOnFailureOrTimeout: true, ackedEarly: false, ...p });
const KINDS = Object.keys(OUTCOME_TABLE) as OutcomeKind[];
/** Rows of a task whose body started. */
const STARTED: OutcomeKind[] = ['success', 'failure', 'timeout', 'worker-lost', 'worker-lost-requeued', 'retry', 'rejected', 'rejected-requeue', 'ignored', 'terminated', 'abandoned'];

describe('decideAck', () => {
  it('gives back a message that never started, whatever the policy', () => {
    for (const p of [policy(), policy({ acksLate: true }), policy({ ackedEarly: true }), policy({ acksOnFailureOrTimeout: false })]) {
      expect(decideAck('not-started', p).action).toBe('restore');
    }
  });

  it('does nothing more for an early-acked message, whatever the outcome of its run', () => {
    for (const outcome of STARTED) {
      expect(decideAck(outcome, policy({ ackedEarly: true, acksOnFailureOrTimeout: false })).action, outcome).toBe('none');
    }
  });

  it('acks a success, and a message not run (revoked, expired); rejects an unknown task\'s, as Celery', () => {
    expect(decideAck('success', policy({ acksLate: true })).action).toBe('ack');
    expect(decideAck('unregistered', policy({ acksLate: true })).action).toBe('reject');
    for (const outcome of ['revoked', 'expired'] as const) {
      expect(decideAck(outcome, policy({ acksLate: true, acksOnFailureOrTimeout: false })).action, outcome).toBe('ack');
    }
  });

  it('hands a message with a future ETA to the broker', () => {
    expect(decideAck('deferred', policy()).action).toBe('defer');
  });

  it('acks failures, timeouts and lost workers when acksOnFailureOrTimeout is on, drops them when off', () => {
    for (const outcome of ['failure', 'timeout', 'worker-lost'] as const) {
      expect(decideAck(outcome, policy({ acksLate: true })).action, outcome).toBe('ack');
      expect(decideAck(outcome, policy({ acksLate: true, acksOnFailureOrTimeout: false })).action, outcome).toBe('reject');
    }
    expect(decideAck('timeout', policy({ acksLate: true, acksOnFailureOrTimeout: false })).reason).toMatch(/timed out/);
  });

  it('restores an abandoned late-ack task; an abandoned early-ack one is already gone', () => {
    expect(decideAck('abandoned-restored', policy({ acksLate: true })).action).toBe('restore');
    expect(decideAck('abandoned', policy({ ackedEarly: true })).action).toBe('none');
  });

  it('acks a retried, an ignored and a terminated task whatever acksOnFailureOrTimeout says', () => {
    for (const outcome of ['retry', 'ignored', 'terminated'] as const) {
      expect(decideAck(outcome, policy({ acksLate: true, acksOnFailureOrTimeout: false })).action, outcome).toBe('ack');
      expect(decideAck(outcome, policy({ acksLate: true })).action, outcome).toBe('ack');
    }
  });

  it('Reject drops or requeues as the task asked; after an early ack it cannot requeue, and says so', () => {
    expect(decideAck('rejected', policy({ acksLate: true })).action).toBe('reject');
    expect(decideAck('rejected-requeue', policy({ acksLate: true })).action).toBe('requeue');
    const d = decideAck('rejected-requeue', policy({ ackedEarly: true }));
    expect(d.action).toBe('none');
    expect(d.reason).toMatch(/late acks/);
  });

  it('redelivers (after a backoff) a task whose worker was lost under rejectOnWorkerLost', () => {
    expect(decideAck('worker-lost-requeued', policy({ acksLate: true, rejectOnWorkerLost: true })).action).toBe('redeliver');
  });

  it('sets a malformed message aside, dead-letters one past its delivery limit and redelivers after a worker-side failure, whatever the policy', () => {
    for (const p of [policy(), policy({ acksLate: true }), policy({ ackedEarly: true }), policy({ acksOnFailureOrTimeout: false })]) {
      expect(decideAck('malformed', p).action).toBe('set-aside');
      expect(decideAck('over-limit', p).action).toBe('dead-letter');
      expect(decideAck('worker-failure', p).action).toBe('redeliver');
    }
  });

  it('names a reason for every decision', () => {
    for (const outcome of KINDS) {
      for (const acksLate of [true, false]) {
        for (const acksOnFailureOrTimeout of [true, false]) {
          for (const ackedEarly of [true, false]) {
            const d = decideAck(outcome, { acksLate, acksOnFailureOrTimeout, ackedEarly });
            expect(['ack', 'reject', 'requeue', 'restore', 'defer', 'redeliver', 'dead-letter', 'set-aside', 'none']).toContain(d.action);
            expect(d.reason.length).toBeGreaterThan(5);
          }
        }
      }
    }
  });

  it('stores best effort only when abandoning, and a RETRY whose message is out; never a ready state a caller waits on otherwise', () => {
    for (const outcome of KINDS) {
      const row = OUTCOME_TABLE[outcome];
      expect(row.bestEffort, outcome).toBe(outcome === 'abandoned' || outcome === 'retry');
      // Follow-ups are sent only for what is then stored.
      if (row.followUps !== null) expect(row.state, outcome).not.toBeNull();
    }
  });
});
