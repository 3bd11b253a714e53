import { createHook } from 'node:async_hooks';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { EventDict } from 'celeriac/monitor';
import { EventFolder, type FoldedBatch } from '../store/fold-events.js';
import type { HistoryStore } from '../store/history-store.js';
import { WriteBuffer } from './write-buffer.js';

/** A store whose writes wait until `release()`, and which can fail its next write. */
function slowStore(limits = { payloadCap: 1000, timelineCap: 100 }) {
  const batches: FoldedBatch[] = [];
  let open: () => void = () => {};
  let gate = new Promise<void>((resolve) => (open = resolve));
  let failNext = false;
  let down = false;
  let attempts = 0;
  const store = {
    newFolder: () => new EventFolder(limits),
    writeFolded: async (batch: FoldedBatch) => {
      attempts++;
      await gate;
      if (down) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      if (failNext) {
        failNext = false;
        throw new Error('database down');
      }
      batches.push(batch);
      return { tasks: batch.tasks.length, workers: batch.workers.length, ignored: batch.ignored };
    },
  } as unknown as HistoryStore;
  return {
    store,
    batches,
    release: () => open(),
    hold: () => (gate = new Promise<void>((resolve) => (open = resolve))),
    failNextWrite: () => (failNext = true),
    setDown: (value: boolean) => (down = value),
    attempts: () => attempts,
  };
}

const T0 = 1_795_000_000;
const lifecycle = (i: number): EventDict[] => [
  { type: 'task-received', uuid: `t${i}`, name: 'proj.add', args: `(${i}, 1)`, hostname: 'w@h', timestamp: T0 + i } as EventDict,
  { type: 'task-started', uuid: `t${i}`, hostname: 'w@h', timestamp: T0 + i + 0.001 } as EventDict,
  { type: 'task-succeeded', uuid: `t${i}`, result: String(i + 1), runtime: 0.001, hostname: 'w@h', timestamp: T0 + i + 0.002 } as EventDict,
];

/** Final state per task across every written batch (the store applies them in order). */
const finalStates = (batches: readonly FoldedBatch[]) => {
  const states = new Map<string, string | null>();
  for (const b of batches) for (const t of b.tasks) if (t.state === 'SUCCESS' || !states.has(t.uuid)) states.set(t.uuid, t.state);
  return states;
};

/** Asserts that every one of `tasks` tasks was written with its final state, SUCCESS. */
function expectAllSucceeded(batches: readonly FoldedBatch[], tasks: number): void {
  const states = finalStates(batches);
  expect(states.size).toBe(tasks);
  expect([...states.values()].every((state) => state === 'SUCCESS')).toBe(true);
}

/** Promises created while `fn` runs. */
function promisesMadeDuring(fn: () => void): number {
  let promises = 0;
  const hook = createHook({ init: (_id, type) => void (type === 'PROMISE' && promises++) }).enable();
  try {
    fn();
  } finally {
    hook.disable();
  }
  return promises;
}

describe('WriteBuffer', () => {
  it('behind a slow store, holds one row per task within its bound and loses no final state', async () => {
    const s = slowStore();
    const buffer = new WriteBuffer(s.store, { batchSize: 100, maxBuffered: 6000 });
    let most = 0;
    for (let i = 0; i < 5000; i++) {
      for (const e of lifecycle(i)) {
        buffer.add(e, Date.now());
        most = Math.max(most, buffer.buffered);
      }
    }
    // The first 100 events went to a write that is still waiting; everything since is folded.
    expect(most).toBeLessThanOrEqual(6000);
    expect(buffer.eventsDropped).toBeGreaterThan(0);
    expect(buffer.tasksDropped).toBe(0);
    s.release();
    await buffer.flush();
    expect(buffer.eventsWritten).toBe(15_000);
    expect(buffer.buffered).toBe(0);
    expectAllSucceeded(s.batches, 5000);
    // Coalesced: far fewer row writes than events.
    expect(s.batches.reduce((n, b) => n + b.tasks.length, 0)).toBeLessThan(5100);
  });

  it('makes no promise per event while a write is in flight (they would pile up until it ends)', async () => {
    const s = slowStore();
    const buffer = new WriteBuffer(s.store, { batchSize: 10, maxBuffered: 60_000 });
    for (const e of lifecycle(0)) buffer.add(e, Date.now());
    for (let i = 1; i < 4; i++) for (const e of lifecycle(i)) buffer.add(e, Date.now()); // the first write is now waiting
    expect(promisesMadeDuring(() => {
      for (let i = 4; i < 2004; i++) for (const e of lifecycle(i)) buffer.add(e, Date.now());
    })).toBe(0);
    s.release();
    await buffer.flush();
    expect(buffer.eventsWritten).toBe(6012);
    expect(buffer.eventsDropped).toBe(0);
  });

  it('with maxWrites 2, starts a second write when a batch fills while the first runs, never a third', async () => {
    const s = slowStore();
    const buffer = new WriteBuffer(s.store, { batchSize: 30, maxBuffered: 60_000, maxWrites: 2 });
    for (let i = 0; i < 10; i++) for (const e of lifecycle(i)) buffer.add(e, Date.now());
    expect(s.attempts()).toBe(1);
    for (let i = 10; i < 20; i++) for (const e of lifecycle(i)) buffer.add(e, Date.now());
    expect(s.attempts()).toBe(2);
    expect(promisesMadeDuring(() => {
      for (let i = 20; i < 1020; i++) for (const e of lifecycle(i)) buffer.add(e, Date.now());
    })).toBe(0);
    expect(s.attempts()).toBe(2);
    s.release();
    await buffer.flush();
    expect(buffer.eventsWritten).toBe(3060);
    expect(buffer.buffered).toBe(0);
    expectAllSucceeded(s.batches, 1020);
  });

  it('with maxWrites 2, never writes a row that a write in flight holds: it waits for the next batch', async () => {
    const s = slowStore();
    // What each write had in flight beside it: a shared row would make Postgres wait on the first's lock.
    const inFlight = new Set<string>();
    const shared: string[] = [];
    const writeFolded = s.store.writeFolded.bind(s.store);
    s.store.writeFolded = async (batch: FoldedBatch) => {
      const keys = [...batch.tasks.map((t) => t.uuid), ...batch.workers.map((w) => w.hostname)];
      shared.push(...keys.filter((k) => inFlight.has(k)));
      for (const k of keys) inFlight.add(k);
      try {
        return await writeFolded(batch);
      } finally {
        for (const k of keys) inFlight.delete(k);
      }
    };
    const buffer = new WriteBuffer(s.store, { batchSize: 4, maxBuffered: 60_000, maxWrites: 2 });
    const [received, started, succeeded] = lifecycle(0) as [EventDict, EventDict, EventDict];
    const heartbeat = { type: 'worker-heartbeat', hostname: 'w@h', timestamp: T0, active: 1 } as EventDict;
    buffer.add(received, 0);
    buffer.add(heartbeat, 0);
    for (const e of lifecycle(1).slice(0, 2)) buffer.add(e, 0); // four events: the first write starts
    expect(s.attempts()).toBe(1);
    // t0's and the worker's next events fill the second batch with t2's: t0 and w@h stay pending.
    for (const e of [started, succeeded, heartbeat, lifecycle(2)[0] as EventDict]) buffer.add(e, 0);
    expect(s.attempts()).toBe(2);
    expect(buffer.buffered).toBe(2);
    s.release();
    await buffer.flush();
    expect(shared).toEqual([]);
    expect(s.attempts()).toBe(3);
    expect(s.batches.map((b) => b.tasks.map((t) => t.uuid).sort())).toEqual([['t0', 't1'], ['t2'], ['t0']]);
    expect(s.batches[2]?.tasks[0]?.state).toBe('SUCCESS');
    expect(s.batches[2]?.workers.map((w) => w.hostname)).toEqual(['w@h']);
    // Every event's timeline entry went with the batch it arrived in; each is counted once.
    expect(s.batches.map((b) => b.events.length)).toEqual([3, 3, 0]);
    expect(buffer.eventsWritten).toBe(8);
    expect(buffer.buffered).toBe(0);
  });

  it('with maxWrites 2, writes a held row once the write holding it ends, and no batch of nothing', async () => {
    const s = slowStore();
    const buffer = new WriteBuffer(s.store, { batchSize: 3, maxBuffered: 60_000, maxWrites: 2 });
    const again = lifecycle(0).map((e) => ({ ...e, timestamp: (e.timestamp as number) + 10 }) as EventDict);
    for (const e of lifecycle(0)) buffer.add(e, 0); // the first write: t0
    for (const e of again) buffer.add(e, 0); // t0 again: the second write takes its entries, not its row
    expect(s.attempts()).toBe(2);
    expect(buffer.buffered).toBe(1);
    s.release();
    await buffer.flush();
    // Three writes: whichever write found only a held row pending ended without writing a batch of nothing.
    expect(s.attempts()).toBe(3);
    expect(s.batches.map((b) => [b.tasks.map((t) => t.uuid), b.events.length])).toEqual([[['t0'], 3], [[], 3], [['t0'], 0]]);
    expect(s.batches[2]?.tasks[0]?.succeeded).toBe((T0 + 10.002) * 1000);
    expect(buffer.eventsWritten).toBe(6);
    expect(buffer.buffered).toBe(0);
  });

  it('refuses a maxWrites that is not a whole number of at least 1', () => {
    for (const maxWrites of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new WriteBuffer(slowStore().store, { maxWrites })).toThrow(/maxWrites must be an integer of at least 1/);
    }
  });

  it('keeps the batches of two writes that failed at once and writes them, oldest first, before anything newer', async () => {
    const s = slowStore();
    const errors: string[] = [];
    const buffer = new WriteBuffer(s.store, { batchSize: 3, maxBuffered: 60_000, maxWrites: 2, onError: (e) => errors.push(e.message) });
    s.setDown(true);
    for (const e of lifecycle(0)) buffer.add(e, 0);
    for (const e of lifecycle(1)) buffer.add(e, 0);
    expect(s.attempts()).toBe(2);
    s.release();
    await expect(buffer.flush()).rejects.toThrow(/ECONNREFUSED/);
    expect(errors).toHaveLength(2);
    expect(buffer.buffered).toBe(8); // two batches of one task row and three timeline entries
    s.setDown(false);
    for (const e of lifecycle(2)) buffer.add(e, 0); // within the backoff: no write starts
    expect(s.attempts()).toBe(2);
    await buffer.flush();
    expect(s.batches.map((b) => b.tasks.map((t) => t.uuid))).toEqual([['t0'], ['t1'], ['t2']]);
    expect(buffer.eventsWritten).toBe(9);
    expect(buffer.storeError).toBeNull();
  });

  it('lets go of the timeline entries it drops: memory stays within the bound, not the events folded', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const s = slowStore({ payloadCap: 1000, timelineCap: 10_000 });
    const buffer = new WriteBuffer(s.store, { batchSize: 100, maxBuffered: 1000 });
    const pad = 'x'.repeat(4096);
    const event = (i: number) => ({ type: 'task-started', uuid: `t${i % 50}`, hostname: 'w@h', timestamp: T0 + i, note: `${pad}${i}` }) as EventDict;
    for (let i = 0; i < 100; i++) buffer.add(event(i), Date.now()); // the first write now waits
    gc();
    const before = getHeapStatistics().used_heap_size;
    // 20,000 entries of 4 KB each (80 MB) behind a write that does not end; 1,000 are kept.
    for (let i = 100; i < 20_100; i++) buffer.add(event(i), Date.now());
    gc();
    const grown = getHeapStatistics().used_heap_size - before;
    expect(buffer.eventsDropped).toBeGreaterThan(18_000);
    expect(grown).toBeLessThan(20 * 1024 * 1024);
    s.release();
    await buffer.flush();
    expect(buffer.eventsWritten).toBe(20_100);
    // What was written is every entry not dropped, newest kept, and no empty slot among them.
    const entries = s.batches.flatMap((b) => b.events);
    expect(entries).toHaveLength(20_100 - buffer.eventsDropped);
    expect(entries.every((e) => e.uuid !== '' && e.fields.includes(pad))).toBe(true);
    expect(entries.at(-1)?.fields).toContain(`${pad}20099`);
  });

  it('drops the oldest pending rows, counted, only when task rows alone fill the bound', async () => {
    const s = slowStore();
    const buffer = new WriteBuffer(s.store, { batchSize: 1, maxBuffered: 500 });
    for (let i = 0; i < 2000; i++) {
      buffer.add(lifecycle(i)[2] as EventDict, Date.now());
      expect(buffer.buffered).toBeLessThanOrEqual(500);
    }
    expect(buffer.tasksDropped).toBeGreaterThan(0);
    s.release();
    await buffer.flush();
    const written = new Set(s.batches.flatMap((b) => b.tasks.map((t) => t.uuid)));
    expect(written.size + buffer.tasksDropped).toBe(2000);
    // The newest tasks are the ones kept.
    expect(written.has('t1999')).toBe(true);
  });

  it('says it is full at holdAt, before dropping anything, and calls onTake when a write takes what is pending', async () => {
    const s = slowStore();
    let takes = 0;
    const buffer = new WriteBuffer(s.store, { batchSize: 30, maxBuffered: 1000, holdAt: 100, onTake: () => takes++ });
    let i = 0;
    while (!buffer.full) for (const e of lifecycle(i++)) buffer.add(e, Date.now());
    // The first 30 events went to the held write (one take); the rest are folded.
    expect(takes).toBe(1);
    expect(buffer.buffered).toBeGreaterThanOrEqual(100);
    expect(buffer.buffered).toBeLessThan(110);
    expect(buffer.eventsDropped).toBe(0);
    s.release();
    await buffer.flush();
    expect(takes).toBe(2);
    expect(buffer.full).toBe(false);
    expect(buffer.eventsWritten).toBe(i * 3);
  });

  it('keeps a failed write and writes it before newer events', async () => {
    const s = slowStore();
    s.release();
    s.failNextWrite();
    const buffer = new WriteBuffer(s.store, { batchSize: 10_000 });
    for (const e of lifecycle(1).slice(0, 2)) buffer.add(e, Date.now());
    await expect(buffer.flush()).rejects.toThrow('database down');
    expect(buffer.storeError).toBe('database down');
    expect(buffer.buffered).toBeGreaterThan(0);
    buffer.add(lifecycle(1)[2] as EventDict, Date.now());
    await buffer.flush();
    expect(buffer.storeError).toBeNull();
    expect(s.batches.map((b) => b.tasks.map((t) => t.state))).toEqual([['STARTED'], ['SUCCESS']]);
    expect(buffer.eventsWritten).toBe(3);
  });

  it('does not retry a store that is down each time a batch fills: it backs off, then writes everything once it is back', async () => {
    const s = slowStore();
    s.release();
    s.setDown(true);
    const buffer = new WriteBuffer(s.store, { batchSize: 10, maxBuffered: 100_000 });
    const tick = () => new Promise((resolve) => setImmediate(resolve));
    let now = 1_000_000;
    let i = 0;
    // 100 batches' worth of events within 50 ms: one attempt, not one per batch.
    for (let round = 0; round < 100; round++, now += 0.5) {
      for (let k = 0; k < 5; k++) for (const e of lifecycle(i++)) buffer.add(e, now);
      await tick();
    }
    expect(s.attempts()).toBe(1);
    expect(buffer.storeError).toContain('ECONNREFUSED');
    // Later events retry after the wait, which doubles: 100 ms, then 200 ms.
    for (const e of lifecycle(i++)) buffer.add(e, now + 100);
    await tick();
    expect(s.attempts()).toBe(2);
    for (const e of lifecycle(i++)) buffer.add(e, now + 250);
    await tick();
    expect(s.attempts()).toBe(2);
    for (const e of lifecycle(i++)) buffer.add(e, now + 301);
    await tick();
    expect(s.attempts()).toBe(3);
    // A periodic caller waits too: the third failure (at now + 301) asks for 400 ms.
    await buffer.flushDue(now + 600);
    expect(s.attempts()).toBe(3);
    await buffer.flushDue(now + 701).catch(() => {});
    expect(s.attempts()).toBe(4);
    // Back: an explicit flush tries at once and writes the failed batch and all the rest.
    s.setDown(false);
    await buffer.flush();
    expect(buffer.storeError).toBeNull();
    expect(buffer.eventsWritten).toBe(i * 3);
    expect(finalStates(s.batches).size).toBe(i);
    // And batches start writes again without waiting.
    const before = s.attempts();
    for (let k = 0; k < 4; k++) for (const e of lifecycle(i++)) buffer.add(e, now + 302);
    expect(s.attempts()).toBe(before + 1);
    await buffer.flush();
    expect(buffer.eventsWritten).toBe(i * 3);
  });
});
