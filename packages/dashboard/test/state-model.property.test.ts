/**
 * The dashboard decides a task's state as the engine's state model does:
 * events folded in memory, written in batches of any size, stored metas (backfill) and lost
 * marks written straight to the table, in any order, reach the state `foldTaskState` gives
 * for the same facts. Lost marks and backfills may run while events still wait in the write
 * buffer (the race that turned a revoked task LOST): the final state is the same anyway.
 */
import { randomUUID } from 'node:crypto';
import type { PGlite } from '@electric-sql/pglite';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isReady } from 'celeriac';
import { foldTaskState, statePrecedence, type EventDict, type TaskFact } from 'celeriac/monitor';
import { EventFolder } from '../src/store/fold-events.js';
import { openHistoryStore, type HistoryStore } from '../src/store/index.js';
import { createInMemory } from '../src/store/pglite-template.js';
import { pgliteOptions } from '../src/store/sql-driver.js';

const WORKER = 'w@h';
const T0 = 1_795_000_000;

type Op = { op: 'event'; type: string } | { op: 'meta'; status: string } | { op: 'lost' } | { op: 'flush' };

const EVENTS = ['task-sent', 'task-received', 'task-started', 'task-progress', 'task-resizing', 'task-retried', 'task-rejected', 'task-succeeded', 'task-failed', 'task-revoked'];
const STATUSES = ['STARTED', 'PROGRESS', 'RETRY', 'SUCCESS', 'FAILURE', 'REVOKED'];

const opArb = (retry: boolean): fc.Arbitrary<Op> => fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...EVENTS.filter((t) => retry || t !== 'task-retried')).map((type) => ({ op: 'event', type }) as const) },
  { weight: 1, arbitrary: fc.constantFrom(...STATUSES.filter((s) => retry || s !== 'RETRY')).map((status) => ({ op: 'meta', status }) as const) },
  { weight: 1, arbitrary: fc.constant({ op: 'lost' } as const) },
  { weight: 2, arbitrary: fc.constant({ op: 'flush' } as const) },
);

function factOf(op: Op): TaskFact | null {
  if (op.op === 'event') return { kind: 'event', type: op.type };
  if (op.op === 'meta') return { kind: 'meta', status: op.status };
  if (op.op === 'lost') return { kind: 'lost' };
  return null;
}

/** Runs `ops` against the store for a new task; `flushFirst` writes pending events before a mark or a backfill, as the ingest does. */
async function play(store: HistoryStore, ops: readonly Op[], flushFirst: boolean): Promise<string | null> {
  const uuid = randomUUID();
  const folder = new EventFolder({ payloadCap: 1000, timelineCap: 100 });
  const flush = async () => {
    if (folder.pending) await store.writeFolded(folder.take());
  };
  let i = 0;
  for (const op of ops) {
    i++;
    if (op.op === 'event') folder.add({ type: op.type, uuid, hostname: op.type === 'task-sent' ? 'client@h' : WORKER, timestamp: T0 + i / 1000 } as EventDict, 0);
    else if (op.op === 'flush') await flush();
    else {
      if (flushFirst) await flush();
      if (op.op === 'lost') await store.markLost(WORKER, (T0 + i / 1000) * 1000);
      else await store.backfill([{ uuid, state: op.status, worker: WORKER, dateDone: (T0 + i / 1000) * 1000 }]);
    }
  }
  await flush();
  return (await store.getTask(uuid))?.task.state ?? null;
}

let shared: PGlite;
let store: HistoryStore;

beforeAll(async () => {
  shared = await createInMemory(pgliteOptions());
  store = await openHistoryStore({ pglite: shared, schema: `dash_state_${randomUUID().replace(/-/g, '').slice(0, 12)}` });
}, 180_000);

afterAll(async () => {
  await store?.close();
  await shared?.close();
});

describe('the dashboard and the engine\'s state model (property)', () => {
  it('written as the ingest writes (flush, then mark lost), a task without RETRY ends in the model\'s state', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb(false), { maxLength: 10 }), async (ops) => {
        const facts = ops.map(factOf).filter((f): f is TaskFact => f !== null);
        const stored = await play(store, ops, true);
        const expected = foldTaskState(facts);
        // A task no fact wrote has no row: the model says PENDING.
        expect(stored ?? 'PENDING').toBe(expected);
      }),
      { numRuns: 120 },
    );
  }, 120_000);

  it('with lost marks and backfills racing the write buffer, a task with a final fact ends in the strongest final state, never LOST', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb(true), { maxLength: 10 }), async (ops) => {
        const facts = ops.map(factOf).filter((f): f is TaskFact => f !== null);
        const finals = facts.map((f) => foldTaskState([f])).filter((s) => isReady(s));
        fc.pre(finals.length > 0);
        const strongest = finals.reduce((a, b) => (statePrecedence(a) <= statePrecedence(b) ? a : b));
        expect(await play(store, ops, false)).toBe(strongest);
        expect(foldTaskState(facts)).toBe(strongest);
      }),
      { numRuns: 120 },
    );
  }, 120_000);

  it('the issue\'s race: a revoke still in the write buffer when the worker is marked offline stays REVOKED', async () => {
    const ops: Op[] = [{ op: 'event', type: 'task-received' }, { op: 'flush' }, { op: 'event', type: 'task-revoked' }, { op: 'lost' }];
    expect(await play(store, ops, false)).toBe('REVOKED');
    const terminated: Op[] = [{ op: 'event', type: 'task-started' }, { op: 'event', type: 'task-progress' }, { op: 'event', type: 'task-revoked' }, { op: 'event', type: 'task-progress' }];
    expect(await play(store, terminated, false)).toBe('REVOKED');
  }, 60_000);
});
