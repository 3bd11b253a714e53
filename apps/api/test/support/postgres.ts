/**
 * A private Postgres database per test file on the shared server (127.0.0.1:5432, trust
 * auth): created with a random name, dropped afterwards. Under CI a missing server fails
 * the tests; locally they are skipped with a message.
 */
import { randomUUID } from 'node:crypto';
import { Socket } from 'node:net';
import pg from 'pg';

/** The server's maintenance database. */
export const POSTGRES_ADMIN_URL = process.env['CELERIAC_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

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
  if (await reachable(POSTGRES_ADMIN_URL)) return true;
  if (process.env['CI'] === 'true') throw new Error(`${what}: Postgres is not reachable at ${POSTGRES_ADMIN_URL} (required under CI)`);
  console.warn(`[skip] ${what}: Postgres is not reachable at ${POSTGRES_ADMIN_URL}`);
  return false;
}

/** A database made for one test file. */
export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  /** Drops it (ending any connection left open). */
  drop(): Promise<void>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Creates `celeriac_app_test_<random>`. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `celeriac_app_test_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
