/**
 * A private Postgres database per test file on the shared server (127.0.0.1:5432, trust
 * auth): created with a random name, dropped afterwards. Under CI a missing server fails
 * the tests; locally they are skipped with a message.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { POSTGRES_URL, shouldRunPostgresTests } from '../../../../packages/dashboard/test/support/postgres.js';

export { shouldRunPostgresTests };

/** The server's maintenance database. */
export const POSTGRES_ADMIN_URL = POSTGRES_URL;

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
