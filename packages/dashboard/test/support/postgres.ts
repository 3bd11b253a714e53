/**
 * Postgres for tests: the shared server (127.0.0.1:5432, trust auth). The dashboard's store
 * tests use one schema per run with a random name, dropped afterwards; apps/api's support file
 * reuses the reachability check for its databases. Under CI a missing server fails the
 * tests; locally they are skipped with a message.
 */
import { randomUUID } from 'node:crypto';
import { Socket } from 'node:net';
import pg from 'pg';

export const POSTGRES_URL = process.env['CELERIAC_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function reachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(500, () => done(false));
    s.once('error', () => done(false));
    s.connect(Number(port || 5432), hostname, () => done(true));
  });
}

/** Whether to run Postgres tests; throws under CI when the server is down. */
export async function shouldRunPostgresTests(what: string): Promise<boolean> {
  if (await reachable(POSTGRES_URL)) return true;
  if (process.env['CI'] === 'true') throw new Error(`${what}: Postgres is not reachable at ${POSTGRES_URL} (required under CI)`);
  console.warn(`[skip] ${what}: Postgres is not reachable at ${POSTGRES_URL}`);
  return false;
}

/** A fresh schema name for one test. */
export function testSchemaName(): string {
  return `dash_test_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
}

/** Drops a test schema and everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  if (!/^dash_test_[0-9a-f]{16}$/.test(schema)) throw new Error(`refusing to drop ${schema}`);
  const c = new pg.Client({ connectionString: POSTGRES_URL });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await c.end();
  }
}
