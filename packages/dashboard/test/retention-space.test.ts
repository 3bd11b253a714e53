/**
 * A history at its cap stays the same size on disk: retention deletes the oldest tasks each
 * round, and the store makes their space reusable (VACUUM), since PGlite has no autovacuum
 * and a Postgres server may run without it. Without that, every deleted task's row, index
 * entries, timeline and word block stayed on disk, and the embedded store grew without end.
 * Runs on the embedded database and on the shared Postgres server.
 */
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { EventDict } from 'celeriac/monitor';
import { openHistoryStore, type HistoryStore } from '../src/store/index.js';
import { createInMemory } from '../src/store/pglite-template.js';
import { vacuumDue } from '../src/store/store-policy.js';
import { dropSchema, POSTGRES_URL, shouldRunPostgresTests, testSchemaName } from './support/postgres.js';

const T0 = Date.UTC(2026, 10, 24, 12, 0, 0);
const KEPT = 200;
const ROUNDS = 24;

/** Bytes on disk of the store's tables with their indexes and TOAST. */
const SIZE_SQL = (schema: string) =>
  `SELECT sum(pg_total_relation_size(c.oid))::float8 AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = '${schema}' AND c.relkind = 'r'`;

/** Fills the store to its cap, replaces every task `ROUNDS` times, closes it, and checks it kept its size. */
async function expectBoundedChurn(store: HistoryStore, size: () => Promise<number>): Promise<void> {
  const { early, late, kept } = await churn(store, size);
  await store.close();
  expect(kept).toBe(KEPT);
  // Without the VACUUM, the last size was about 4 times the early one (every deleted row kept).
  expect(late).toBeLessThan(early * 1.5);
}

/** Fills the store to its cap, then replaces every task `ROUNDS` times; the sizes after round 4 and the last. */
async function churn(store: HistoryStore, size: () => Promise<number>): Promise<{ early: number; late: number; kept: number }> {
  let early = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const events: EventDict[] = [];
    for (let i = 0; i < KEPT; i++) {
      const n = round * KEPT + i;
      const at = (T0 + n) / 1000;
      events.push(
        { type: 'task-received', uuid: `r${n}`, timestamp: at, hostname: 'w1@host', name: 'proj.order', args: `('order-${n}', '${'x'.repeat(300)}')`, kwargs: `{'user_id': ${n}}` } as EventDict,
        { type: 'task-succeeded', uuid: `r${n}`, timestamp: at + 0.5, hostname: 'w1@host', result: `'done-${n}'`, runtime: 0.5 } as EventDict,
      );
    }
    await store.writeEvents(events);
    await store.prune(T0 + ROUNDS * KEPT + 60_000);
    if (round === 3) early = await size();
  }
  return { early, late: await size(), kept: (await store.queryTasks({ limit: 1 })).total ?? -1 };
}

const ready = await shouldRunPostgresTests('dashboard retention space on Postgres');

describe('retention keeps the history\'s size on disk', () => {
  it('vacuumDue follows autovacuum\'s rule: 50 rows and 20% of those left', () => {
    expect(vacuumDue(0, 0)).toBe(false);
    expect(vacuumDue(49, 0)).toBe(false);
    expect(vacuumDue(50, 0)).toBe(true);
    expect(vacuumDue(250, 1000)).toBe(true);
    expect(vacuumDue(249, 1000)).toBe(false);
    // A never-analysed table reports -1 rows.
    expect(vacuumDue(50, -1)).toBe(true);
  });

  it('on the embedded database', async () => {
    const db = await createInMemory({ extensions: { pg_trgm } });
    try {
      const store = await openHistoryStore({ pglite: db, schema: 'churn', maxTasks: KEPT });
      await expectBoundedChurn(store, async () => (await db.query<{ n: number }>(SIZE_SQL('churn'))).rows[0]?.n ?? 0);
    } finally {
      await db.close();
    }
  }, 120_000);

  describe.runIf(ready)('on Postgres', () => {
    const schema = testSchemaName();
    afterAll(() => dropSchema(schema));

    it('the same on a server without autovacuum for the tables', async () => {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      try {
        const store = await openHistoryStore({ databaseUrl: POSTGRES_URL, schema, maxTasks: KEPT });
        // Whatever the server's setting, autovacuum stays away from these tables: only the store's VACUUM counts.
        for (const t of ['tasks', 'task_timeline', 'task_words', 'workers']) await client.query(`ALTER TABLE ${schema}.${t} SET (autovacuum_enabled = false)`);
        await expectBoundedChurn(store, async () => (await client.query<{ n: number }>(SIZE_SQL(schema))).rows[0]?.n ?? 0);
      } finally {
        await client.end();
      }
    }, 120_000);
  });
});
