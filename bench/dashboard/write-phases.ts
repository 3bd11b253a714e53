/**
 * Where the time of the dashboard's Postgres writes goes, phase by phase: folding events into
 * rows and JSON (JavaScript), the task upsert, the timeline insert, and the commit. Runs the
 * store's own SQL (store/write-sql.ts) batch by batch on one connection, in a fresh schema that
 * is dropped afterwards. Variants switch one cost off to price it:
 *
 *   node --import tsx bench/dashboard/write-phases.ts [variant] [tasks]
 *     variant: base | notrgm (no trigram search index) | nokw (no kwargs GIN index)
 *              | async (synchronous_commit off) | bigpending (64 MB GIN pending list)
 *              | nofastupdate | bigwork (64 MB GIN pending list and work_mem)
 *              | jsonb (jsonb_to_recordset) | noname (the search text without the task name)
 *              | multigin (one GIN for trigrams and kwargs) | blocks (the trigram index over
 *              one row per 64 tasks instead of one per task) | wordblocks (one row per 64 tasks
 *              holding their distinct words, split in SQL) | nodewords (the same, split here in
 *              JavaScript from the batch's fields and inserted by a statement of its own)
 *              | fleet (a task's three events in three batches,
 *              as tasks that run for seconds); combinable as notrgm-async; default base
 *     tasks:   default 30000 (3 events each)
 *
 * Figures and the load they were taken under: bench/dashboard/README.md.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { foldEvents } from '../../packages/dashboard/src/store/fold-events.js';
import { taskUpsertSql, TIMELINE_INSERT_SQL, timelineParams } from '../../packages/dashboard/src/store/write-sql.js';
import { toSqlJson } from '../../packages/dashboard/src/store/sql-json.js';
import { openHistoryStore } from '../../packages/dashboard/src/store/index.js';
import { eventBatches } from './events.js';
const variant = process.argv[2] ?? 'base';
const TASKS = Number(process.argv[3] ?? 30000);
const schema = `tmpbench_${variant.replace(/\W/g, '')}_${process.pid}`;
const url = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const store = await openHistoryStore({ databaseUrl: url, schema } as never);
await store.close();
const c = new pg.Client({ connectionString: url, application_name: schema, options: `-c search_path=${schema},public` });
await c.connect();
const trgm = 'tasks_search';
if (variant.includes('notrgm')) await c.query(`DROP INDEX IF EXISTS ${trgm}`);
if (variant.includes('nokw')) await c.query('DROP INDEX IF EXISTS tasks_kwargs');
if (variant.includes('bigpending')) await c.query(`ALTER INDEX ${trgm} SET (gin_pending_list_limit = 65536)`);
if (variant.includes('nofastupdate')) await c.query(`ALTER INDEX ${trgm} SET (fastupdate = off)`);
if (variant.includes('multigin')) {
  // One GIN over the trigrams and the kwargs both: one pending-list insertion per row instead of two.
  await c.query(`DROP INDEX ${trgm}`);
  await c.query('DROP INDEX tasks_kwargs');
  await c.query('CREATE INDEX tasks_search ON tasks USING gin (search_text public.gin_trgm_ops, kwargs_json jsonb_path_ops)');
}
if (variant.includes('async')) await c.query('SET synchronous_commit = off');
if (variant.includes('noname')) {
  // The search text without the task name (its trigrams are in every row of a name).
  const fields = ['args', 'kwargs', 'result', 'exception'].map((f) => `left(coalesce(${f}, ''), 1024)`).join(` || E'\\n' || `);
  await c.query('ALTER TABLE tasks DROP COLUMN search_text CASCADE');
  await c.query(`ALTER TABLE tasks ADD COLUMN search_text text GENERATED ALWAYS AS (lower(${fields})) STORED`);
  if (!variant.includes('notrgm')) await c.query(`CREATE INDEX tasks_search ON tasks USING gin (search_text public.gin_trgm_ops)`);
}
if (variant.includes('bigwork')) {
  await c.query(`ALTER INDEX ${trgm} SET (gin_pending_list_limit = 65536)`);
  await c.query(`SET work_mem = '64MB'`);
}
let upsert = taskUpsertSql('incoming', 'events');
if (variant.includes('jsonb')) upsert = upsert.replace('json_to_recordset($1::json)', 'jsonb_to_recordset($1::jsonb)');
const BATCH = 2000;
const nodeWords = variant.includes('nodewords');
if (nodeWords) {
  // The words split by the dashboard: one row per 64 tasks of a write with the distinct words
  // of the fields this write brings, inserted by its own statement; no trigram index on tasks.
  await c.query(`DROP INDEX ${trgm}`);
  await c.query('CREATE TABLE search_blocks (uuids text[] NOT NULL, words text NOT NULL)');
  await c.query('CREATE INDEX search_blocks_trgm ON search_blocks USING gin (words public.gin_trgm_ops)');
}
const WORD = /[\p{L}\p{N}]+/gu;
/** The batch's word blocks as the JSON parameter of the block insert. */
function wordBlocks(tasks: readonly { uuid: string; [k: string]: unknown }[]): string {
  const rows: string[] = [];
  for (let i = 0; i < tasks.length; i += 64) {
    const words = new Set<string>();
    const uuids: string[] = [];
    for (const t of tasks.slice(i, i + 64)) {
      uuids.push(t.uuid);
      for (const f of ['name', 'args', 'kwargs', 'result', 'exception']) {
        const v = t[f];
        if (typeof v === 'string') for (const w of v.slice(0, 2048).match(WORD) ?? []) words.add(w);
      }
    }
    rows.push(JSON.stringify({ uuids, words: ` ${[...words].join(' ')} ` }));
  }
  return `[${rows.join(',')}]`;
}
const BLOCKS_SQL = `INSERT INTO search_blocks (uuids, words) SELECT ARRAY(SELECT json_array_elements_text(x.uuids)), x.words FROM json_to_recordset($1::json) AS x(uuids json, words text)`;
if (variant.includes('wordblocks')) {
  // Prototype: one row per 64 tasks of a write holding the distinct words of their search
  // texts (the trigrams are the same as the texts'; a common word is sorted and indexed once).
  await c.query(`DROP INDEX ${trgm}`);
  await c.query('CREATE TABLE search_blocks (uuids text[] NOT NULL, text text NOT NULL)');
  await c.query('CREATE INDEX search_blocks_trgm ON search_blocks USING gin (text public.gin_trgm_ops)');
  upsert = `WITH up AS (${upsert} RETURNING uuid, search_text),
    b AS (SELECT uuid, search_text, (row_number() OVER ()) / 64 AS blk FROM up),
    w AS (SELECT DISTINCT blk, word FROM b, unnest(regexp_split_to_array(search_text, '[^[:alnum:]]+')) word WHERE word <> ''),
    ids AS (SELECT blk, array_agg(uuid) AS uuids FROM b GROUP BY blk),
    words AS (SELECT blk, ' ' || string_agg(word, ' ') || ' ' AS text FROM w GROUP BY blk)
    INSERT INTO search_blocks (uuids, text) SELECT ids.uuids, words.text FROM ids JOIN words USING (blk)`;
} else if (variant.includes('blocks')) {
  // The search text of 64 tasks of a write in one row of a trigram-indexed table (a trigram
  // common to the 64 is one index entry, not 64); a search would check candidates against the task.
  await c.query(`DROP INDEX ${trgm}`);
  await c.query('CREATE TABLE search_blocks (uuids text[] NOT NULL, text text NOT NULL)');
  await c.query('CREATE INDEX search_blocks_trgm ON search_blocks USING gin (text public.gin_trgm_ops)');
  upsert = `WITH up AS (${upsert} RETURNING uuid, search_text)
    INSERT INTO search_blocks (uuids, text)
    SELECT array_agg(uuid), string_agg(search_text, E'\\x01') FROM (SELECT uuid, search_text, (row_number() OVER ()) / 64 AS blk FROM up) s GROUP BY blk`;
}
// fleet: received, started and the final event of a task one batch apart (3 events per task index).
const lag = variant.includes('fleet') ? Math.ceil((2 * BATCH) / 3) * 2 : undefined;
// CPU time (ms) of this connection's Postgres backend, from /proc (the server runs on this machine).
const backend = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
const backendMs = () => {
  const f = readFileSync(`/proc/${backend}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
};
const cpu0 = backendMs();
// WAL the server wrote meanwhile (all sessions: run it on an otherwise quiet server).
const walLsn = async () => (await c.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0]!.lsn;
const wal0 = await walLsn();
let tUp = 0, tEv = 0, tCommit = 0, tFold = 0, n = 0;
const t0 = performance.now();
for (const batch of eventBatches(0, TASKS, BATCH, lag)) {
  let t = performance.now();
  const b = foldEvents(batch, { payloadCap: 4096, timelineCap: 100, now: Date.now() });
  const a1 = toSqlJson(b.tasks), a2 = timelineParams(b.events, 5000);
  const a3 = nodeWords ? wordBlocks(b.tasks as never) : '';
  tFold += performance.now() - t;
  await c.query('BEGIN');
  t = performance.now(); await c.query(upsert, [a1]); if (nodeWords) await c.query(BLOCKS_SQL, [a3]); tUp += performance.now() - t;
  t = performance.now(); for (const p of a2) await c.query(TIMELINE_INSERT_SQL, [p]); tEv += performance.now() - t;
  t = performance.now(); await c.query('COMMIT'); tCommit += performance.now() - t;
  n += batch.length;
}
const total = performance.now() - t0;
const pgCpuUsPerEvent = +(((backendMs() - cpu0) * 1000) / n).toFixed(1);
const walBytes = Number((await c.query<{ b: string }>('SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::text AS b', [await walLsn(), wal0])).rows[0]!.b);
const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
console.log(JSON.stringify({ variant, tasks: TASKS, evPerSec: Math.round(n / (total / 1000)), pgCpuUsPerEvent, walBytesPerEvent: Math.round(walBytes / n), foldUsPerEvent: +((tFold * 1000) / n).toFixed(1), load, fold: Math.round(tFold), upsert: Math.round(tUp), events: Math.round(tEv), commit: Math.round(tCommit), total: Math.round(total) }));
await c.query(`DROP SCHEMA ${schema} CASCADE`);
await c.end();
