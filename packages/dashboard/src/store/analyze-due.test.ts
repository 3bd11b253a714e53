import { describe, expect, it } from 'vitest';
import type { FoldedBatch, TaskWrite } from './fold-events.js';
import { ESTIMATED_ROWS_SQL } from './read-sql.js';
import type { SqlDriver } from './sql-driver.js';
import { historyStoreOn } from './sql-history-store.js';
import { analyzeDue, resolveHistoryStoreOptions } from './store-policy.js';

describe('analyzeDue', () => {
  it('runs ANALYZE every 50,000 task rows while the history is small', () => {
    expect(analyzeDue(49_999, 0)).toBe(false);
    expect(analyzeDue(50_000, 0)).toBe(true);
    expect(analyzeDue(50_000, 200_000)).toBe(true);
  });

  it('waits for a fifth of the rows the last run counted once the history is large', () => {
    expect(analyzeDue(50_000, 1_000_000)).toBe(false);
    expect(analyzeDue(199_999, 1_000_000)).toBe(false);
    expect(analyzeDue(200_000, 1_000_000)).toBe(true);
  });
});

/** A store over a database whose every ANALYZE waits until the test settles it. */
function analyzeHeldStore() {
  const analyzes: { resolve: () => void; reject: (e: Error) => void }[] = [];
  const state = { closed: false, analyzes };
  const db: SqlDriver = {
    kind: 'postgres',
    query: <R>(text: string) => {
      if (text === 'ANALYZE tasks') return new Promise<R[]>((resolve, reject) => analyzes.push({ resolve: () => resolve([]), reject }));
      return Promise.resolve((text === ESTIMATED_ROWS_SQL ? [{ n: 0 }] : []) as R[]);
    },
    exec: () => Promise.resolve(),
    transaction: (fn) => fn(db),
    close: () => {
      state.closed = true;
      return Promise.resolve();
    },
  };
  return { store: historyStoreOn(db, resolveHistoryStoreOptions()), state };
}

const batch = (tasks: number): FoldedBatch => ({ tasks: Array.from({ length: tasks }, () => ({}) as TaskWrite), workers: [], events: [], ignored: 0, folded: tasks });
const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('ANALYZE beside the writes', () => {
  it('a write that makes it due resolves without waiting for it, and writes meanwhile start no second one', async () => {
    const { store, state } = analyzeHeldStore();
    await store.writeFolded(batch(50_000));
    expect(state.analyzes).toHaveLength(1);
    await store.writeFolded(batch(50_000));
    expect(state.analyzes).toHaveLength(1);
    state.analyzes[0]!.resolve();
    await settled();
    // The rows written while it ran count toward the next run.
    await store.writeFolded(batch(1));
    expect(state.analyzes).toHaveLength(2);
    state.analyzes[1]!.resolve();
    await store.close();
  });

  it('a failed run fails no write and is tried again after the next one', async () => {
    const { store, state } = analyzeHeldStore();
    await store.writeFolded(batch(50_000));
    state.analyzes[0]!.reject(new Error('connection refused'));
    await settled();
    await expect(store.writeFolded(batch(1))).resolves.toMatchObject({ tasks: 1 });
    expect(state.analyzes).toHaveLength(2);
    state.analyzes[1]!.resolve();
    await store.close();
  });

  it('close waits for the run in flight before it closes the database', async () => {
    const { store, state } = analyzeHeldStore();
    await store.writeFolded(batch(50_000));
    const closing = store.close();
    await settled();
    expect(state.closed).toBe(false);
    state.analyzes[0]!.resolve();
    await closing;
    expect(state.closed).toBe(true);
  });
});
