/**
 * @module db/database
 * One small interface over the two databases the app runs on: Postgres (by `DATABASE_URL`,
 * through `pg`) and the embedded PGlite (Postgres compiled to WebAssembly, persisted to a
 * directory). Both speak the same SQL with `$1` parameters, so every query and every test
 * runs unchanged on either.
 */
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { pgTransaction, seedPgliteDataDir } from '@celeriac/dashboard';
import pg from 'pg';

/** Result rows of one statement. */
export interface QueryResult<R> {
  readonly rows: R[];
  /** Rows inserted, updated or deleted (0 for a SELECT on PGlite). */
  readonly rowCount: number;
}

/** Something that runs statements: the database, or one transaction of it. */
export interface Queryable {
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
}

/** The application's database. */
export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `fn` in a transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Closes connections; the embedded database flushes to its directory. */
  close(): Promise<void>;
}

/** Options of {@link openDatabase}. */
export interface DatabaseOptions {
  /** Postgres URL; null opens the embedded database. */
  url: string | null;
  /** Directory of the embedded database (created when missing). */
  dataDir: string;
  /** Most pooled Postgres connections. @default 10 */
  poolSize?: number;
}

/** Opens Postgres when a URL is given, else the embedded PGlite database in `dataDir`. */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.url === null ? openPglite(options.dataDir) : openPostgres(options.url, options.poolSize ?? 10);
}

async function openPostgres(url: string, max: number): Promise<Database> {
  // A connection problem should fail a health check or a request quickly, not hang it.
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30_000 });
  // An idle client that loses its server emits here; the pool replaces it on next use.
  pool.on('error', () => undefined);
  const run = async <R>(client: pg.Pool | pg.PoolClient, text: string, params?: readonly unknown[]): Promise<QueryResult<R>> => {
    const result = await client.query(text, params as unknown[] | undefined);
    return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
  };
  return {
    kind: 'postgres',
    query: (text, params) => run(pool, text, params),
    transaction: (fn) => pgTransaction(pool, (client) => fn({ query: (text, params) => run(client, text, params) })),
    close: () => pool.end(),
  };
}

async function openPglite(dataDir: string): Promise<Database> {
  mkdirSync(dataDir, { recursive: true });
  // A new directory starts as a copy of a cached fresh database (the dashboard's template
  // cache) instead of running initdb in WebAssembly: about 6 CPU-seconds less per new
  // directory. An existing database is opened as it is.
  await seedPgliteDataDir(dataDir, {});
  const db = await PGlite.create(dataDir);
  const wrap = <R>(result: { rows: unknown[]; affectedRows?: number }): QueryResult<R> => ({ rows: result.rows as R[], rowCount: result.affectedRows ?? 0 });
  return {
    kind: 'pglite',
    query: async (text, params) => wrap(await db.query(text, params as unknown[] | undefined)),
    // PGlite runs one statement at a time; its transaction() holds the connection for `fn`.
    transaction: (fn) => db.transaction((tx) => fn({ query: async (text, params) => wrap(await tx.query(text, params as unknown[] | undefined)) })),
    close: () => db.close(),
  };
}
