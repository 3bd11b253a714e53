/**
 * The word blocks that index free text (store/word-blocks), on the embedded database and on the
 * shared Postgres server, each in a schema of its own: what a write adds, that rare terms are
 * found through them (across writes, under NOT, for hostile uuids), that terms of common words
 * are scanned instead, that retention deletes a block only once all its tasks are gone, that a
 * write whose blocks fail leaves nothing behind, and that a database without pg_trgm still
 * searches, by scanning.
 */
import type { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventDict } from 'celeriac/monitor';
import { openHistoryStore, resolveHistoryStoreOptions, type HistoryStore, type HistoryStoreOptions } from '../src/store/index.js';
import { createInMemory } from '../src/store/pglite-template.js';
import { SqlParams } from '../src/query/index.js';
import { hasWordBlocks, migrate } from '../src/store/schema.js';
import { openPgliteDriver, openPostgresDriver, type SqlDriver } from '../src/store/sql-driver.js';
import { historyStoreOn, type BlockSweep } from '../src/store/sql-history-store.js';
import { blockCandidatesSql, BLOCKS_OF_WORD_SQL, RARE_BLOCKS } from '../src/store/word-blocks.js';
import { dropSchema, POSTGRES_URL, shouldRunPostgresTests, testSchemaName } from './support/postgres.js';

const T0 = Date.UTC(2026, 10, 23, 12, 0, 0) / 1000;
const HOUR = 3_600_000;

const received = (uuid: string, at: number, fields: Record<string, unknown>): EventDict =>
  ({ type: 'task-received', uuid, timestamp: T0 + at, hostname: 'w1@host', name: 'proj.order', ...fields }) as EventDict;
const succeeded = (uuid: string, at: number, result: string): EventDict =>
  ({ type: 'task-succeeded', uuid, timestamp: T0 + at, hostname: 'w1@host', result, runtime: 0.1 }) as EventDict;

/** A store over a driver that records every statement it is asked to run outside a transaction. */
interface Opened {
  store: HistoryStore;
  db: SqlDriver;
  seen: string[];
}

interface Backend {
  /** A migrated schema of its own and a store on it, recording statements. */
  open(options?: HistoryStoreOptions, sweep?: BlockSweep): Promise<Opened>;
}

async function recording(db: SqlDriver, options: HistoryStoreOptions = {}, sweep?: BlockSweep): Promise<Opened> {
  await migrate(db);
  const seen: string[] = [];
  const spy: SqlDriver = {
    kind: db.kind,
    exec: (sql) => db.exec(sql),
    transaction: (fn) => db.transaction(fn),
    close: () => db.close(),
    query: (sql, params) => {
      seen.push(sql);
      return db.query(sql, params);
    },
  };
  return { store: historyStoreOn(spy, resolveHistoryStoreOptions(options), await hasWordBlocks(db), sweep), db, seen };
}

const uuids = (page: { rows: readonly { uuid: string }[] }) => page.rows.map((r) => r.uuid);

function wordBlockCases(name: string, backend: () => Backend): void {
  describe(`word blocks: ${name}`, () => {
    it('index each write\'s words, and find rare terms through them across writes, under NOT and for hostile uuids', async () => {
      const { store, db, seen } = await backend().open();
      const indexes = (await db.query<{ name: string }>(`SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema() AND (indexname LIKE '%_trgm' OR indexname = 'tasks_search')`)).map((r) => r.name);
      expect(indexes).toEqual(['task_words_trgm']);
      const n = 150;
      await store.writeEvents(Array.from({ length: n }, (_, i) => received(`t${i}`, i, { args: `('order-${i}',)`, kwargs: `{'email': 'user${i}@example.com'}` })));
      // 150 tasks: three blocks of that write.
      expect((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM task_words'))[0]?.n).toBe(3);
      // Results arrive in a later write: blocks of their own.
      await store.writeEvents(Array.from({ length: n }, (_, i) => succeeded(`t${i}`, i + 1, `'done-${i}'`)));
      expect((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM task_words'))[0]?.n).toBe(6);
      // A uuid Postgres cannot hold as sent (NUL, a lone surrogate) is the same in its blocks as in its row.
      const hostile = 'nul\u0000and\ud800id';
      await store.writeEvents([received(hostile, n, { args: "('zebrafish',)" })]);

      // A found block's tasks are told apart by their own words: a rare word brings its tasks, not the block's 64.
      const candidates = async (...words: string[]) => {
        const found = [];
        for (const word of words) found.push({ word, blocks: (await db.query<{ id: number }>(BLOCKS_OF_WORD_SQL, [`%${word}%`])).map((r) => r.id) });
        const params = new SqlParams();
        return (await db.query<{ uuid: string }>(`${blockCandidatesSql(found, params)} ORDER BY 1`, params.values)).map((r) => r.uuid);
      };
      expect(await candidates('user77')).toEqual(['t77']);
      expect(await candidates('done', '77')).toEqual(['t77']);
      expect((await candidates('order')).length).toBe(n + 1); // the name proj.order, and the hostile task's
      seen.length = 0;
      expect(uuids(await store.queryTasks({ search: '"user77@example"' }))).toEqual(['t77']);
      expect(seen.some((sql) => sql.includes('FROM task_words WHERE words LIKE'))).toBe(true);
      expect(uuids(await store.queryTasks({ search: 'result:"done-77\'" args:"order-77\'"' }))).toEqual(['t77']);
      expect(uuids(await store.queryTasks({ search: 'USER12@EXAMPLE OR "done-140"' }))).toEqual(['t140', 't12']);
      expect((await store.queryTasks({ search: '-"user77@example"', limit: 1 })).total).toBe(n);
      expect((await store.queryTasks({ search: 'zebrafish' })).rows.map((r) => r.uuid)).toEqual(['nul\ufffdand\ufffdid']);
      expect((await store.queryTasks({ search: 'absentword' })).total).toBe(0);
    });

    it('scan for a term whose words are each in more blocks than a lookup is worth', async () => {
      const { store, seen } = await backend().open({ searchWindow: 50 });
      // One write per task: every one is a block, and `common` is in all of them.
      for (let i = 0; i <= RARE_BLOCKS; i++) await store.writeEvents([received(`c${i}`, i, { args: `('common', 'rare${i}')` })]);
      seen.length = 0;
      const page = await store.queryTasks({ search: 'common', limit: 5, offset: 100 });
      expect(uuids(page)).toEqual(['c412', 'c411', 'c410', 'c409', 'c408']);
      expect(page.total).toBe(RARE_BLOCKS + 1);
      expect(seen.filter((sql) => sql.includes('unnest(b.uuids, b.texts)'))).toEqual([]);
      // The rare word of a mixed term is looked up, the common one is not.
      seen.length = 0;
      expect(uuids(await store.queryTasks({ search: '"common\', \'rare300\'"' }))).toEqual(['c300']);
      expect(seen.some((sql) => sql.includes('unnest(b.uuids, b.texts)'))).toBe(true);
    }, 120_000);

    it('delete a block at retention only once none of its tasks is left', async () => {
      const { store, db } = await backend().open({ maxAgeMs: 10 * HOUR, failureMaxAgeMs: 10 * HOUR });
      const now = (T0 + 100 * 3600) * 1000;
      const at = (hoursAgo: number) => (now - hoursAgo * HOUR) / 1000 - T0;
      await store.writeEvents([received('old1', at(20), { args: "('alpha',)" }), received('old2', at(20), { args: "('beta',)" })]);
      await store.writeEvents([received('old3', at(20), { args: "('gamma',)" }), received('new1', at(1), { args: "('delta',)" })]);
      const blocks = async () => (await db.query<{ uuids: string[] }>('SELECT uuids FROM task_words ORDER BY id')).map((r) => r.uuids);
      expect(await blocks()).toEqual([['old1', 'old2'], ['new1', 'old3']]);
      expect(await store.prune(now)).toBe(3);
      expect(await blocks()).toEqual([['new1', 'old3']]);
      expect(uuids(await store.queryTasks({ search: 'delta' }))).toEqual(['new1']);
      expect((await store.queryTasks({ search: 'gamma' })).total).toBe(0);
      await store.writeEvents([received('new1', at(0.5), { args: "('epsilon',)" })]);
      expect(await store.prune(now + 2 * HOUR)).toBe(0);
      expect(await blocks()).toEqual([['new1', 'old3'], ['new1']]);
      expect(await store.prune(now + 20 * HOUR)).toBe(1);
      expect(await blocks()).toEqual([]);
    });

    it('sweep a large history over several prunes, each going on where the last stopped', async () => {
      // Two blocks examined per prune, one per statement.
      const { store, db } = await backend().open({ maxAgeMs: 10 * HOUR, failureMaxAgeMs: 10 * HOUR }, { batch: 1, max: 2 });
      const now = (T0 + 100 * 3600) * 1000;
      const at = (hoursAgo: number) => (now - hoursAgo * HOUR) / 1000 - T0;
      for (let i = 0; i < 5; i++) await store.writeEvents([received(`old${i}`, at(20), { args: `('w${i}',)` })]);
      await store.writeEvents([received('new', at(1), { args: "('kept',)" })]);
      const left = async () => (await db.query<{ uuids: string[] }>('SELECT uuids FROM task_words ORDER BY id')).map((r) => r.uuids[0]);
      expect(await store.prune(now)).toBe(5);
      expect(await left()).toEqual(['old2', 'old3', 'old4', 'new']);
      // Nothing more to delete among the tasks, but the sweep is not done: it goes on.
      expect(await store.prune(now)).toBe(0);
      expect(await left()).toEqual(['old4', 'new']);
      expect(await store.prune(now)).toBe(0);
      expect(await left()).toEqual(['new']);
      // At the end it starts over, and stops once a prune deletes nothing and no sweep is under way.
      expect(await store.prune(now)).toBe(0);
      expect(await left()).toEqual(['new']);
      expect(uuids(await store.queryTasks({ search: 'kept' }))).toEqual(['new']);
    });

    it('leave nothing of a write whose blocks are refused, and write it whole on the next try', async () => {
      const { store, db } = await backend().open();
      await db.exec(`
        CREATE FUNCTION refuse_words() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$;
        CREATE TRIGGER refuse BEFORE INSERT ON task_words FOR EACH ROW EXECUTE FUNCTION refuse_words();`);
      const batch = [received('r1', 0, { args: "('refused',)" }), received('r2', 1, { args: "('refused too',)" })];
      await expect(store.writeEvents(batch)).rejects.toThrow(/disk full/);
      expect((await store.queryTasks({})).total).toBe(0);
      await expect(store.backfill([{ uuid: 'b1', state: 'SUCCESS', name: 'proj.x', result: 'backfilled' }])).rejects.toThrow(/disk full/);
      expect((await store.queryTasks({})).total).toBe(0);
      await db.exec('DROP TRIGGER refuse ON task_words');
      await store.writeEvents(batch);
      await store.backfill([{ uuid: 'b1', state: 'SUCCESS', name: 'proj.x', result: 'backfilled' }]);
      expect(uuids(await store.queryTasks({ search: 'refused', sort: { field: 'received', dir: 'asc' } }))).toEqual(['r1', 'r2']);
      expect(uuids(await store.queryTasks({ search: 'backfilled' }))).toEqual(['b1']);
    });
  });
}

let shared: PGlite;
const schemas: string[] = [];

beforeAll(async () => {
  shared = await createInMemory({ extensions: { pg_trgm } });
}, 180_000);

afterAll(async () => {
  for (const s of schemas) await shared.exec(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await shared?.close();
});

wordBlockCases('pglite', () => ({
  async open(options, sweep) {
    const schema = testSchemaName();
    schemas.push(schema);
    return recording(await openPgliteDriver(undefined, schema, shared), options, sweep);
  },
}));

const ready = await shouldRunPostgresTests('dashboard word blocks on Postgres');
describe.runIf(ready)('Postgres', () => {
  const opened: Opened[] = [];
  const pgSchemas: string[] = [];
  afterAll(async () => {
    for (const o of opened) await o.store.close();
    for (const s of pgSchemas) await dropSchema(s);
  });
  wordBlockCases('postgres', () => ({
    async open(options, sweep) {
      const schema = testSchemaName();
      pgSchemas.push(schema);
      const o = await recording(await openPostgresDriver(POSTGRES_URL, schema), options, sweep);
      opened.push(o);
      return o;
    },
  }));
});

describe('word blocks without pg_trgm', () => {
  it('writes no blocks and still finds a term, by scanning', async () => {
    const bare = await createInMemory({});
    try {
      const store = await openHistoryStore({ pglite: bare, schema: 'no_trgm' });
      await store.writeEvents([received('s1', 0, { args: "('needle',)" }), received('s2', 1, { args: "('hay',)" })]);
      expect(uuids(await store.queryTasks({ search: 'needle' }))).toEqual(['s1']);
      expect(await bare.query('SELECT 1 FROM no_trgm.task_words')).toMatchObject({ rows: [] });
      await store.close();
    } finally {
      await bare.close();
    }
  }, 60_000);
});
