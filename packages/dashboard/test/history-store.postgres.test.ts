/** The HistoryStore suite on Postgres: one schema per test, dropped afterwards. */
import { createServer, type AddressInfo } from 'node:net';
import { CeleriacError, ErrorCodes } from 'celeriac';
import pg from 'pg';
import { describe, expect, it, vi } from 'vitest';
import type { EventDict } from 'celeriac/monitor';
import { openHistoryStore } from '../src/store/index.js';
import { historyStorePagesSuite } from './history-store-pages-suite.js';
import { historyStoreSuite, type StoreHarness } from './history-store-suite.js';
import { dropSchema, POSTGRES_URL, shouldRunPostgresTests, testSchemaName } from './support/postgres.js';

const ready = await shouldRunPostgresTests('dashboard HistoryStore on Postgres');

function harness(): StoreHarness {
  const schema = testSchemaName();
  return {
    open: (options) => openHistoryStore({ ...options, databaseUrl: POSTGRES_URL, schema }),
    reopen: (options) => openHistoryStore({ ...options, databaseUrl: POSTGRES_URL, schema }),
    cleanup: () => dropSchema(schema),
  };
}

describe('Postgres that cannot be used', () => {
  it('fails to open with one line naming the database, its password hidden: TRANSPORT when unreachable, CONFIG when refused', async () => {
    // pg's own error, with its stack, was all the CLI printed ("connect ECONNREFUSED").
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = server.address() as AddressInfo;
        server.close(() => resolve(free));
      });
    });
    const refused = await openHistoryStore({ databaseUrl: `postgres://u:secret@127.0.0.1:${port}/x`, schema: testSchemaName() }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CeleriacError);
    expect(refused).toMatchObject({ code: ErrorCodes.TRANSPORT, message: `the history database postgres://u:****@127.0.0.1:${port}/x could not be opened: connect ECONNREFUSED 127.0.0.1:${port}` });
    if (!ready) return;
    const missing = new URL(POSTGRES_URL);
    missing.pathname = '/celeriac_no_such_database';
    const config = await openHistoryStore({ databaseUrl: missing.href, schema: testSchemaName() }).catch((e: unknown) => e);
    expect(config).toMatchObject({ code: ErrorCodes.CONFIG, message: expect.stringMatching(/could not be opened: database "celeriac_no_such_database" does not exist$/) });
  });
});

describe.runIf(ready)('Postgres', () => {
  historyStoreSuite('postgres', harness);
  historyStorePagesSuite('postgres', harness);

  it('writes on while its ANALYZE waits, and close waits for that ANALYZE', async () => {
    const schema = testSchemaName();
    const store = await openHistoryStore({ databaseUrl: POSTGRES_URL, schema });
    const locker = new pg.Client({ connectionString: POSTGRES_URL });
    await locker.connect();
    try {
      // Holds off ANALYZE (it takes this lock too) but not inserts.
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE ${schema}.tasks IN SHARE UPDATE EXCLUSIVE MODE`);
      const received = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ type: 'task-received', uuid: `a${from + i}`, name: 'proj.add', hostname: 'w@h', timestamp: 1_795_000_000 + i / 1000 }) as EventDict);
      // 50,000 task rows make ANALYZE due; the writes do not wait for it.
      await store.writeEvents(received(0, 50_000));
      await store.writeEvents(received(50_000, 10));
      await vi.waitFor(async () => {
        const waiting = await locker.query(`SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.relation = '${schema}.tasks'::regclass AND NOT l.granted AND a.query = 'ANALYZE tasks'`);
        expect(waiting.rowCount).toBe(1);
      }, { timeout: 10_000, interval: 50 });
      let closed = false;
      const closing = store.close().then(() => (closed = true));
      await new Promise((resolve) => setImmediate(resolve));
      expect(closed).toBe(false);
      await locker.query('COMMIT');
      await closing;
      const counted = await locker.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.tasks`);
      expect(counted.rows[0]?.n).toBe(50_010);
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
      await store.close();
      await dropSchema(schema);
    }
  }, 60_000);
});
