/**
 * Upgrading a store written by an older dashboard: a schema-v2 database (one timeline row per
 * event in `task_events`) opened by this version keeps every task and every timeline entry,
 * in order and byte for byte, and new events of an old task join its timeline. Runs on the
 * embedded database and on the shared Postgres server, each in a schema of its own.
 */
import type { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventDict } from 'celeriac/monitor';
import { openHistoryStore, type HistoryStore } from '../src/store/index.js';
import { createInMemory } from '../src/store/pglite-template.js';
import { foldEvents } from '../src/store/fold-events.js';
import { migrate, SCHEMA_VERSION } from '../src/store/schema.js';
import { openPgliteDriver, openPostgresDriver, type SqlDriver } from '../src/store/sql-driver.js';
import { toSqlJson } from '../src/store/sql-json.js';
import { taskUpsertSql } from '../src/store/write-sql.js';
import { dropSchema, POSTGRES_URL, shouldRunPostgresTests, testSchemaName } from './support/postgres.js';

const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);

/** Timeline rows as a v2 store wrote them: one per event, `fields` the JSON text of the event's own fields. */
const V2_TIMELINE: [string, string, number, string | null, Record<string, unknown>][] = [
  ['a', 'task-received', T0, 'w1@host', { name: 'proj.add', args: '(1, 2)', kwargs: "{'user_id': 7}", retries: 0, eta: null }],
  ['a', 'task-started', T0 + 10, 'w1@host', {}],
  ['a', 'task-succeeded', T0 + 250, 'w1@host', { result: '3', runtime: 0.24 }],
  ['b', 'task-received', T0 + 5, null, { name: 'proj.odd', args: "('quote \" backslash \\\\ é 😀 nul \u0000',)", kwargs: '{}' }],
  ['b', 'task-failed', T0 + 6, 'w2@host', { exception: "ValueError('x')", traceback: 'Traceback (most recent call last):\n  ValueError: x' }],
];

/** Writes a v2 store's rows: tasks by the upsert of that version (unchanged), the timeline row by row. */
async function writeV2(db: SqlDriver): Promise<void> {
  await migrate(db, 2);
  const events = V2_TIMELINE.map(([uuid, type, ts, hostname, fields]) => ({ type, uuid, timestamp: ts / 1000, ...(hostname === null ? {} : { hostname }), ...fields }) as EventDict);
  await db.query(taskUpsertSql('incoming', 'events'), [toSqlJson(foldEvents(events, { payloadCap: 16_384, timelineCap: 1024, now: T0 }).tasks)]);
  for (const [uuid, type, ts, hostname, fields] of V2_TIMELINE) {
    await db.query('INSERT INTO task_events (uuid, type, ts, hostname, fields) VALUES ($1, $2, $3, $4, $5)', [uuid, type, ts, hostname, JSON.stringify(fields)]);
  }
}

async function checkUpgraded(store: HistoryStore, db: SqlDriver): Promise<void> {
  const versions = await db.query<{ v: number }>('SELECT max(version) AS v FROM dashboard_schema');
  expect(versions[0]?.v).toBe(SCHEMA_VERSION);
  const tables = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'task_events' AND table_schema = current_schema()`);
  expect(tables[0]?.n).toBe(0);
  for (const uuid of ['a', 'b']) {
    const detail = await store.getTask(uuid);
    const expected = V2_TIMELINE.filter((r) => r[0] === uuid).map(([, type, ts, hostname, fields]) => ({ type, timestamp: ts, hostname, fields }));
    expect(detail?.events).toEqual(expected);
  }
  expect((await store.getTask('a'))?.task).toMatchObject({ state: 'SUCCESS', name: 'proj.add', result: '3' });
  // Free text of the stored tasks is found through word blocks made from their search text (v5).
  expect(await db.query(`SELECT uuids FROM task_words`)).toEqual([{ uuids: ['a', 'b'] }]);
  expect(await db.query(`SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexname IN ('tasks_search', 'task_words_trgm')`)).toEqual([{ indexname: 'task_words_trgm' }]);
  expect((await store.queryTasks({ search: 'backslash' })).rows.map((r) => r.uuid)).toEqual(['b']);
  // Large values written after the upgrade are compressed with lz4 where the server has it.
  const lz4 = (await db.query<{ ok: boolean }>(`SELECT 'lz4' = ANY(enumvals) AS ok FROM pg_settings WHERE name = 'default_toast_compression'`))[0]?.ok === true;
  const words = Array.from({ length: 400 }, (_, i) => `word${i * 7919}`).join(' ');
  await store.writeEvents([{ type: 'task-received', uuid: 'big', timestamp: T0 / 1000, hostname: 'w1@host', name: 'proj.big', args: `('${words}',)`, kwargs: '{}' } as EventDict]);
  const stored = await db.query<{ c: string | null }>(`SELECT pg_column_compression(texts) AS c FROM task_words WHERE 'big' = ANY(uuids)`);
  expect(stored).toEqual([{ c: lz4 ? 'lz4' : 'pglz' }]);
  expect((await store.queryTasks({ search: 'word7919' })).rows.map((r) => r.uuid)).toEqual(['big']);
  // A late event of an upgraded task joins its timeline, in time order.
  await store.writeEvents([{ type: 'task-retried', uuid: 'a', timestamp: (T0 + 100) / 1000, hostname: 'w1@host', exception: 'Retry()' } as EventDict]);
  expect((await store.getTask('a'))?.events.map((e) => e.type)).toEqual(['task-received', 'task-started', 'task-retried', 'task-succeeded']);
  // Retention removes an upgraded task's timeline with it.
  expect(await store.prune(T0 + 8 * 86_400_000)).toBe(2);
  expect(await db.query(`SELECT uuid FROM task_timeline`)).toEqual([{ uuid: 'b' }]);
}

describe('schema upgrade from version 2 (PGlite)', () => {
  let pg: PGlite;
  beforeAll(async () => {
    pg = await createInMemory({ extensions: { pg_trgm } });
  }, 180_000);
  afterAll(async () => {
    await pg?.close();
  });

  it('keeps every task and timeline entry of a v2 store', async () => {
    const schema = 'dash_upgrade';
    const db = await openPgliteDriver(undefined, schema, pg);
    await writeV2(db);
    const store = await openHistoryStore({ pglite: pg, schema });
    try {
      await checkUpgraded(store, db);
    } finally {
      await store.close();
    }
  });
});

describe('schema upgrade to version 6: state ranks of the state model (PGlite)', () => {
  it('re-ranks stored states, so a late PROGRESS no longer undoes a stored REVOKED and a lost mark reaches PROGRESS', async () => {
    const pg = await createInMemory({ extensions: { pg_trgm } });
    try {
      const schema = 'dash_ranks';
      const db = await openPgliteDriver(undefined, schema, pg);
      await migrate(db, 5);
      // Ranks as version 5 wrote them: Celery's precedence, custom states at 2, REVOKED at 3.
      for (const [uuid, state, rank] of [['r', 'REVOKED', 3], ['p', 'PROGRESS', 2], ['s', 'STARTED', 4], ['ok', 'SUCCESS', 0]] as const) {
        await db.query(`INSERT INTO tasks (uuid, state, state_rank, state_ts, last_seen, worker) VALUES ($1, $2, $3, $4, $4, 'w1@host')`, [uuid, state, rank, T0]);
      }
      const store = await openHistoryStore({ pglite: pg, schema });
      try {
        expect(await db.query(`SELECT uuid, state_rank FROM tasks ORDER BY uuid`)).toEqual([
          { uuid: 'ok', state_rank: 0 }, { uuid: 'p', state_rank: 4 }, { uuid: 'r', state_rank: 2 }, { uuid: 's', state_rank: 5 },
        ]);
        await store.writeEvents([{ type: 'task-progress', uuid: 'r', timestamp: (T0 + 10) / 1000, hostname: 'w1@host' } as EventDict]);
        expect((await store.getTask('r'))?.task.state).toBe('REVOKED');
        expect(await store.markLost('w1@host', T0 + 20)).toBe(2);
        expect(await store.countByState()).toEqual({ LOST: 2, REVOKED: 1, SUCCESS: 1 });
      } finally {
        await store.close();
      }
    } finally {
      await pg.close();
    }
  }, 180_000);
});

const ready = await shouldRunPostgresTests('dashboard schema upgrade on Postgres');

describe.runIf(ready)('schema upgrade from version 2 (Postgres)', () => {
  it('keeps every task and timeline entry of a v2 store', async () => {
    const schema = testSchemaName();
    const db = await openPostgresDriver(POSTGRES_URL, schema, 1);
    try {
      await writeV2(db);
      const store = await openHistoryStore({ databaseUrl: POSTGRES_URL, schema });
      try {
        await checkUpgraded(store, db);
      } finally {
        await store.close();
      }
    } finally {
      await db.close();
      await dropSchema(schema);
    }
  });
});

describe.runIf(ready)('lz4 for the large columns (Postgres)', () => {
  it('opens without waiting long for a table another session holds, and sets lz4 at the next open', async () => {
    const schema = testSchemaName();
    const db = await openPostgresDriver(POSTGRES_URL, schema, 1);
    const other = new pg.Client({ connectionString: POSTGRES_URL });
    await other.connect();
    const compression = async () => (await db.query<{ c: string }>(`SELECT attcompression::text AS c FROM pg_attribute WHERE attrelid = to_regclass('tasks') AND attname = 'args'`))[0]?.c;
    try {
      await (await openHistoryStore({ databaseUrl: POSTGRES_URL, schema })).close();
      expect(await compression()).toBe('l');
      await db.query('ALTER TABLE tasks ALTER COLUMN args SET COMPRESSION pglz');
      expect(await compression()).toBe('p');
      // A long read in another session: the ALTER would wait for it, and every query behind it.
      await other.query('BEGIN');
      await other.query(`LOCK TABLE "${schema}".tasks IN ACCESS SHARE MODE`);
      const t0 = performance.now();
      const store = await openHistoryStore({ databaseUrl: POSTGRES_URL, schema });
      const took = performance.now() - t0;
      try {
        await store.writeEvents([{ type: 'task-received', uuid: 'x', timestamp: T0 / 1000, hostname: 'w1@host', name: 'proj.x', args: '(1,)' } as EventDict]);
        expect((await store.getTask('x'))?.task).toMatchObject({ name: 'proj.x', args: '(1,)' });
      } finally {
        await store.close();
      }
      expect(took).toBeLessThan(10_000);
      expect(await compression()).toBe('p');
      await other.query('COMMIT');
      await (await openHistoryStore({ databaseUrl: POSTGRES_URL, schema })).close();
      expect(await compression()).toBe('l');
    } finally {
      await other.query('ROLLBACK').catch(() => {});
      await other.end();
      await db.close();
      await dropSchema(schema);
    }
  }, 60_000);
});
