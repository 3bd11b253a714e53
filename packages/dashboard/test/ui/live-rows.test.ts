/**
 * The tasks page's live rows against its list fetches: an update that arrives while a fetch is
 * in flight is merged into the answer, and a task announced live that the answer lacks (the
 * server publishes before its store writes) is looked for again, a bounded number of times.
 */
import { describe, expect, it } from 'vitest';
import { LiveRows, LOOK_AGAIN, mergeTask, type LiveTask } from '../../ui/js/live-rows.js';

const task = (uuid: string, state: string, timestamp: number, more: Record<string, unknown> = {}): LiveTask => ({ uuid, state, timestamp, ...more });

/** The page's own bookkeeping: shown rows are the last settled list. */
function page() {
  const live = new LiveRows();
  let shown: LiveTask[] = [];
  return {
    live,
    get shown() {
      return shown;
    },
    update: (t: LiveTask) => live.update(t, (uuid) => shown.some((x) => x.uuid === uuid)),
    answer: (list: LiveTask[]) => {
      const r = live.settle(list);
      shown = r.tasks;
      return r;
    },
  };
}

describe('tasks page live rows', () => {
  it('keeps a task that arrives while the first fetch is in flight, when the answer was read before it', () => {
    const p = page();
    p.live.begin();
    // The server read the list, then task n arrived (live) before the answer came back.
    expect(p.update(task('n', 'RECEIVED', 10))).toBe('missing');
    const first = p.answer([task('a', 'SUCCESS', 5)]);
    expect(first.lookAgain).toBe(true);
    // The refetch: the store has written n by now.
    p.live.begin();
    const second = p.answer([task('n', 'RECEIVED', 10), task('a', 'SUCCESS', 5)]);
    expect(second.lookAgain).toBe(false);
    expect(p.shown.map((t) => t.uuid)).toEqual(['n', 'a']);
  });

  it('looks again for a task announced live that the store had not written when a later fetch read', () => {
    const p = page();
    p.live.begin();
    p.answer([task('a', 'SUCCESS', 5)]);
    expect(p.update(task('n', 'SUCCESS', 10))).toBe('missing');
    p.live.begin();
    // The refetch read before the store's write of n: n must still be looked for.
    expect(p.answer([task('a', 'SUCCESS', 5)]).lookAgain).toBe(true);
    p.live.begin();
    expect(p.answer([task('n', 'SUCCESS', 10), task('a', 'SUCCESS', 5)]).lookAgain).toBe(false);
  });

  it('merges an update that arrived during the fetch into the row the fetch returned, newest wins', () => {
    const p = page();
    p.live.begin();
    p.update(task('a', 'SUCCESS', 12, { result: '3', runtime: 0.5 }));
    const { tasks } = p.answer([task('a', 'STARTED', 11, { args: '(1, 2)', result: null })]);
    expect(tasks).toEqual([{ uuid: 'a', state: 'SUCCESS', timestamp: 12, args: '(1, 2)', result: '3', runtime: 0.5 }]);
    // An older update than the stored row does not move it back, but fills what it lacks.
    p.live.begin();
    p.update(task('b', 'STARTED', 20, { worker: 'w1' }));
    const again = p.answer([task('b', 'SUCCESS', 21)]);
    expect(again.tasks).toEqual([{ uuid: 'b', state: 'SUCCESS', timestamp: 21, worker: 'w1' }]);
  });

  it('updates a shown row in place and stops looking for a task the filters leave out', () => {
    const p = page();
    p.live.begin();
    p.answer([task('a', 'STARTED', 1)]);
    expect(p.update(task('a', 'SUCCESS', 2))).toBe('shown');
    expect(mergeTask(task('a', 'STARTED', 1), task('a', 'SUCCESS', 2, { worker: null }))).toEqual(task('a', 'SUCCESS', 2));
    expect(p.update(task('other', 'SUCCESS', 3))).toBe('missing');
    const looks: boolean[] = [];
    for (let i = 0; i < LOOK_AGAIN + 2; i++) {
      p.live.begin();
      looks.push(p.answer([task('a', 'SUCCESS', 2)]).lookAgain);
    }
    expect(looks).toEqual([...Array.from({ length: LOOK_AGAIN - 1 }, () => true), false, false, false]);
  });

  it('keeps updates across an aborted fetch for the one that replaces it', () => {
    const p = page();
    p.live.begin();
    p.update(task('a', 'SUCCESS', 9));
    p.live.abandon();
    p.live.begin();
    expect(p.answer([task('a', 'STARTED', 8)]).tasks).toEqual([task('a', 'SUCCESS', 9)]);
  });
});
