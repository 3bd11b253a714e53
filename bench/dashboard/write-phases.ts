/**
 * Where the time of the dashboard's Postgres writes goes, phase by phase: folding events into
 * rows and JSON (JavaScript), the task upsert, the timeline insert, and the commit. Runs the
 * store's own SQL (store/write-sql.ts) batch by batch on one connection, in a fresh schema that
 * is dropped afterwards. Variants switch one cost off to price it:
 *
 *   node --import tsx bench/dashboard/write-phases.ts [variant] [tasks]
 *     variant: base | notrgm (no trigram search index) | nokw (no kwargs GIN index)
 *              | async (synchronous_commit off) | bigpending (64 MB GIN pending list)
 *              | nofastupdate; combinable as notrgm-async; default base
 *     tasks:   default 30000 (3 events each)
 *
 * Figures and the load they were taken under: bench/dashboard/README.md.
 */
import pg from 'pg';
import { foldEvents } from '../../packages/dashboard/src/store/fold-events.js';
import { taskUpsertSql, EVENTS_INSERT_SQL } from '../../packages/dashboard/src/store/write-sql.js';
import { toSqlJson } from '../../packages/dashboard/src/store/sql-json.js';
import { openHistoryStore } from '../../packages/dashboard/src/store/index.js';
import { eventBatches } from './events.js';
const variant = process.argv[2] ?? 'base';
const TASKS = Number(process.argv[3] ?? 30000);
const schema = `tmpbench_${variant.replace(/\W/g, '')}_${process.pid}`;
const url = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const store = await openHistoryStore({ databaseUrl: url, schema } as never);
await store.close();
const c = new pg.Client({ connectionString: url, options: `-c search_path=${schema},public` });
await c.connect();
if (variant.includes('notrgm')) await c.query('DROP INDEX IF EXISTS tasks_search');
if (variant.includes('nokw')) await c.query('DROP INDEX IF EXISTS tasks_kwargs');
if (variant.includes('bigpending')) await c.query('ALTER INDEX tasks_search SET (gin_pending_list_limit = 65536)');
if (variant.includes('nofastupdate')) await c.query('ALTER INDEX tasks_search SET (fastupdate = off)');
if (variant.includes('async')) await c.query('SET synchronous_commit = off');
const upsert = taskUpsertSql('incoming', 'events');
let tUp = 0, tEv = 0, tCommit = 0, tFold = 0, n = 0;
const t0 = performance.now();
for (const batch of eventBatches(0, TASKS, 2000)) {
  let t = performance.now();
  const b = foldEvents(batch, { payloadCap: 4096, timelineCap: 100, now: Date.now() });
  const a1 = toSqlJson(b.tasks), a2 = toSqlJson(b.events);
  tFold += performance.now() - t;
  await c.query('BEGIN');
  t = performance.now(); await c.query(upsert, [a1]); tUp += performance.now() - t;
  t = performance.now(); await c.query(EVENTS_INSERT_SQL, [a2]); tEv += performance.now() - t;
  t = performance.now(); await c.query('COMMIT'); tCommit += performance.now() - t;
  n += batch.length;
}
const total = performance.now() - t0;
console.log(JSON.stringify({ variant, tasks: TASKS, evPerSec: Math.round(n / (total / 1000)), fold: Math.round(tFold), upsert: Math.round(tUp), events: Math.round(tEv), commit: Math.round(tCommit), total: Math.round(total) }));
await c.query(`DROP SCHEMA ${schema} CASCADE`);
await c.end();
