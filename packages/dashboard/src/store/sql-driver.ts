/**
 * @module store/sql-driver
 * The two databases behind one small runner: PGlite (Postgres in WebAssembly, in a data
 * directory or in memory) and Postgres through a `pg` pool. Both take `$n` parameters and
 * run the same SQL; the tables live in one schema, put first on the search path.
 */
import { mkdirSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { CeleriacError, ErrorCodes } from 'celeriac';
import pg from 'pg';
import { createInMemory, seedDataDir } from './pglite-template.js';

/** Runs statements. */
export interface SqlRunner {
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>;
}

/** A database connection (or pool) the store owns. */
export interface SqlDriver extends SqlRunner {
  readonly kind: 'pglite' | 'postgres';
  /** Runs several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

/** Checks a schema name before it is put into SQL (it cannot be a parameter). */
export function checkSchemaName(schema: string): string {
  if (!IDENT.test(schema)) throw new RangeError(`HistoryStore: schema must match ${IDENT.source}, got ${JSON.stringify(schema)}`);
  return schema;
}

// Postgres' buffers live in the dashboard's own memory here (WebAssembly), so they are kept
// small and the operating system's file cache does the caching: the process stays near
// 250 MB whatever the history size. History is monitoring data: a write acknowledged just
// before a crash may be lost (relaxedDurability), in exchange for ingest speed. A smaller
// max_wal_size keeps the data directory near the size of the data (1 GB of WAL otherwise).
const PGLITE_CONF = ['shared_buffers = 32MB', 'maintenance_work_mem = 32MB', 'wal_buffers = 1MB', 'temp_buffers = 4MB', 'max_wal_size = 128MB'];

/** The options the store creates and opens PGlite with (less the data directory). */
export function pgliteOptions() {
  return { extensions: { pg_trgm }, relaxedDurability: true, postgresqlconf: [...PGLITE_CONF] };
}

/**
 * Free space the embedded database keeps on the disk of its data directory: a write is refused
 * below it. PGlite that met "No space left on device" mid-write did not recover once space was
 * freed: it answered every later statement with "cannot drop active portal", or spun inside its
 * WebAssembly at full CPU, holding the dashboard's HTTP server with it (2026-12-01, a probe on
 * a 60 MB tmpfs). 64 MB: four WAL segments.
 */
export const PGLITE_MIN_FREE_BYTES = 64 * 1024 * 1024;

/** Throws, saying so, when the disk of `dataDir` has less than `minFree` bytes free. */
async function checkRoom(dataDir: string, minFree: number): Promise<void> {
  const { bavail, bsize } = await statfs(dataDir);
  const free = bavail * bsize;
  if (free < minFree) {
    throw new Error(`the disk of ${dataDir} has ${(free / 2 ** 20).toFixed(1)} MB free, under the ${(minFree / 2 ** 20).toFixed(0)} MB the embedded database keeps free; writes wait until there is room`);
  }
}

/**
 * Opens PGlite in `dataDir` (created when missing), or in memory when it is undefined, from
 * the cached template unless `templates` is false (see store/pglite-template.ts); or uses
 * `instance`, which the driver then does not close. In a data directory, a transaction (every
 * write of the history) is refused while its disk has less than `minFreeBytes` free.
 */
export async function openPgliteDriver(dataDir: string | undefined, schema: string, instance?: PGlite, templates = true, minFreeBytes = PGLITE_MIN_FREE_BYTES): Promise<SqlDriver> {
  const options = pgliteOptions();
  if (instance === undefined && dataDir !== undefined) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // A new directory starts as a copy of a cached fresh database instead of running initdb.
    if (templates) await seedDataDir(dataDir, options);
  }
  const db = instance ?? (dataDir === undefined && templates ? await createInMemory(options) : await PGlite.create({ ...options, dataDir }));
  await db.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}; SET search_path = ${schema}, public;`);
  return {
    kind: 'pglite',
    query: async <R>(text: string, params?: readonly unknown[]) => (await db.query<R>(text, params as unknown[] | undefined)).rows,
    exec: async (sql) => {
      await db.exec(sql);
    },
    // PGlite runs one statement at a time; its transaction() holds the connection for `fn`.
    transaction: async (fn) => {
      if (dataDir !== undefined && instance === undefined) await checkRoom(dataDir, minFreeBytes);
      return db.transaction((tx) => fn({ query: async <R>(text: string, params?: readonly unknown[]) => (await tx.query<R>(text, params as unknown[] | undefined)).rows }));
    },
    close: async () => {
      if (instance === undefined) await db.close();
    },
  };
}

/**
 * Opens a pool on a Postgres URL; the schema is created when missing. Six connections: the
 * ingest's two writes in flight, an ANALYZE beside them, retention, and the pages' reads.
 */
export async function openPostgresDriver(url: string, schema: string, max = 6): Promise<SqlDriver> {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    options: `-c search_path=${schema},public`,
  });
  // An idle client that loses its server emits here; the pool replaces it on next use.
  pool.on('error', () => undefined);
  const run = async <R>(client: pg.Pool | pg.PoolClient, text: string, params?: readonly unknown[]): Promise<R[]> =>
    (await client.query(text, params as unknown[] | undefined)).rows as R[];
  try {
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  } catch (err) {
    await pool.end();
    throw unreachable(url, err);
  }
  return {
    kind: 'postgres',
    query: <R>(text: string, params?: readonly unknown[]) => run<R>(pool, text, params).catch(asUnreachable),
    exec: async (sql) => {
      await pool.query(sql).catch(asUnreachable);
    },
    transaction: (fn) => pgTransaction(pool, (client) => fn({ query: (text, params) => run(client, text, params) })).catch(asUnreachable),
    close: () => pool.end(),
  };
}

/** A URL with its password hidden, for messages and banners. */
export function maskUrl(url: string): string {
  return url.replace(/\/\/([^:/@]*):([^@/]*)@/, '//$1:****@');
}

/**
 * The history's Postgres refused or failed the first statement, as one line naming it (the
 * CLI printed pg's error with its stack, "connect ECONNREFUSED" for whichever database): a
 * CONFIG error when the server answered no to who or what was asked (SQLSTATE class 28, an
 * authorization; 3D, no such database; 42, no privilege), else TRANSPORT.
 */
function unreachable(url: string, err: unknown): CeleriacError {
  const sqlState = (err as { code?: unknown } | null)?.code;
  const refused = typeof sqlState === 'string' && /^(28|3D|42)/.test(sqlState);
  const message = err instanceof Error ? err.message : String(err);
  return new CeleriacError(refused ? ErrorCodes.CONFIG : ErrorCodes.TRANSPORT, `the history database ${maskUrl(url)} could not be opened: ${message}`, { cause: err });
}

/** Node's codes of a connection that failed or broke. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * Whether a failure is the connection's, not the statement's: a socket error, SQLSTATE class 08
 * (connection exception) or 57P (the server shutting down or starting), or pg's own words for
 * a connection that ended or never came.
 */
export function isConnectionFailure(err: unknown): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (SOCKET_CODES.has(code) || /^(08|57P)/.test(code))) return true;
  return typeof message === 'string' && /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/.test(message);
}

/**
 * A connection failure as a TRANSPORT error (the server answers 503 for it: a dependency down,
 * where pg's error was a 500); any other error as it is.
 */
function asUnreachable(err: unknown): never {
  if (isConnectionFailure(err)) throw new CeleriacError(ErrorCodes.TRANSPORT, `the history database is unreachable: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  throw err;
}

/**
 * Runs `fn` on one pooled connection between BEGIN and COMMIT (ROLLBACK when it throws).
 * A checked-out client has no pool listener: its connection failing between two statements
 * (the server restarted, a proxy reset it) would be an uncaught 'error' event that ends the
 * process. Here that error only fails the transaction, and the broken client is discarded
 * on release instead of going back to the pool.
 */
export async function pgTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let lost: Error | undefined;
  const onError = (err: Error) => {
    lost ??= err;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const value = await fn(client);
    await client.query('COMMIT');
    return value;
  } catch (err) {
    if (lost === undefined) await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.removeListener('error', onError);
    client.release(lost);
  }
}
