import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isReady } from 'celeriac';
import { ClusterState, foldTaskState, type TaskFact } from 'celeriac/monitor';
import { TaskFollower } from './task-follower.js';

const EVENTS = ['task-sent', 'task-received', 'task-started', 'task-progress', 'task-retried', 'task-rejected', 'task-succeeded', 'task-failed', 'task-revoked'];
const STATUSES = ['PENDING', 'STARTED', 'PROGRESS', 'RETRY', 'SUCCESS', 'FAILURE', 'REVOKED'];

const factArb = (retry: boolean): fc.Arbitrary<TaskFact> => fc.oneof(
  fc.constantFrom(...EVENTS.filter((t) => retry || t !== 'task-retried')).map((type) => ({ kind: 'event', type }) as const),
  fc.constantFrom(...STATUSES.filter((s) => retry || s !== 'RETRY')).map((status) => ({ kind: 'meta', status }) as const),
);

/** Plays the facts as the route does: events through the feed's ClusterState, metas as stored statuses. */
function follow(facts: readonly TaskFact[]) {
  const sent: string[] = [];
  let ends = 0;
  const follower = new TaskFollower((v) => sent.push(v.state), () => ends++);
  const feed = new ClusterState();
  facts.forEach((f, i) => {
    if (f.kind === 'event') {
      const change = feed.apply({ type: f.type, uuid: 'u', hostname: 'w@h', timestamp: i }, i);
      if (change?.kind === 'task') follower.offer({ id: 'u', state: change.task.state }, true);
    } else if (f.kind === 'meta') follower.offer({ taskId: 'u', state: f.status }, false);
  });
  return { sent, ends, follower };
}

describe('TaskFollower (the API\'s task event stream), against the engine\'s state model', () => {
  it('ends exactly when a final fact arrives, once, with the model\'s final state as its last event', () => {
    fc.assert(
      fc.property(fc.array(factArb(true), { maxLength: 12 }), (facts) => {
        const { sent, ends, follower } = follow(facts);
        const first = facts.findIndex((f) => isReady(foldTaskState([f])));
        expect(ends).toBe(first < 0 ? 0 : 1);
        if (first < 0) return;
        expect(follower.ended).toBe(true);
        expect(sent.at(-1)).toBe(foldTaskState(facts.slice(0, first + 1)));
        // When the facts agree on one final state (one task run), every reader ends there.
        const finals = new Set(facts.map((f) => foldTaskState([f])).filter((s) => isReady(s)));
        if (finals.size === 1) expect(sent.at(-1)).toBe(foldTaskState(facts));
      }),
      { numRuns: 1000 },
    );
  });

  it('while unfinished (no RETRY), follows the model\'s state and never sends a state backwards', () => {
    fc.assert(
      fc.property(fc.array(factArb(false), { maxLength: 12 }), (facts) => {
        fc.pre(!facts.some((f) => isReady(foldTaskState([f]))));
        const { follower, ends } = follow(facts);
        expect(ends).toBe(0);
        expect(follower.state ?? 'PENDING').toBe(foldTaskState(facts));
      }),
      { numRuns: 500 },
    );
  });

  it('a terminated task: REVOKED after PROGRESS is sent and ends the stream; later progress is not', () => {
    const { sent, ends } = follow([
      { kind: 'event', type: 'task-started' }, { kind: 'event', type: 'task-progress' }, { kind: 'meta', status: 'PROGRESS' },
      { kind: 'event', type: 'task-revoked' }, { kind: 'event', type: 'task-progress' }, { kind: 'meta', status: 'REVOKED' },
    ]);
    expect(sent).toEqual(['STARTED', 'PROGRESS', 'REVOKED']);
    expect(ends).toBe(1);
  });
});
