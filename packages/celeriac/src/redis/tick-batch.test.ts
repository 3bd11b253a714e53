import { describe, expect, it } from 'vitest';
import { TickBatch } from './tick-batch.js';

describe('TickBatch', () => {
  it('sends items added in one turn as one batch and settles each with its own result', async () => {
    const calls: number[][] = [];
    const batch = new TickBatch<number, number>(async (items) => {
      calls.push([...items]);
      return items.map((n) => n * 10);
    });
    const first = await Promise.all([batch.add(1), batch.add(2), batch.add(3)]);
    expect(first).toEqual([10, 20, 30]);
    expect(await batch.add(4)).toBe(40);
    expect(calls).toEqual([[1, 2, 3], [4]]);
  });

  it('takes in items added a few awaits apart, and sends them before the event loop turns', async () => {
    const calls: number[][] = [];
    const batch = new TickBatch<number, number>(async (items) => {
      calls.push([...items]);
      return items;
    });
    const pending = [batch.add(1)];
    for (let i = 0; i < 3; i++) await Promise.resolve();
    pending.push(batch.add(2));
    // Still the same turn: no setImmediate has run, yet the batch is on its way.
    let turned = false;
    setImmediate(() => (turned = true));
    for (let i = 0; i < 30 && calls.length === 0; i++) await Promise.resolve();
    expect(turned).toBe(false);
    expect(calls).toEqual([[1, 2]]);
    expect(await Promise.all(pending)).toEqual([1, 2]);
  });

  it('sends a full batch at once, and fails every item of a batch whose call fails', async () => {
    const calls: string[][] = [];
    const batch = new TickBatch<string, string>(async (items) => {
      calls.push([...items]);
      if (items.includes('bad')) throw new Error('boom');
      return items;
    }, 2);
    const results = await Promise.allSettled([batch.add('a'), batch.add('b'), batch.add('bad'), batch.add('c')]);
    expect(calls).toEqual([['a', 'b'], ['bad', 'c']]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected']);
  });

  it('turns a flush that throws synchronously into rejections', async () => {
    const batch = new TickBatch<number, number>(() => {
      throw new Error('sync');
    });
    await expect(batch.add(1)).rejects.toThrow('sync');
    expect(batch.pending).toBe(0);
  });
});
