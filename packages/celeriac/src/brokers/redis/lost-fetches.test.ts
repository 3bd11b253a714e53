import { describe, expect, it } from 'vitest';
import { LostFetches, MOST_LOST_FETCHES, type LostFetch } from './lost-fetches.js';

const fetchOf = (prefix: string, expiresAt: number): LostFetch => ({ buckets: ['q'], queues: ['q'], expiresAt, prefix });

describe('LostFetches', () => {
  it('gives back each noted fetch once, in the order noted, and logs what came back', async () => {
    const calls: string[] = [];
    const logs: string[] = [];
    const lost = new LostFetches(async (f) => (calls.push(f.prefix), 2), () => 1000, (_level, msg) => logs.push(msg));
    lost.note(fetchOf('a:1', 5000));
    lost.note(fetchOf('a:2', 5000));
    await lost.reclaim();
    expect(calls).toEqual(['a:1', 'a:2']);
    expect(lost.size).toBe(0);
    expect(logs).toEqual(['gave back 4 message(s) taken by a fetch whose reply was lost with its connection']);
    await lost.reclaim();
    expect(calls).toHaveLength(2);
  });

  it('drops a fetch whose lease ran out (the recovery sweep has its messages) without a call', async () => {
    const calls: string[] = [];
    const lost = new LostFetches(async (f) => (calls.push(f.prefix), 0), () => 1000);
    lost.note(fetchOf('old', 1000));
    lost.note(fetchOf('new', 1001));
    await lost.reclaim();
    expect(calls).toEqual(['new']);
    expect(lost.size).toBe(0);
  });

  it('keeps a fetch whose call failed for the next time, logging the failure, never rejecting', async () => {
    let fail = true;
    const calls: string[] = [];
    const logs: string[] = [];
    const lost = new LostFetches(async (f) => {
      calls.push(f.prefix);
      if (fail) throw new Error('connection lost');
      return 1;
    }, () => 0, (_level, msg) => logs.push(msg));
    lost.note(fetchOf('a:1', 10));
    lost.note(fetchOf('a:2', 10));
    await expect(lost.reclaim()).resolves.toBeUndefined();
    expect(lost.size).toBe(2);
    expect(logs[0]).toMatch(/could not give back .* when their lease runs out/);
    fail = false;
    await lost.reclaim();
    expect(calls).toEqual(['a:1', 'a:1', 'a:2']);
    expect(lost.size).toBe(0);
  });

  it(`remembers the latest ${MOST_LOST_FETCHES} and runs one reclaim at a time`, async () => {
    const calls: string[] = [];
    let release: () => void = () => undefined;
    const lost = new LostFetches((f) => new Promise<number>((resolve) => {
      calls.push(f.prefix);
      release = () => resolve(0);
    }), () => 0);
    for (let i = 0; i < MOST_LOST_FETCHES + 3; i++) lost.note(fetchOf(`f:${i}`, 10));
    expect(lost.size).toBe(MOST_LOST_FETCHES);
    const first = lost.reclaim();
    await lost.reclaim(); // returns at once: one is running
    expect(calls).toEqual(['f:3']);
    for (let i = 0; i < MOST_LOST_FETCHES; i++) {
      release();
      await new Promise((r) => setImmediate(r));
    }
    await first;
    expect(calls).toHaveLength(MOST_LOST_FETCHES);
    expect(calls.at(-1)).toBe(`f:${MOST_LOST_FETCHES + 2}`);
  });
});
