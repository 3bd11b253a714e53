/**
 * Where the time of the dashboard's Postgres writes goes, phase by phase: folding events into
 * rows and JSON (JavaScript), the task upsert with its word blocks, the timeline insert, and
 * the commit. Runs the store's own SQL (store/write-sql.ts, store/word-blocks.ts) batch by
 * batch on one connection, in a fresh schema that is dropped afterwards. Variants switch one
 * cost off, or put an older one back, to price it:
 *
 *   node --import tsx bench/dashboard/write-phases.ts [variant] [tasks]
 *     variant: base | trgm (schema v4: a trigram index on every task's search text instead of
 *              word blocks) | noblocks (neither) | nokw (no kwargs GIN index) | async
 *              (synchronous_commit off) | pglz (the word blocks compressed by Postgres's
 *              default instead of the store's lz4) | jsonb (jsonb_to_recordset) | fleet (a task's three
 *              events in three batches, as tasks that run for seconds); combinable as
 *              noblocks-async; default base
 *     tasks:   default 30000 (3 events each)
 *
 * The variants that tried other layouts of the trigram index (blocks of whole texts, words
 * split in SQL, one GIN for trigrams and kwargs, a larger pending list...) were removed once
 * word blocks were built; their figures stay in bench/dashboard/README.md.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { foldEvents } from '../../packages/dashboard/src/store/fold-events.js';
import { taskUpsertSql, TIMELINE_INSERT_SQL, timelineParams } from '../../packages/dashboard/src/store/write-sql.js';
import { BLOCKS_INSERT_SQL, wordBlocks } from '../../packages/dashboard/src/store/word-blocks.js';
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
const blocks = !variant.includes('trgm') && !variant.includes('noblocks');
if (variant.includes('trgm')) await c.query('CREATE INDEX tasks_search ON tasks USING gin (search_text public.gin_trgm_ops)');
if (variant.includes('nokw')) await c.query('DROP INDEX IF EXISTS tasks_kwargs');
if (variant.includes('pglz')) await c.query('ALTER TABLE task_words ALTER COLUMN words SET COMPRESSION pglz, ALTER COLUMN texts SET COMPRESSION pglz');
if (variant.includes('async')) await c.query('SET synchronous_commit = off');
let upsert = taskUpsertSql('incoming', 'events');
if (variant.includes('jsonb')) upsert = upsert.replace('json_to_recordset($1::json)', 'jsonb_to_recordset($1::jsonb)');
const BATCH = 2000;
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
  const a3 = blocks ? wordBlocks(b.tasks) : null;
  tFold += performance.now() - t;
  await c.query('BEGIN');
  t = performance.now(); await c.query(upsert, [a1]); if (a3 !== null) await c.query(BLOCKS_INSERT_SQL, [a3]); tUp += performance.now() - t;
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
