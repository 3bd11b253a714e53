/**
 * The HistoryStore conformance suite: the same cases against every implementation
 * (PGlite in-process, Postgres on the shared server).
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventDict } from 'celeriac/monitor';
import type { HistoryStore, HistoryStoreOptions } from '../src/store/index.js';
import { QuerySyntaxError } from '../src/query/index.js';

/** Opens a fresh, empty store; `reopen` opens the same storage again (a restart). */
export interface StoreHarness {
  open(options?: HistoryStoreOptions): Promise<HistoryStore>;
  reopen(options?: HistoryStoreOptions): Promise<HistoryStore>;
  cleanup(): Promise<void>;
}

const T0 = Date.UTC(2026, 10, 22, 12, 0, 0) / 1000;

function ev(type: string, uuid: string, at: number, fields: Record<string, unknown> = {}): EventDict {
  return { type, uuid, timestamp: T0 + at, hostname: 'w1@host', ...fields } as EventDict;
}

/** Events of a task that ran to `outcome` on `worker`. */
function lifecycle(uuid: string, at: number, o: { name?: string; worker?: string; kwargs?: string; args?: string; outcome?: 'ok' | 'fail'; runtime?: number; queue?: string; result?: string } = {}): EventDict[] {
  const worker = o.worker ?? 'w1@host';
  const base = { hostname: worker };
  return [
    ev('task-sent', uuid, at, { hostname: 'client@host', name: o.name ?? 'proj.add', args: o.args ?? '(1, 2)', kwargs: o.kwargs ?? '{}', queue: o.queue ?? 'celery' }),
    ev('task-received', uuid, at + 0.01, { ...base, name: o.name ?? 'proj.add', args: o.args ?? '(1, 2)', kwargs: o.kwargs ?? '{}' }),
    ev('task-started', uuid, at + 0.02, base),
    o.outcome === 'fail'
      ? ev('task-failed', uuid, at + 0.5, { ...base, exception: "ValueError('boom')", traceback: 'Traceback (most recent call last):\n  ValueError: boom' })
      : ev('task-succeeded', uuid, at + 0.02 + (o.runtime ?? 0.1), { ...base, result: o.result ?? '3', runtime: o.runtime ?? 0.1 }),
  ];
}

/**
 * Stores opened through fresh harnesses, for a describe block: each test's stores are closed
 * and their harnesses cleaned up after it.
 */
export function openedStores(harness: () => StoreHarness): { open(options?: HistoryStoreOptions): Promise<HistoryStore>; reopen(): Promise<HistoryStore> } {
  const harnesses: StoreHarness[] = [];
  const opened: HistoryStore[] = [];
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
    for (const x of harnesses.splice(0)) await x.cleanup();
  });
  const track = (s: HistoryStore) => {
    opened.push(s);
    return s;
  };
  return {
    async open(options) {
      const h = harness();
      harnesses.push(h);
      return track(await h.open(options));
    },
    /** The last harness's storage opened again (a restart). */
    async reopen() {
      const h = harnesses.at(-1);
      if (h === undefined) throw new Error('reopen() before open()');
      return track(await h.reopen());
    },
  };
}

/** Registers the suite for one implementation. */
export function historyStoreSuite(name: string, harness: () => StoreHarness): void {
  describe(`HistoryStore conformance: ${name}`, () => {
    const stores = openedStores(harness);
    const open = (options?: HistoryStoreOptions) => stores.open(options);

    it('folds a task from its events, in and across batches, whatever their order', async () => {
      const s = await open();
      const [sent, received, started, succeeded] = lifecycle('t1', 0, { runtime: 0.25, kwargs: "{'user_id': 42}" });
      // succeeded arrives first, then the earlier events: the state must stay SUCCESS.
      await s.writeEvents([succeeded!, received!]);
      await s.writeEvents([started!, sent!]);
      const d = await s.getTask('t1');
      expect(d?.task).toMatchObject({
        uuid: 't1', name: 'proj.add', state: 'SUCCESS', worker: 'w1@host', queue: 'celery', args: '(1, 2)',
        kwargs: "{'user_id': 42}", result: '3', runtime: 0.25, truncated: [], source: 'events',
      });
      expect(d?.task.timestamp).toBe(Math.round((T0 + 0.27) * 1000));
      expect(d?.task.sent).toBe(Math.round(T0 * 1000));
      expect(d?.task.started).toBe(Math.round((T0 + 0.02) * 1000));
      expect(d?.events.map((e) => e.type)).toEqual(['task-sent', 'task-received', 'task-started', 'task-succeeded']);
      expect(d?.events[3]?.fields).toMatchObject({ result: '3', runtime: 0.25 });
      expect(await s.getTask('missing')).toBeNull();
    });

    it('leaves out the numbers its columns cannot hold, and stores the rest of the batch', async () => {
      // A foreign sender's values: before, one of them failed the whole batch.
      const s = await open();
      const now = Date.now();
      await s.writeEvents([
        ev('task-received', 'big1', 1, { name: 'proj.add', retries: 2 ** 31, timestamp: 1e300 }),
        ev('task-received', 'big2', 2, { name: 'proj.add', retries: -(2 ** 31) - 1, timestamp: 1e13 }),
        ev('task-received', 'fits', 3, { name: 'proj.add', retries: 2 ** 31 - 1, runtime: 1e300 }),
        { type: 'worker-heartbeat', hostname: 'w9@host', timestamp: T0 + 4, pid: 2 ** 31, active: 2 ** 40, processed: 2 ** 63, freq: 2 } as EventDict,
        { type: 'worker-heartbeat', hostname: 'w8@host', timestamp: T0 + 4, pid: 2 ** 31 - 1, active: -(2 ** 31), processed: Number.MAX_SAFE_INTEGER } as EventDict,
      ]);
      const big1 = (await s.getTask('big1'))?.task;
      expect(big1).toMatchObject({ name: 'proj.add', state: 'RECEIVED', retries: null });
      // A timestamp no Date holds dates the event when it is folded, as one without a timestamp.
      expect(big1?.received).toBeGreaterThanOrEqual(now);
      expect((await s.getTask('big2'))?.task.received).toBeGreaterThanOrEqual(now);
      expect((await s.getTask('fits'))?.task).toMatchObject({ retries: 2 ** 31 - 1, received: Math.round((T0 + 3) * 1000) });
      const workers = await s.listWorkers();
      expect(workers.find((w) => w.hostname === 'w9@host')).toMatchObject({ pid: null, active: null, processed: null, freq: 2 });
      expect(workers.find((w) => w.hostname === 'w8@host')).toMatchObject({ pid: 2 ** 31 - 1, active: -(2 ** 31), processed: Number.MAX_SAFE_INTEGER });
      // The backfill from stored results folds through the same code: its batch failed too.
      const stored = { state: 'SUCCESS', dateDone: now, name: 'proj.add', args: '()', kwargs: '{}', result: '3', traceback: null, worker: null, queue: null, parentId: null, groupId: null };
      expect(await s.backfill([{ ...stored, uuid: 'bf-big', retries: 2 ** 31 }, { ...stored, uuid: 'bf-fits', retries: 3 }])).toBe(2);
      expect((await s.getTask('bf-big'))?.task).toMatchObject({ state: 'SUCCESS', retries: null });
      expect((await s.getTask('bf-fits'))?.task).toMatchObject({ state: 'SUCCESS', retries: 3 });
    });

    it('commits two writes at once that share tasks and workers, whatever order each folded them in', async () => {
      // The ingest keeps two writes in flight on Postgres. Rows locked in folding order would
      // deadlock here: one write takes the tasks first to last, the other last to first.
      const s = await open();
      const n = 1500;
      const folded = (types: string[], order: number[]) => {
        const folder = s.newFolder();
        for (const i of order) {
          const worker = `w${i % 7}@host`;
          folder.add({ type: 'worker-heartbeat', hostname: worker, timestamp: T0 + i / 1000, active: 1, processed: i } as EventDict, Date.now());
          for (const type of types) folder.add({ ...ev(type, `c${i}`, i / 1000, { name: 'proj.add' }), hostname: worker }, Date.now());
        }
        return folder.take();
      };
      const up = Array.from({ length: n }, (_, i) => i);
      const first = folded(['task-received', 'task-started'], up);
      const second = folded(['task-succeeded'], [...up].reverse());
      await Promise.all([s.writeFolded(first), s.writeFolded(second)]);
      expect(await s.countByState()).toEqual({ SUCCESS: n });
      expect((await s.listWorkers()).map((w) => w.hostname).sort()).toEqual(Array.from({ length: 7 }, (_, i) => `w${i}@host`));
    });

    it('writes the timeline entries of a batch whose task row was held for the next one', async () => {
      // The write buffer keeps a row out of a batch while a write in flight has it; the row's
      // entries still go with the batch they arrived in.
      const s = await open();
      const [, received, started, succeeded] = lifecycle('h1', 0);
      const folder = s.newFolder();
      folder.add(received!, Date.now());
      await s.writeFolded(folder.take());
      folder.add(started!, Date.now());
      folder.add(succeeded!, Date.now());
      const entriesOnly = folder.take({ tasks: new Set(['h1']), workers: new Set() });
      expect(entriesOnly.tasks).toEqual([]);
      await s.writeFolded(entriesOnly);
      expect((await s.getTask('h1'))?.task.state).toBe('RECEIVED');
      expect((await s.getTask('h1'))?.events.map((e) => e.type)).toEqual(['task-received', 'task-started', 'task-succeeded']);
      await s.writeFolded(folder.take());
      const d = await s.getTask('h1');
      expect(d?.task.state).toBe('SUCCESS');
      expect(d?.events).toHaveLength(3);
    });

    it('lets a retry run again: RETRY then STARTED, and FAILURE after it', async () => {
      const s = await open();
      await s.writeEvents([ev('task-received', 'r1', 0, { name: 'proj.flaky' }), ev('task-started', 'r1', 1)]);
      await s.writeEvents([ev('task-retried', 'r1', 2, { exception: 'Retry in 1s' })]);
      expect((await s.getTask('r1'))?.task.state).toBe('RETRY');
      await s.writeEvents([ev('task-started', 'r1', 3)]);
      expect((await s.getTask('r1'))?.task.state).toBe('STARTED');
      await s.writeEvents([ev('task-failed', 'r1', 4, { exception: 'KeyError(1)' }), ev('task-started', 'r1', 3.5)]);
      const t = (await s.getTask('r1'))?.task;
      expect(t?.state).toBe('FAILURE');
      expect(t?.exception).toBe('KeyError(1)');
    });

    it('filters, sorts and pages tasks', async () => {
      const s = await open();
      const events: EventDict[] = [];
      for (let i = 0; i < 30; i++) {
        events.push(...lifecycle(`q${String(i).padStart(2, '0')}`, i, {
          name: i % 3 === 0 ? 'proj.mul' : 'proj.add', worker: i % 2 === 0 ? 'w1@host' : 'w2@host',
          outcome: i % 5 === 0 ? 'fail' : 'ok', runtime: i / 10, queue: i < 10 ? 'fast' : 'celery',
        }));
      }
      await s.writeEvents(events);
      const all = await s.queryTasks({});
      expect(all.total).toBe(30);
      expect(all.totalExact).toBe(true);
      expect(all.rows[0]?.uuid).toBe('q29');
      expect(all.rows[0]?.traceback).toBeNull();
      const failed = await s.queryTasks({ states: ['FAILURE'] });
      expect(failed.rows.map((r) => r.uuid).sort()).toEqual(['q00', 'q05', 'q10', 'q15', 'q20', 'q25']);
      expect((await s.queryTasks({ states: ['FAILURE', 'SUCCESS'] })).total).toBe(30);
      expect((await s.queryTasks({ name: 'proj.mul' })).total).toBe(10);
      expect((await s.queryTasks({ worker: 'w2@host', name: 'proj.mul' })).total).toBe(5);
      expect((await s.queryTasks({ queue: 'fast' })).total).toBe(10);
      const window = await s.queryTasks({ timeField: 'received', from: (T0 + 10) * 1000, to: (T0 + 19.5) * 1000 });
      expect(window.total).toBe(10);
      const slow = await s.queryTasks({ runtimeMin: 2, runtimeMax: 2.5, sort: { field: 'runtime', dir: 'asc' } });
      expect(slow.rows.map((r) => r.runtime)).toEqual([2.1, 2.2, 2.3, 2.4]);
      const page = await s.queryTasks({ sort: { field: 'received', dir: 'asc' }, offset: 5, limit: 3 });
      expect(page.rows.map((r) => r.uuid)).toEqual(['q05', 'q06', 'q07']);
      expect(page.total).toBe(30);
      expect((await s.queryTasks({ limit: 0 })).rows).toEqual([]);
      await expect(s.queryTasks({ sort: { field: 'nope' as never, dir: 'asc' } })).rejects.toThrow(/sort field/);
      await expect(s.queryTasks({ limit: Number.NaN })).rejects.toThrow(/limit/);
    });

    it('sorts tasks without a value of the sort column last, both ways, but unstarted tasks first on started ascending (newest first, as Flower), on every page', async () => {
      const s = await open();
      const events: EventDict[] = [];
      // r0..r4 were received (at 0..4 s) and ran 0.1..0.5 s; p0..p2 were only sent (no received, no runtime).
      for (let i = 0; i < 5; i++) events.push(...lifecycle(`r${i}`, i, { runtime: (i + 1) / 10 }));
      for (let i = 0; i < 3; i++) events.push(ev('task-sent', `p${i}`, 10 + i, { hostname: 'client@host', name: 'proj.add' }));
      await s.writeEvents(events);
      const ids = async (field: 'received' | 'runtime' | 'started', dir: 'asc' | 'desc', offset: number, limit: number) => {
        const page = await s.queryTasks({ sort: { field, dir }, offset, limit });
        return { ids: page.rows.map((r) => r.uuid), total: page.total, exact: page.totalExact };
      };
      const nullsDesc = ['p2', 'p1', 'p0'];
      const nullsAsc = ['p0', 'p1', 'p2'];
      for (const field of ['received', 'runtime', 'started'] as const) {
        // Flower: a missing start sorts as 0, and its stable sort keeps the newest first among equals.
        const asc = field === 'started' ? [...nullsDesc, ...['r0', 'r1', 'r2', 'r3', 'r4']] : [...['r0', 'r1', 'r2', 'r3', 'r4'], ...nullsAsc];
        const desc = [...['r4', 'r3', 'r2', 'r1', 'r0'], ...nullsDesc];
        expect((await ids(field, 'asc', 0, 50)).ids).toEqual(asc);
        expect((await ids(field, 'desc', 0, 50)).ids).toEqual(desc);
        // Pages of 3: one with values only, one across the boundary, one of NULLs only, one past the end.
        for (const [order, dir] of [[asc, 'asc'], [desc, 'desc']] as const) {
          for (const offset of [0, 3, 5, 6, 7, 8, 9]) {
            const page = await ids(field, dir, offset, 3);
            expect(page.ids, `${field} ${dir} offset ${offset}`).toEqual(order.slice(offset, offset + 3));
            expect(page.total, `${field} ${dir} offset ${offset} total`).toBe(8);
            expect(page.exact).toBe(true);
          }
        }
      }
      // Time order (never NULL), page by page: the sent-only tasks are the newest.
      const byTime = ['r0', 'r1', 'r2', 'r3', 'r4', 'p0', 'p1', 'p2'];
      for (const offset of [0, 2, 5, 7, 8]) {
        const asc = await s.queryTasks({ sort: { field: 'timestamp', dir: 'asc' }, offset, limit: 3 });
        expect(asc.rows.map((r) => r.uuid), `timestamp asc offset ${offset}`).toEqual(byTime.slice(offset, offset + 3));
        const desc = await s.queryTasks({ offset, limit: 3 });
        expect(desc.rows.map((r) => r.uuid), `timestamp desc offset ${offset}`).toEqual([...byTime].reverse().slice(offset, offset + 3));
        expect(desc.total).toBe(8);
      }
      // Filters apply to both parts.
      expect((await s.queryTasks({ name: 'proj.add', sort: { field: 'received', dir: 'desc' }, offset: 4, limit: 2 })).rows.map((r) => r.uuid)).toEqual(['r0', 'p2']);
    });

    it('searches with the query language: kwargs keys, fields, phrases, NOT and OR', async () => {
      const s = await open();
      await s.writeEvents([
        ...lifecycle('s1', 0, { kwargs: "{'user_id': 42, 'plan': 'pro'}", args: "('foo bar',)", result: "'sent'" }),
        ...lifecycle('s2', 1, { kwargs: "{'user_id': '42'}", args: "('baz',)", outcome: 'fail' }),
        ...lifecycle('s3', 2, { kwargs: "{'user_id': 7, 'nested': {'id': 'x'}}", name: 'mail.send', worker: 'w2@host' }),
        ...lifecycle('s4', 3, { kwargs: '{"user_id": 42}', args: '["100%_done"]', runtime: 3 }),
      ]);
      const ids = async (search: string) => (await s.queryTasks({ search, sort: { field: 'received', dir: 'asc' } })).rows.map((r) => r.uuid);
      expect(await ids('kwargs.user_id:42')).toEqual(['s1', 's2', 's4']);
      expect(await ids('kwargs.user_id:"42"')).toEqual(['s2']);
      expect(await ids('kwargs.nested.id:x')).toEqual(['s3']);
      expect(await ids('kwargs.user_id>10')).toEqual(['s1', 's4']);
      expect(await ids('args:"foo bar"')).toEqual(['s1']);
      expect(await ids('"FOO BAR"')).toEqual(['s1']);
      expect(await ids('result:sent')).toEqual(['s1']);
      expect(await ids('exception:boom')).toEqual(['s2']);
      expect(await ids('traceback:"ValueError: boom"')).toEqual(['s2']);
      expect(await ids('NOT exception:boom')).toEqual(['s1', 's3', 's4']);
      expect(await ids('-state:FAILURE -name:mail.*')).toEqual(['s1', 's4']);
      expect(await ids('name:mail.* OR (kwargs.plan:pro AND state:success)')).toEqual(['s1', 's3']);
      expect(await ids('state:failure,success worker:w2@host')).toEqual(['s3']);
      expect(await ids('runtime>=3')).toEqual(['s4']);
      expect(await ids('uuid:s*')).toEqual(['s1', 's2', 's3', 's4']);
      // LIKE's wildcards are literal in a search.
      expect(await ids('"100%_done"')).toEqual(['s4']);
      expect(await ids('"100%x"')).toEqual([]);
      expect(await ids('received:2026-11-22')).toEqual(['s1', 's2', 's3', 's4']);
      expect(await ids('received>2026-11-22T12:00:01.5Z')).toEqual(['s3', 's4']);
      expect(await ids('received<-1h')).toEqual(['s1', 's2', 's3', 's4']);
    });

    it('answers a search the same whether its page comes from the newest tasks or the indexes', async () => {
      const s = await open({ searchWindow: 8 });
      const events: EventDict[] = [];
      for (let i = 0; i < 40; i++) events.push(...lifecycle(`w${String(i).padStart(2, '0')}`, i, { args: i % 10 === 0 ? "('rare',)" : "('common',)" }));
      await s.writeEvents(events);
      const ids = (p: { rows: readonly { uuid: string }[] }) => p.rows.map((r) => r.uuid);
      // common: the page is found among the 8 newest
      const common = await s.queryTasks({ search: 'common', limit: 3 });
      expect(ids(common)).toEqual(['w39', 'w38', 'w37']);
      expect(common).toMatchObject({ total: 36, totalExact: true });
      const oldest = await s.queryTasks({ search: 'common', limit: 3, sort: { field: 'timestamp', dir: 'asc' } });
      expect(ids(oldest)).toEqual(['w01', 'w02', 'w03']);
      // rare: the window holds one match, the page falls back to the indexes
      const rare = await s.queryTasks({ search: 'rare', limit: 3 });
      expect(ids(rare)).toEqual(['w30', 'w20', 'w10']);
      expect(rare.total).toBe(4);
      expect(ids(await s.queryTasks({ search: 'common', limit: 3, offset: 34 }))).toEqual(['w02', 'w01']);
      expect(await s.queryTasks({ search: 'common', offset: 100 })).toMatchObject({ rows: [], total: 36 });
      const whole = await open({ searchWindow: 1000 });
      await whole.writeEvents(events);
      expect(await whole.queryTasks({ search: 'rare', offset: 10 })).toMatchObject({ rows: [], total: 4, totalExact: true });
      expect(ids(await whole.queryTasks({ search: 'rare', limit: 2, offset: 1 }))).toEqual(['w20', 'w10']);
    });

    it('treats hostile search text as data and reports bad queries with a position', async () => {
      const s = await open();
      const nasty = "x'); DROP TABLE tasks; --";
      await s.writeEvents(lifecycle('h1', 0, { args: `(${JSON.stringify(nasty)},)` }));
      expect((await s.queryTasks({ search: `args:"x'); DROP TABLE tasks; --"` })).rows.map((r) => r.uuid)).toEqual(['h1']);
      expect((await s.queryTasks({ search: "name:proj.add' OR '1'='1" })).total).toBe(0);
      expect((await s.queryTasks({ search: 'kwargs.a\'b:1' })).total).toBe(0);
      expect((await s.queryTasks({})).total).toBe(1);
      const err = await s.queryTasks({ search: 'state:SUCCESS AND (name:x' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QuerySyntaxError);
      expect((err as QuerySyntaxError).position).toBe(18);
      await expect(s.queryTasks({ search: 'colour:red' })).rejects.toThrow(/unknown field "colour"/);
      await expect(s.queryTasks({ search: 'x'.repeat(5000) })).rejects.toThrow(QuerySyntaxError);
      await expect(s.queryTasks({ search: `${'('.repeat(500)}a${')'.repeat(500)}` })).rejects.toThrow(/nested deeper/);
    });

    it('answers a search of numbers and times no column holds, NUL or lone surrogates with rows or a QuerySyntaxError, never a database error', async () => {
      const s = await open();
      await s.writeEvents([
        ...lifecycle('n1', 0, { result: "'nul\u0000byte \ud800 lone'", kwargs: "{'k': 'a\u0000b'}" }),
        ev('task-received', 'n2', 1, { name: 'proj.retry', retries: 1 }),
      ]);
      const ids = async (search: string) => (await s.queryTasks({ search, sort: { field: 'received', dir: 'asc' } })).rows.map((r) => r.uuid);
      // Each was a 500: Postgres refused the parameter (a fraction or 1e20 as a bigint or integer, NUL in text or JSON).
      expect(await ids('received>-1.5ms')).toEqual([]);
      expect(await ids('received<-1.5ms')).toEqual(['n1', 'n2']);
      expect(await ids('retries>=0.5')).toEqual(['n2']);
      expect(await ids('retries>1.5')).toEqual([]);
      expect(await ids('retries<=1.5')).toEqual(['n2']);
      expect(await ids('retries:1.5')).toEqual([]);
      expect(await ids('-retries:1.5')).toEqual(['n1', 'n2']);
      expect(await ids('retries<1e23')).toEqual(['n2']);
      expect(await ids('retries>-1e23')).toEqual(['n2']);
      // NUL and lone surrogates are searched as the store keeps them, U+FFFD.
      expect(await ids('"nul\u0000byte"')).toEqual(['n1']);
      expect(await ids('result:"\udc00 lone"')).toEqual(['n1']);
      expect(await ids('kwargs.k:a\u0000b')).toEqual(['n1']);
      expect(await ids('kwargs.k:"\ud800"')).toEqual([]);
      for (const search of ['received>99999999999999999999', 'received>-9999999999999d', 'timestamp<9999999999999999999']) {
        await expect(s.queryTasks({ search })).rejects.toThrow(/needs a time a date can hold/);
      }
      const term = fc.tuple(
        fc.constantFrom('', 'received', 'timestamp', 'sent', 'runtime', 'retries', 'kwargs.k', 'kwargs.k.j', 'args', 'name', 'state', 'uuid'),
        fc.constantFrom(':', '>', '>=', '<', '<='),
        fc.oneof(
          fc.constantFrom('1.5', '-1.5ms', '-0.25s', '1e20', '-1e20', '99999999999999999999', '-99999999999999999999w', '1e-320', '1e308', '2026-11-22', '-7d', '0', '-0', 'NaN', '9007199254740993'),
          fc.string({ unit: 'binary', maxLength: 6 }),
          fc.string({ unit: fc.constantFrom('\u0000', '\ud800', '\udfff', 'a', '*', '%', '_', '\\', "'", ','), maxLength: 6 }),
        ),
        fc.boolean(),
      ).map(([field, op, value, quoted]) => (field === '' ? JSON.stringify(value) : `${field}${op}${quoted ? JSON.stringify(value) : value}`));
      await fc.assert(
        fc.asyncProperty(fc.array(term, { minLength: 1, maxLength: 3 }), fc.boolean(), async (terms, negate) => {
          const search = `${negate ? 'NOT ' : ''}${terms.join(' ')}`;
          const outcome = await s.queryTasks({ search }).then(() => null, (error: unknown) => error);
          if (outcome !== null && !(outcome instanceof QuerySyntaxError)) throw new Error(`${JSON.stringify(search)}: ${String(outcome)}`);
        }),
        { numRuns: 300 },
      );
    });

    it('caps payloads, flags them, and survives NUL, lone surrogates and malformed events', async () => {
      const s = await open({ payloadCap: 100 });
      const big = `('${'a'.repeat(500)}',)`;
      const summary = await s.writeEvents([
        ev('task-received', 'p1', 0, { name: 'proj.big', args: big, kwargs: `{'k': '${'b'.repeat(200)}'}` }),
        ev('task-succeeded', 'p1', 1, { result: 'nul\u0000byte \ud800 lone', runtime: 1 }),
        ev('task-received', 'p2', 0, { name: 'proj.json', args: [1, { a: 'b' }], kwargs: { user_id: 5 } }),
        { type: 'task-received' } as unknown as EventDict,
        { type: 'task-received', uuid: 'u'.repeat(1000) } as unknown as EventDict,
        { type: 'task-received', uuid: 42 } as unknown as EventDict,
        { type: 'weird' } as unknown as EventDict,
        null as unknown as EventDict,
        { type: 'worker-heartbeat' } as unknown as EventDict,
      ]);
      expect(summary).toEqual({ tasks: 2, workers: 0, ignored: 6 });
      const p1 = (await s.getTask('p1'))?.task;
      expect(p1?.args).toHaveLength(100);
      expect(p1?.truncated).toEqual(['args', 'kwargs']);
      expect(p1?.result).toBe('nul\ufffdbyte \ufffd lone');
      const p2 = (await s.getTask('p2'))?.task;
      expect(p2?.args).toBe('[1,{"a":"b"}]');
      expect((await s.queryTasks({ search: 'kwargs.user_id:5' })).rows.map((r) => r.uuid)).toEqual(['p2']);
      // A later, complete value clears the flag.
      await s.writeEvents([ev('task-started', 'p1', 0.5, { args: '(1,)' })]);
      expect((await s.getTask('p1'))?.task.truncated).toEqual(['kwargs']);
    });

    it('returns children and the whole workflow', async () => {
      const s = await open();
      await s.writeEvents([
        ev('task-received', 'root', 0, { root_id: 'root', name: 'flow.start' }),
        ev('task-received', 'c1', 1, { root_id: 'root', parent_id: 'root' }),
        ev('task-received', 'c2', 2, { root_id: 'root', parent_id: 'root', group_id: 'g1' }),
        ev('task-received', 'gc', 3, { root_id: 'root', parent_id: 'c1' }),
        ev('task-received', 'other', 4, { root_id: 'other' }),
      ]);
      const d = await s.getTask('root');
      expect(d?.children.map((c) => c.uuid)).toEqual(['c1', 'c2']);
      expect(d?.children[1]?.groupId).toBe('g1');
      const wf = await s.getWorkflow('root');
      expect(wf.tasks.map((t) => [t.uuid, t.parentId])).toEqual([['root', null], ['c1', 'root'], ['c2', 'root'], ['gc', 'c1']]);
      expect(wf.truncated).toBe(false);
      const capped = await s.getWorkflow('root', 2);
      expect(capped.tasks).toHaveLength(2);
      expect(capped.truncated).toBe(true);
    });

    it('rebuilds a chord from any member: the header parts share only their group, the body names the last part', async () => {
      const s = await open();
      // Celery's ids for chord([a, b, c], body) sent by a client: each header part is its own
      // root; the worker that ran the last part sent the body as its child.
      await s.writeEvents([
        ev('task-received', 'a', 0, { root_id: 'a', group: 'g' }),
        ev('task-received', 'b', 1, { root_id: 'b', group: 'g' }),
        ev('task-received', 'c', 2, { root_id: 'c', group: 'g' }),
        ev('task-received', 'body', 3, { root_id: 'c', parent_id: 'c' }),
        ev('task-received', 'stranger', 4, { root_id: 'stranger', group: 'g2' }),
      ]);
      for (const from of ['body', 'a', 'c']) {
        const wf = await s.getWorkflow(from);
        expect(wf.tasks.map((t) => t.uuid), from).toEqual(['a', 'b', 'c', 'body']);
        expect(wf.truncated).toBe(false);
      }
      expect((await s.getWorkflow('body')).rootId).toBe('c');
      expect((await s.getWorkflow('nope')).tasks).toEqual([]);
    });

    it('fills in group ids read from results, never over one an event named, and finds the chord whole then', async () => {
      const s = await open();
      // A Python-only chord: no event names the group.
      await s.writeEvents([
        ev('task-received', 'a', 0, { root_id: 'a' }),
        ev('task-received', 'b', 1, { root_id: 'b' }),
        ev('task-received', 'c', 2, { root_id: 'c', group: 'from-event' }),
        ev('task-received', 'body', 3, { root_id: 'c', parent_id: 'c' }),
      ]);
      expect((await s.getWorkflow('body')).tasks.map((t) => t.uuid)).toEqual(['c', 'body']);
      const n = await s.linkGroups([{ uuid: 'a', groupId: 'from-event' }, { uuid: 'b', groupId: 'from-event' }, { uuid: 'c', groupId: 'other' }, { uuid: 'unknown', groupId: 'x' }]);
      expect(n).toBe(2);
      expect((await s.getTask('c'))?.task.groupId).toBe('from-event');
      expect((await s.getWorkflow('body')).tasks.map((t) => t.uuid)).toEqual(['a', 'b', 'c', 'body']);
      expect(await s.linkGroups([])).toBe(0);
    });

    it('rebuilds nested canvases: a chain whose step is a chord inside a group, and says when the limit cut it', async () => {
      const s = await open();
      // chain(first, group(chord([p1, p2], cb), x)), then a child task of cb.
      await s.writeEvents([
        ev('task-received', 'first', 0, { root_id: 'first' }),
        ev('task-received', 'p1', 1, { root_id: 'first', parent_id: 'first', group: 'inner' }),
        ev('task-received', 'p2', 2, { root_id: 'first', parent_id: 'first', group: 'inner' }),
        ev('task-received', 'x', 3, { root_id: 'first', parent_id: 'first', group: 'outer' }),
        ev('task-received', 'cb', 4, { root_id: 'first', parent_id: 'p2', group: 'outer' }),
        ev('task-received', 'grandchild', 5, { root_id: 'gc-own', parent_id: 'cb' }),
      ]);
      const wf = await s.getWorkflow('grandchild');
      expect(wf.tasks.map((t) => t.uuid)).toEqual(['first', 'p1', 'p2', 'x', 'cb', 'grandchild']);
      const capped = await s.getWorkflow('p1', 3);
      expect(capped.tasks).toHaveLength(3);
      expect(capped.truncated).toBe(true);
    });

    it('keeps workers, online and offline, and marks their running tasks lost', async () => {
      const s = await open();
      await s.writeEvents([
        { type: 'worker-online', hostname: 'w1@host', timestamp: T0, freq: 2, sw_ident: 'celeriac', sw_ver: '0.1.0', sw_sys: 'Linux' } as EventDict,
        { type: 'worker-heartbeat', hostname: 'w1@host', timestamp: T0 + 2, active: 1, processed: 5, loadavg: [0.5, 0.25, 0.1] } as EventDict,
        ev('task-received', 'l1', 1), ev('task-started', 'l1', 1.5), ev('task-received', 'l2', 1), ...lifecycle('l3', 0),
        { type: 'worker-offline', hostname: 'w1@host', timestamp: T0 + 10 } as EventDict,
      ]);
      // A late heartbeat from before the goodbye does not bring it back.
      await s.writeEvents([{ type: 'worker-heartbeat', hostname: 'w1@host', timestamp: T0 + 4, active: 0 } as EventDict]);
      const [w] = await s.listWorkers();
      expect(w).toMatchObject({ hostname: 'w1@host', online: false, freq: 2, active: 0, processed: 5, loadavg: [0.5, 0.25, 0.1], swIdent: 'celeriac', offlineAt: (T0 + 10) * 1000 });
      expect(w?.lastHeartbeat).toBe((T0 + 4) * 1000);
      expect(await s.markLost('w1@host', (T0 + 10) * 1000)).toBe(2);
      expect(await s.countByState()).toEqual({ LOST: 2, SUCCESS: 1 });
      // The worker comes back and finishes one: SUCCESS outranks LOST.
      await s.writeEvents([ev('task-succeeded', 'l1', 11, { result: '1' }), { type: 'worker-online', hostname: 'w1@host', timestamp: T0 + 11 } as EventDict]);
      expect((await s.getTask('l1'))?.task.state).toBe('SUCCESS');
      expect((await s.listWorkers())[0]?.online).toBe(true);
    });

    it('backfills from the result backend without overriding what events said', async () => {
      const s = await open({ payloadCap: 50 });
      await s.writeEvents([ev('task-received', 'b1', 0, { name: 'proj.add', args: '(1, 2)' }), ...lifecycle('b2', 0)]);
      const n = await s.backfill([
        { uuid: 'b1', state: 'SUCCESS', result: '3', dateDone: (T0 + 5) * 1000, args: '(9, 9)', name: 'other' },
        { uuid: 'b2', state: 'PENDING', result: null },
        { uuid: 'b3', state: 'FAILURE', result: "KeyError('x')", traceback: 'tb', name: 'proj.fail', dateDone: (T0 + 6) * 1000, kwargs: "{'user_id': 1}" },
        { uuid: 'b4', state: 'SUCCESS', result: 'r'.repeat(80) },
        { uuid: '', state: 'SUCCESS' },
        { uuid: 'b5' } as never,
      ]);
      expect(n).toBe(4);
      expect((await s.getTask('b1'))?.task).toMatchObject({ state: 'SUCCESS', result: '3', args: '(1, 2)', name: 'proj.add', source: 'events', succeeded: (T0 + 5) * 1000 });
      expect((await s.getTask('b2'))?.task.state).toBe('SUCCESS');
      expect((await s.getTask('b3'))?.task).toMatchObject({ state: 'FAILURE', exception: "KeyError('x')", traceback: 'tb', source: 'backend' });
      expect((await s.getTask('b4'))?.task.truncated).toEqual(['result']);
      expect((await s.queryTasks({ search: 'kwargs.user_id:1' })).rows.map((r) => r.uuid)).toEqual(['b3']);
    });

    it('prunes by age, keeps failures longer, and caps the number of tasks', async () => {
      const hour = 3_600_000;
      const s = await open({ maxAgeMs: 10 * hour, failureMaxAgeMs: 100 * hour, maxTasks: 5 });
      const now = (T0 + 1000) * 1000;
      const at = (hoursAgo: number) => (now - hoursAgo * hour) / 1000 - T0;
      await s.writeEvents([
        ...lifecycle('old-ok', at(20)), ...lifecycle('old-fail', at(20), { outcome: 'fail' }),
        ...lifecycle('ancient-fail', at(200), { outcome: 'fail' }),
        ...[1, 2, 3, 4, 5, 6].flatMap((h) => lifecycle(`new${h}`, at(h))),
      ]);
      expect(await s.prune(now)).toBe(4);
      const left = (await s.queryTasks({ sort: { field: 'timestamp', dir: 'asc' } })).rows.map((r) => r.uuid);
      expect(left).toEqual(['new5', 'new4', 'new3', 'new2', 'new1']);
      expect(await s.getTask('old-ok')).toBeNull();
      expect(await s.prune(now)).toBe(0);
    });

    it('keeps its history across a restart', async () => {
      const s = await open();
      await s.writeEvents(lifecycle('keep1', 0, { kwargs: "{'user_id': 3}" }));
      await s.close();
      const again = await stores.reopen();
      expect((await again.getTask('keep1'))?.task.state).toBe('SUCCESS');
      expect((await again.queryTasks({ search: 'kwargs.user_id:3' })).total).toBe(1);
      await expect(s.queryTasks({})).rejects.toThrow(/closed/);
    });
  });
}
