/**
 * Fills a Postgres history store with tasks in SQL (`INSERT ... SELECT generate_series`), so a
 * bench can reach 1,000,000 tasks in a minute or two instead of the hour the event path takes
 * on a busy machine. The rows are the ones the store writes for events.ts's stream (3 events
 * per task: received, started, then succeeded or failed; 5% fail): same uuids, names,
 * workers, args/kwargs/result reprs, kwargs_json, times and runtimes distribution, and a
 * timeline row per task holding its three entries (schema v3: one row per task per write), and
 * word blocks of 64 tasks (schema v5). Only the random draws differ (a SQL hash instead of mulberry32).
 *
 * Indexes are dropped while loading and built again after (as a restore does), then ANALYZE.
 */
import type pg from 'pg';
import { blocksFromSearchTextSql } from '../../packages/dashboard/src/store/word-blocks.js';
import { NAMES, T_START, WORKERS } from './events.js';

const sqlArray = (values: readonly string[]) => `ARRAY[${values.map((v) => `'${v.replaceAll("'", "''")}'`).join(', ')}]`;

// A deterministic draw in [0, 1) per task and stream (k), from Postgres' integer hash.
const draw = (k: number) => `((hashint8(g.i * 8 + ${k}) & 2147483647)::float8 / 2147483648)`;

/** The task rows for tasks [from, to), as the store's upsert leaves them. */
function tasksInsertSql(from: number, to: number): string {
  const t0 = Math.round(T_START * 1000);
  return `
    INSERT INTO tasks (uuid, name, state, state_rank, state_ts, worker, args, kwargs, kwargs_json, result, exception,
                       traceback, truncated_mask, received, started, succeeded, failed, runtime, retries, root_id, last_seen, source)
    SELECT s.uuid, s.name, CASE WHEN s.fail THEN 'FAILURE' ELSE 'SUCCESS' END, CASE WHEN s.fail THEN 1 ELSE 0 END, s.done,
           s.worker, format('(''order-%s'', %s)', s.i, s.i % 97),
           format('{''user_id'': %s, ''email'': ''user%s@example.com'', ''priority'': %s}', s.uid, s.uid, s.i % 3),
           jsonb_build_object('user_id', s.uid, 'email', format('user%s@example.com', s.uid), 'priority', s.i % 3),
           CASE WHEN s.fail THEN NULL ELSE format('{''status'': ''ok'', ''order'': ''order-%s'', ''items'': %s}', s.i, s.i % 17) END,
           CASE WHEN s.fail THEN format('TimeoutError(''upstream timed out after %s ms'')', round(s.runtime * 1000)) END,
           CASE WHEN s.fail THEN format(E'Traceback (most recent call last):\\n  File "tasks.py", line 42, in %s\\n    call_upstream()\\nTimeoutError: upstream timed out', s.name) END,
           0, s.recv, s.recv + 1, CASE WHEN s.fail THEN NULL ELSE s.done END, CASE WHEN s.fail THEN s.done END,
           CASE WHEN s.fail THEN NULL ELSE s.runtime END, 0, s.uuid, s.done, 'events'
    FROM (
      SELECT g.i,
             lpad(to_hex((g.i * 2654435761) % 4294967296), 8, '0') || '-' || lpad(to_hex(g.i), 12, '0') AS uuid,
             (${sqlArray(NAMES)})[1 + floor(${draw(0)} * ${NAMES.length})::int] AS name,
             (${sqlArray(WORKERS)})[1 + floor(${draw(1)} * ${WORKERS.length})::int] AS worker,
             floor(${draw(2)} * 100000)::int AS uid,
             ${draw(3)} < 0.05 AS fail,
             round((-ln(1 - ${draw(4)}) * 0.3)::numeric, 3)::float8 AS runtime,
             ${t0} + g.i * 10 AS recv,
             ${t0} + g.i * 10 + 1 + round(-ln(1 - ${draw(4)}) * 300)::bigint AS done
      FROM generate_series(${from}::bigint, ${to - 1}::bigint) AS g(i)
    ) AS s`;
}

/** A timeline row per task of [from, to): its received, started and succeeded/failed entries. */
const TIMELINE_INSERT_SQL = `
  INSERT INTO task_timeline (uuid, ts, entries)
  SELECT t.uuid, t.received, json_build_array(
    json_build_array('task-received', t.received, t.worker, json_build_object('name', t.name, 'args', t.args, 'kwargs', t.kwargs,
      'root_id', t.uuid, 'parent_id', NULL, 'retries', 0, 'eta', NULL, 'expires', NULL)),
    json_build_array('task-started', t.started, t.worker, '{}'::json),
    json_build_array(CASE WHEN t.state = 'FAILURE' THEN 'task-failed' ELSE 'task-succeeded' END, t.state_ts, t.worker,
      CASE WHEN t.state = 'FAILURE' THEN json_build_object('exception', t.exception, 'traceback', t.traceback)
           ELSE json_build_object('result', t.result, 'runtime', t.runtime) END))::text
  FROM tasks AS t
  WHERE t.received >= $1 AND t.received < $2`;

/**
 * Adds tasks [from, to) to the store's tables in `schema` (created by opening the store),
 * with `client` (its own connection). Returns the seconds it took.
 */
export async function bulkLoad(client: pg.Client, schema: string, from: number, to: number, log: (line: string) => void = () => undefined): Promise<number> {
  const t0 = performance.now();
  await client.query(`SET search_path = ${schema}, public`);
  await client.query(`SET maintenance_work_mem = '512MB'`);
  // Each step's rows lie past the times the last ANALYZE saw, so the planner expects one row
  // and joins the word-block query's two halves in a nested loop, running the inner one per
  // outer row: a 100,000-task step after a 100,000-task history took 541 s instead of seconds.
  await client.query('SET enable_nestloop = off');
  const { rows } = await client.query<{ name: string; def: string }>(
    `SELECT indexname AS name, indexdef AS def FROM pg_indexes WHERE schemaname = $1 AND tablename IN ('tasks', 'task_timeline', 'task_words')
       AND indexname NOT LIKE '%_pkey'`,
    [schema],
  );
  for (const r of rows) await client.query(`DROP INDEX ${schema}.${r.name}`);
  const step = 100_000;
  for (let a = from; a < to; a += step) {
    const b = Math.min(a + step, to);
    await client.query(tasksInsertSql(a, b));
    const t = Math.round(T_START * 1000);
    await client.query(TIMELINE_INSERT_SQL, [t + a * 10, t + b * 10]);
    // The word blocks of these tasks (the store makes them per write; here per 64 of the load).
    await client.query(blocksFromSearchTextSql('received >= $1 AND received < $2'), [t + a * 10, t + b * 10]);
    log(`  loaded ${b.toLocaleString('en')} tasks (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  for (const r of rows) {
    const t = performance.now();
    await client.query(r.def);
    log(`  index ${r.name} ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  await client.query('VACUUM ANALYZE tasks');
  await client.query('VACUUM ANALYZE task_timeline');
  await client.query('VACUUM ANALYZE task_words');
  return (performance.now() - t0) / 1000;
}
