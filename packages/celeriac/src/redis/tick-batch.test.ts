import { describe, expect, it } from 'vitest';
import { TickBatch, TickTurn } from './tick-batch.js';

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

describe('TickTurn', () => {
  /** Two batches of one turn, recording the order their calls are made in. */
  function turnOf(max = 500): { sent: string[]; stores: TickBatch<string, string>; acks: TickBatch<string, string> } {
    const sent: string[] = [];
    const turn = new TickTurn();
    const flush = (name: string) => async (items: readonly string[]) => {
      sent.push(`${name}:${items.join(',')}`);
      return items;
    };
    // Joined in the opposite order of their ranks: the rank decides, not who joined first.
    const acks = new TickBatch(flush('acks'), max, { turn, rank: 1 });
    const stores = new TickBatch(flush('stores'), max, { turn, rank: 0 });
    return { sent, stores, acks };
  }

  it('sends its batches together, the lower rank first, whichever got its items first', async () => {
    const { sent, stores, acks } = turnOf();
    const done = [acks.add('a1'), stores.add('s1'), acks.add('a2')];
    await Promise.resolve();
    done.push(stores.add('s2'));
    expect(await Promise.all(done)).toEqual(['a1', 's1', 'a2', 's2']);
    expect(sent).toEqual(['stores:s1,s2', 'acks:a1,a2']);
  });

  it('waits until no batch of the turn got an item for a few rounds, and sends before the event loop turns', async () => {
    const { sent, stores, acks } = turnOf();
    const done = [acks.add('a1')];
    // A store comes a few rounds later: the ack waits for it, then goes after it.
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(sent).toEqual([]);
    done.push(stores.add('s1'));
    let turned = false;
    setImmediate(() => (turned = true));
    for (let i = 0; i < 40 && sent.length < 2; i++) await Promise.resolve();
    expect(turned).toBe(false);
    expect(sent).toEqual(['stores:s1', 'acks:a1']);
    await Promise.all(done);
    // A batch of one member alone goes out by itself.
    expect(await acks.add('a2')).toBe('a2');
    expect(sent).toEqual(['stores:s1', 'acks:a1', 'acks:a2']);
  });

  it('sends the whole turn at once when a batch is full, the lower rank still first', async () => {
    const { sent, stores, acks } = turnOf(2);
    const done = [stores.add('s1'), acks.add('a1')];
    expect(sent).toEqual([]);
    done.push(acks.add('a2'));
    expect(sent).toEqual(['stores:s1', 'acks:a1,a2']);
    done.push(stores.add('s2'));
    await Promise.all(done);
    expect(sent).toEqual(['stores:s1', 'acks:a1,a2', 'stores:s2']);
  });

  it('tells which ranks go out with it', () => {
    const turn = new TickTurn();
    expect(turn.has(0)).toBe(false);
    new TickBatch(async (items: readonly number[]) => items, 10, { turn, rank: 1 });
    expect([turn.has(0), turn.has(1)]).toEqual([false, true]);
  });
});
