/**
 * @module store/schema
 * The store's tables and their migrations, applied in order at open. Each migration runs
 * in one transaction under an advisory lock, so two dashboards opening the same Postgres
 * database at once do not race. Applied versions are recorded in `dashboard_schema`.
 *
 * Indexes serve the tasks page: the default order (`state_ts`), each filter with that order
 * (state, name, worker), the workflow tree (root, parent, group), `kwargs.key:value` (jsonb
 * containment) and free text (the word blocks of `task_words` with pg_trgm, when the
 * extension is available; store/word-blocks).
 */
import { SEARCH_FIELD_CHARS } from '../query/compile.js';
import type { SqlDriver, SqlRunner } from './sql-driver.js';
import { blocksFromSearchTextSql } from './word-blocks.js';
import { stateRankSql } from './write-sql.js';

const cutLower = (column: string) => `left(coalesce(${column}, ''), ${SEARCH_FIELD_CHARS})`;

/**
 * Lower-cased copy of the searchable fields; the search language's text terms match it.
 * The uuid and the worker are left out: their trigrams would be most of the index's cost
 * (a uuid's are all distinct), and both have their own indexed fields (`uuid:`, `worker:`).
 */
const SEARCH_TEXT = `lower(${[
  cutLower('name'), cutLower('args'), cutLower('kwargs'), cutLower('result'), cutLower('exception'),
].join(` || E'\\n' || `)})`;

/** The trigram index of the word blocks; the store writes blocks only when it exists. */
const WORDS_INDEX = 'task_words_trgm';

/** Migrations by version; `trgm` is the schema-qualified trigram operator class, or null. */
const MIGRATIONS: readonly ((trgm: string | null) => string)[] = [
  (trgm) => `
    CREATE TABLE tasks (
      uuid text PRIMARY KEY,
      name text,
      state text NOT NULL,
      state_rank smallint NOT NULL,
      state_ts bigint NOT NULL,
      worker text,
      client text,
      queue text,
      exchange text,
      routing_key text,
      args text,
      kwargs text,
      kwargs_json jsonb NOT NULL DEFAULT '{}',
      result text,
      exception text,
      traceback text,
      truncated_mask integer NOT NULL DEFAULT 0,
      eta text,
      expires text,
      sent bigint, received bigint, started bigint, succeeded bigint,
      failed bigint, retried bigint, revoked bigint, rejected bigint,
      runtime double precision,
      retries integer,
      parent_id text,
      root_id text,
      group_id text,
      last_seen bigint NOT NULL,
      source text NOT NULL DEFAULT 'events',
      search_text text GENERATED ALWAYS AS (${SEARCH_TEXT}) STORED
    );
    CREATE INDEX tasks_state_ts ON tasks (state_ts);
    CREATE INDEX tasks_state ON tasks (state, state_ts);
    CREATE INDEX tasks_name ON tasks (name, state_ts);
    CREATE INDEX tasks_worker ON tasks (worker, state_ts);
    CREATE INDEX tasks_queue ON tasks (queue, state_ts) WHERE queue IS NOT NULL;
    CREATE INDEX tasks_received ON tasks (received) WHERE received IS NOT NULL;
    CREATE INDEX tasks_runtime ON tasks (runtime) WHERE runtime IS NOT NULL;
    CREATE INDEX tasks_root ON tasks (root_id) WHERE root_id IS NOT NULL;
    CREATE INDEX tasks_parent ON tasks (parent_id) WHERE parent_id IS NOT NULL;
    CREATE INDEX tasks_kwargs ON tasks USING gin (kwargs_json jsonb_path_ops);
    ${trgm === null ? '' : `CREATE INDEX tasks_search ON tasks USING gin (search_text ${trgm});`}
    CREATE TABLE task_events (
      uuid text NOT NULL,
      type text NOT NULL,
      ts bigint NOT NULL,
      hostname text,
      fields text NOT NULL
    );
    CREATE INDEX task_events_uuid ON task_events (uuid, ts);
    CREATE TABLE workers (
      hostname text PRIMARY KEY,
      online boolean NOT NULL,
      pid integer,
      freq double precision,
      active integer,
      processed bigint,
      loadavg text,
      sw_ident text,
      sw_ver text,
      sw_sys text,
      first_seen bigint NOT NULL,
      last_seen bigint NOT NULL,
      last_heartbeat bigint,
      offline_at bigint
    );
  `,
  // Version 2: the time index carries the uuid, so a deep page in time order (OFFSET 50,000)
  // is read from the index alone (23 ms instead of 163 ms at 1M tasks, once vacuumed).
  () => `
    DROP INDEX IF EXISTS tasks_state_ts;
    CREATE INDEX tasks_state_ts ON tasks (state_ts, uuid);
  `,
  // Version 3: the timeline keeps one row per task per write, its entries a JSON array of
  // [type, ts, hostname, fields], instead of one row per event: a third of the rows and
  // index entries (bench/dashboard/README.md). The old rows become one row per task.
  () => `
    CREATE TABLE task_timeline (
      uuid text NOT NULL,
      ts bigint NOT NULL,
      entries text NOT NULL
    );
    INSERT INTO task_timeline (uuid, ts, entries)
      SELECT uuid, min(ts), json_agg(json_build_array(type, ts, hostname, fields::json) ORDER BY ts)::text
      FROM task_events GROUP BY uuid;
    DROP TABLE task_events;
    CREATE INDEX task_timeline_uuid ON task_timeline (uuid, ts);
  `,
  // Version 4: the received index carries the uuid and the time, so a received window in time
  // order is sorted from the index alone (read-sql's narrow window), and pages by received
  // follow (received, uuid) as cursors do.
  () => `
    DROP INDEX IF EXISTS tasks_received;
    CREATE INDEX tasks_received ON tasks (received, uuid, state_ts) WHERE received IS NOT NULL;
  `,
  // Version 5: free text is indexed by word blocks (store/word-blocks) instead of a trigram
  // index on every task's text: most of a write's Postgres CPU less (bench/dashboard/README.md).
  // The stored tasks get blocks of their whole search text; without pg_trgm there is no index
  // to feed, and the store writes no blocks.
  (trgm) => `
    CREATE TABLE task_words (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      uuids text[] NOT NULL,
      words text NOT NULL,
      texts text[] NOT NULL
    );
    ${trgm === null ? '' : `${blocksFromSearchTextSql()};
    CREATE INDEX ${WORDS_INDEX} ON task_words USING gin (words ${trgm});`}
    DROP INDEX IF EXISTS tasks_search;
  `,
  // Version 6: the engine's state model ranks final states above custom ones and LOST (a
  // terminated task stayed PROGRESS, a revoked one turned LOST); stored ranks follow it.
  () => `
    UPDATE tasks SET state_rank = ${stateRankSql('state')} WHERE state_rank <> ${stateRankSql('state')}
  `,
  // Version 7: a workflow is rebuilt through group ids too (a chord's header parts share
  // nothing else with its body: store/workflow-sql).
  () => `
    CREATE INDEX tasks_group ON tasks (group_id) WHERE group_id IS NOT NULL
  `,
];

/** Whether the schema has the word blocks' trigram index (pg_trgm was there when it was made). */
export async function hasWordBlocks(db: SqlDriver): Promise<boolean> {
  const rows = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_indexes WHERE schemaname = current_schema() AND indexname = $1`,
    [WORDS_INDEX],
  );
  return (rows[0]?.n ?? 0) > 0;
}

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

// Any constant shared by every dashboard: the lock only serialises migrations.
const MIGRATION_LOCK = 7_262_022;

/** The trigram operator class, schema-qualified, after making sure pg_trgm is installed; null without it. */
async function trigramOpclass(db: SqlDriver): Promise<string | null> {
  try {
    await db.exec(db.kind === 'pglite' ? 'CREATE EXTENSION IF NOT EXISTS pg_trgm' : 'CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public');
  } catch {
    // No privilege to install it: search still works, by scanning.
  }
  const rows = await db.query<{ nspname: string }>(
    `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'`,
  );
  const schema = rows[0]?.nspname;
  return schema === undefined ? null : `"${schema.replaceAll('"', '""')}".gin_trgm_ops`;
}

/** Columns whose values are often compressed (a word block's are 5-15 kB): lz4 where the server has it. */
const COMPRESSED: readonly [string, readonly string[]][] = [
  ['task_words', ['words', 'texts', 'uuids']],
  ['tasks', ['args', 'kwargs', 'result', 'exception', 'traceback', 'search_text']],
  ['task_timeline', ['entries']],
];

/**
 * Compresses the large columns with lz4 instead of Postgres's default pglz, when the server
 * was built with it: pglz cost a share of a write's CPU (the word blocks) that lz4 cuts to
 * a third or less (bench/dashboard/README.md). Applies to values written from now on; stored ones stay as
 * they are, readable either way. Skipped where lz4 is missing (PGlite) and for columns already
 * set, so an open that has nothing to change takes no table lock. It is only a saving: when
 * the table lock is not granted within 2 s (another session is reading the table) or the
 * change is refused (the role does not own the table), the open goes on without it, and the
 * next open tries again.
 */
async function compressWithLz4(db: SqlRunner): Promise<void> {
  const lz4 = await db.query<{ ok: boolean }>(`SELECT 'lz4' = ANY(enumvals) AS ok FROM pg_settings WHERE name = 'default_toast_compression'`);
  if (lz4[0]?.ok !== true) return;
  await db.query('SAVEPOINT compress_lz4');
  try {
    await db.query(`SET LOCAL lock_timeout = '2s'`);
    for (const [table, columns] of COMPRESSED) {
      const pending = await db.query<{ attname: string }>(
        `SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         WHERE c.oid = to_regclass($1) AND a.attname = ANY($2::text[]) AND a.attcompression IS DISTINCT FROM 'l'`,
        [table, columns],
      );
      if (pending.length === 0) continue;
      await db.query(`ALTER TABLE ${table} ${pending.map((r) => `ALTER COLUMN ${r.attname} SET COMPRESSION lz4`).join(', ')}`);
    }
    await db.query('RELEASE SAVEPOINT compress_lz4');
  } catch {
    await db.query('ROLLBACK TO SAVEPOINT compress_lz4');
  }
}

/**
 * Brings the schema up to {@link SCHEMA_VERSION} (or `target`, for tests of an upgrade);
 * refuses a database written by a newer version.
 */
export async function migrate(db: SqlDriver, target = SCHEMA_VERSION): Promise<void> {
  await db.exec('CREATE TABLE IF NOT EXISTS dashboard_schema (version integer NOT NULL)');
  const trgm = await trigramOpclass(db);
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    const rows = await tx.query<{ v: number | null }>('SELECT max(version) AS v FROM dashboard_schema');
    const current = rows[0]?.v ?? 0;
    if (current > SCHEMA_VERSION) {
      throw new Error(`HistoryStore: the database has schema version ${current}, newer than this dashboard's ${SCHEMA_VERSION}; upgrade the dashboard`);
    }
    for (let v = current; v < Math.min(target, SCHEMA_VERSION); v++) {
      const step = MIGRATIONS[v] as (trgm: string | null) => string;
      for (const statement of step(trgm).split(';').map((s) => s.trim()).filter((s) => s.length > 0)) await tx.query(statement);
      await tx.query('INSERT INTO dashboard_schema (version) VALUES ($1)', [v + 1]);
    }
    await compressWithLz4(tx);
  });
}
