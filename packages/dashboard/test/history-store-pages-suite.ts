/**
 * The tasks page's paging, against every HistoryStore implementation: every query gives the
 * same rows in the same order whichever plan answers it (one big page, pages by offset, pages
 * by cursor, the newest-tasks window of a search, a narrow time window sorted by time), the
 * order is the documented one, and a cursor walk sees each task once while tasks arrive.
 */
import { describe, expect, it } from 'vitest';
import type { EventDict } from 'celeriac/monitor';
import type { HistoryStore, HistoryStoreOptions, TaskQuery, TaskRow, TaskSortField } from '../src/store/index.js';
import { openedStores, type StoreHarness } from './history-store-suite.js';

const T0 = Date.UTC(2026, 10, 22, 12, 0, 0) / 1000;

function ev(type: string, uuid: string, at: number, fields: Record<string, unknown>): EventDict {
  return { type, uuid, timestamp: T0 + at, ...fields } as EventDict;
}

/** Task k: two tasks share each time (ties), every 6th is only sent (no worker, received or runtime). */
function taskEvents(k: number, at = Math.floor(k / 2)): EventDict[] {
  const uuid = `k${String(k).padStart(3, '0')}`;
  const name = `proj.${'abc'[k % 3] as string}`;
  const sent = ev('task-sent', uuid, at, { hostname: 'client@host', name, args: k % 7 === 0 ? "('rare',)" : "('common',)", kwargs: '{}' });
  if (k % 6 === 5) return [sent];
  const worker = `w${(k % 4) + 1}@host`;
  const runtime = (k % 5) / 10;
  const end = k % 4 === 1
    ? ev('task-failed', uuid, at + 0.5, { hostname: worker, exception: "ValueError('boom')" })
    : ev('task-succeeded', uuid, at + 0.5, { hostname: worker, result: "'done'", runtime });
  return [sent, ev('task-received', uuid, at + 0.1, { hostname: worker, name, args: sent['args'], kwargs: '{}' }), end];
}

const COLUMN: Readonly<Record<TaskSortField, (r: TaskRow) => string | number | null>> = {
  timestamp: (r) => r.timestamp, received: (r) => r.received, started: (r) => r.started, succeeded: (r) => r.succeeded,
  runtime: (r) => r.runtime, name: (r) => r.name, state: (r) => r.state, worker: (r) => r.worker,
};
const TIED_BY_TIME = new Set<TaskSortField>(['name', 'worker', 'state']);

/**
 * The documented order: the column, ties by time then uuid (name, worker, state) or uuid; tasks
 * without a value last, but first on `started` ascending (newest first among them, as Flower).
 */
function compare(field: TaskSortField, dir: 'asc' | 'desc'): (a: TaskRow, b: TaskRow) => number {
  const cmp = (x: string | number, y: string | number) => (x < y ? -1 : x > y ? 1 : 0) * (dir === 'asc' ? 1 : -1);
  const newestFirst = (a: TaskRow, b: TaskRow) => (a.timestamp !== b.timestamp ? b.timestamp - a.timestamp : a.uuid < b.uuid ? 1 : a.uuid > b.uuid ? -1 : 0);
  return (a, b) => {
    const va = COLUMN[field](a);
    const vb = COLUMN[field](b);
    if (va === null || vb === null) {
      const first = field === 'started' && dir === 'asc';
      if (va !== vb) return (va === null ? 1 : -1) * (first ? -1 : 1);
      if (first) return newestFirst(a, b);
    } else if (va !== vb) return cmp(va, vb);
    if (TIED_BY_TIME.has(field) && a.timestamp !== b.timestamp) return cmp(a.timestamp, b.timestamp);
    return cmp(a.uuid, b.uuid);
  };
}

const ids = (rows: readonly TaskRow[]) => rows.map((r) => r.uuid);

async function walkByCursor(s: HistoryStore, q: TaskQuery, limit: number, between?: (page: number) => Promise<void>): Promise<TaskRow[]> {
  const out: TaskRow[] = [];
  let after: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const p = await s.queryTasks({ ...q, limit, ...(after === undefined ? {} : { after }) });
    out.push(...p.rows);
    if (p.nextCursor === null) return out;
    expect(p.rows).toHaveLength(limit);
    after = p.nextCursor;
    await between?.(page);
  }
  throw new Error('the walk did not end');
}

/** How many of the paging matrix's (query, sort) pairs a suite runs. */
export interface PagesSuiteOptions {
  /**
   * `all`: every query under every sort. `each`: every query under one sort and every sort
   * under two queries (an engine that runs the same SQL as one given `all`: PGlite runs the
   * store's SQL as Postgres does, and WebAssembly takes several times as long per query).
   * @default 'all'
   */
  readonly pairs?: 'all' | 'each';
}

/** Registers the paging cases for one implementation. */
export function historyStorePagesSuite(name: string, harness: () => StoreHarness, options: PagesSuiteOptions = {}): void {
  describe(`HistoryStore pages: ${name}`, () => {
    const stores = openedStores(harness);
    const open = (options?: HistoryStoreOptions) => stores.open(options);

    it('gives every query the same rows in the documented order by one page, by offset and by cursor', async () => {
      // A search window of 6 tasks: searches take the window path on some pages and the indexes on others.
      const s = await open({ searchWindow: 6 });
      await s.writeEvents(Array.from({ length: 48 }, (_, k) => taskEvents(k)).flat());
      const queries: TaskQuery[] = [
        {}, { states: ['FAILURE'] }, { name: 'proj.a' }, { worker: 'w2@host' }, { runtimeMin: 0.2 },
        { timeField: 'received', from: (T0 + 5) * 1000, to: (T0 + 15) * 1000 }, { timeField: 'received', to: (T0 + 9) * 1000 },
        { timeField: 'received', from: (T0 + 12) * 1000 }, { search: 'common' }, { search: 'rare' },
        { search: 'name:proj.* AND NOT state:SUCCESS' }, { search: 'common received>2026-11-22T12:00:08Z' },
      ];
      const sorts: NonNullable<TaskQuery['sort']>[] = [
        { field: 'timestamp', dir: 'desc' }, { field: 'timestamp', dir: 'asc' }, { field: 'received', dir: 'desc' },
        { field: 'received', dir: 'asc' }, { field: 'runtime', dir: 'desc' }, { field: 'name', dir: 'asc' },
        { field: 'worker', dir: 'desc' }, { field: 'state', dir: 'asc' },
      ];
      const pairs = options.pairs === 'each'
        ? [...queries.map((base, i) => [base, sorts[i % sorts.length]!] as const), ...sorts.flatMap((sort) => [[queries[0]!, sort], [queries[8]!, sort]] as const)]
        : queries.flatMap((base) => sorts.map((sort) => [base, sort] as const));
      for (const [base, sort] of pairs) {
        const q = { ...base, sort };
        const what = JSON.stringify(q);
        const whole = await s.queryTasks({ ...q, limit: 1000 });
        expect(whole.nextCursor, what).toBeNull();
        expect(whole.total, what).toBe(whole.rows.length);
        expect(ids(whole.rows), what).toEqual(ids([...whole.rows].sort(compare(sort.field, sort.dir))));
        const byOffset: TaskRow[] = [];
        for (let offset = 0; offset < whole.rows.length + 5; offset += 5) {
          const p = await s.queryTasks({ ...q, offset, limit: 5 });
          expect(p.total, `${what} offset ${offset}`).toBe(whole.rows.length);
          expect(p.totalExact).toBe(true);
          byOffset.push(...p.rows);
        }
        expect(ids(byOffset), what).toEqual(ids(whole.rows));
        expect(ids(await walkByCursor(s, q, 5)), what).toEqual(ids(whole.rows));
      }
      expect((await s.queryTasks({})).rows.length).toBe(48);
      expect((await s.queryTasks({ search: 'rare' })).total).toBe(7);
    }, 180_000);

    it('walks every task exactly once by cursor while new tasks arrive', async () => {
      const s = await open({ searchWindow: 6 });
      await s.writeEvents(Array.from({ length: 40 }, (_, k) => taskEvents(k)).flat());
      const before = new Set(ids((await s.queryTasks({ limit: 1000 })).rows));
      let next = 40;
      // Two new tasks per page, newer than everything (they go before the first page newest
      // first, after the last page oldest first).
      const arrive = async () => {
        await s.writeEvents([...taskEvents(next, 100 + next), ...taskEvents(next + 1, 100 + next)]);
        next += 2;
      };
      for (const q of [{}, { sort: { field: 'timestamp', dir: 'asc' } }, { sort: { field: 'received', dir: 'desc' } }, { search: 'common' }] as TaskQuery[]) {
        const seen = ids(await walkByCursor(s, q, 4, arrive));
        expect(new Set(seen).size, JSON.stringify(q)).toBe(seen.length);
        const wanted = q.search === undefined ? before : new Set([...before].filter((id) => Number(id.slice(1)) % 7 !== 0));
        for (const id of wanted) expect(seen, `${JSON.stringify(q)} ${id}`).toContain(id);
      }
      expect(next).toBeGreaterThan(60);
    }, 60_000);

    it('refuses a cursor made for another order or not made by it', async () => {
      const s = await open();
      await s.writeEvents(Array.from({ length: 6 }, (_, k) => taskEvents(k)).flat());
      const first = await s.queryTasks({ limit: 2 });
      expect(first.nextCursor).toEqual(expect.any(String));
      const after = first.nextCursor as string;
      expect(ids((await s.queryTasks({ limit: 2, after })).rows)).toEqual(ids((await s.queryTasks({ limit: 2, offset: 2 })).rows));
      await expect(s.queryTasks({ after, sort: { field: 'name', dir: 'asc' } })).rejects.toThrow(/made for sort -timestamp, not name/);
      await expect(s.queryTasks({ after: 'bm90IGpzb24' })).rejects.toMatchObject({ name: 'TaskCursorError' });
      await expect(s.queryTasks({ after: Buffer.from('["timestamp","desc",1,"x","k1"]').toString('base64url') })).rejects.toThrow(/invalid cursor/);
      await expect(s.queryTasks({ after: "'; DROP TABLE tasks; --" })).rejects.toThrow(/invalid cursor/);
    });

    it('takes a time bound or an offset past anything stored as one (as bigints they were out of range)', async () => {
      const s = await open();
      await s.writeEvents(Array.from({ length: 4 }, (_, k) => taskEvents(k)).flat());
      for (const field of ['received', 'started', 'timestamp'] as const) {
        for (const sort of [undefined, { field: 'timestamp', dir: 'asc' }, { field: 'received', dir: 'desc' }] as TaskQuery['sort'][]) {
          const q = { timeField: field, ...(sort === undefined ? {} : { sort }) };
          expect((await s.queryTasks({ ...q, from: 1e23 })).rows, `${field} from`).toEqual([]);
          expect((await s.queryTasks({ ...q, to: -1e23 })).rows, `${field} to`).toEqual([]);
          expect((await s.queryTasks({ ...q, from: -1e23, to: 1e23 })).rows.length, `${field} both`).toBe(field === 'started' ? (await s.queryTasks({ ...q, from: 0 })).rows.length : 4);
        }
      }
      expect((await s.queryTasks({ offset: 1e20, limit: 5 })).rows).toEqual([]);
    });

    it('reports the planner estimate instead of counting when the count costs more than the limit', async () => {
      const exact = await open();
      const estimating = await open({ countCostLimit: 0 });
      for (const s of [exact, estimating]) await s.writeEvents(Array.from({ length: 30 }, (_, k) => taskEvents(k)).flat());
      expect(await exact.queryTasks({ limit: 5 })).toMatchObject({ total: 30, totalExact: true, totalEstimated: false });
      const page = await estimating.queryTasks({ limit: 5 });
      expect(page).toMatchObject({ totalExact: false, totalEstimated: true });
      expect(page.total).toBeGreaterThanOrEqual(1);
      expect(ids(page.rows)).toEqual(ids((await exact.queryTasks({ limit: 5 })).rows));
      // A page that is not full is its own count, never an estimate.
      expect(await estimating.queryTasks({ limit: 50 })).toMatchObject({ total: 30, totalExact: true, totalEstimated: false });
    });
  });
}
