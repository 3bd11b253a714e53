import { describe, expect, it } from 'vitest';
import type { HistoryStore, TaskQuery } from '../store/history-store.js';
import { historyCounts, MIN_REUSE_MS, REUSE_FACTOR, ReusedValue } from './counts.js';

/** A computation the test finishes by hand, on a clock the test moves. */
function manual() {
  let t = 1_000_000;
  const pending: { resolve: (v: number) => void; reject: (e: Error) => void }[] = [];
  let calls = 0;
  const compute = () => {
    calls++;
    return new Promise<number>((resolve, reject) => pending.push({ resolve, reject }));
  };
  return {
    clock: () => t,
    advance: (ms: number) => { t += ms; },
    compute,
    calls: () => calls,
    finish: (v: number) => pending.shift()?.resolve(v),
    fail: (e: Error) => pending.shift()?.reject(e),
  };
}

describe('ReusedValue', () => {
  it('runs one computation for callers that ask while it runs, and reuses its value', async () => {
    const m = manual();
    const v = new ReusedValue(m.compute, m.clock);
    const asked = [v.get(), v.get(), v.get()];
    expect(m.calls()).toBe(1);
    m.finish(7);
    expect(await Promise.all(asked)).toEqual([7, 7, 7]);
    m.advance(MIN_REUSE_MS - 1);
    expect(await v.get()).toBe(7);
    expect(m.calls()).toBe(1);
  });

  it('computes again once the value is older than the reuse window', async () => {
    const m = manual();
    const v = new ReusedValue(m.compute, m.clock);
    const first = v.get();
    m.finish(1);
    await first;
    m.advance(MIN_REUSE_MS);
    const second = v.get();
    expect(m.calls()).toBe(2);
    m.finish(2);
    expect(await second).toBe(2);
  });

  it('reuses a slow value for twenty times what it took', async () => {
    const m = manual();
    const v = new ReusedValue(m.compute, m.clock);
    const first = v.get();
    m.advance(1000); // the count took a second
    m.finish(5);
    await first;
    m.advance(REUSE_FACTOR * 1000 - 1);
    expect(await v.get()).toBe(5);
    expect(m.calls()).toBe(1);
    m.advance(1);
    void v.get();
    expect(m.calls()).toBe(2);
  });

  it('keeps no failure: everyone waiting gets the error, and the next call tries again', async () => {
    const m = manual();
    const v = new ReusedValue(m.compute, m.clock);
    const a = v.get();
    const b = v.get();
    m.fail(new Error('database down'));
    await expect(a).rejects.toThrow('database down');
    await expect(b).rejects.toThrow('database down');
    const c = v.get();
    expect(m.calls()).toBe(2);
    m.finish(3);
    expect(await c).toBe(3);
  });

  it('turns a compute that throws at once into a rejection', async () => {
    const v = new ReusedValue<number>(() => {
      throw new Error('store closed');
    });
    await expect(v.get()).rejects.toThrow('store closed');
  });
});

describe('historyCounts', () => {
  it('asks the store for stuck tasks before the threshold, and for each count once while reused', async () => {
    let t = 10_000_000;
    const queries: TaskQuery[] = [];
    let byState = 0;
    const store = {
      countByState: async () => {
        byState++;
        return { SUCCESS: 3 };
      },
      queryTasks: async (q: TaskQuery) => {
        queries.push(q);
        return { total: q.states?.[0] === 'STARTED' ? 2 : 1, rows: [] };
      },
    } as unknown as HistoryStore;
    const counts = historyCounts(store, 60, () => t);
    expect(await counts.stuck()).toEqual({ RECEIVED: 1, STARTED: 2 });
    expect(queries).toEqual([
      { states: ['RECEIVED'], timeField: 'received', to: t - 60_000, limit: 1 },
      { states: ['STARTED'], timeField: 'started', to: t - 60_000, limit: 1 },
    ]);
    await Promise.all([counts.tasksByState(), counts.tasksByState(), counts.stuck()]);
    expect(byState).toBe(1);
    expect(queries).toHaveLength(2);
    t += MIN_REUSE_MS;
    expect(await counts.tasksByState()).toEqual({ SUCCESS: 3 });
    expect(byState).toBe(2);
  });
});
