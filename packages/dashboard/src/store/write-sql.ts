/**
 * @module store/write-sql
 * The write statements. A batch travels as one JSON parameter expanded by
 * `json_to_recordset`, so a batch of any size is one statement with one parameter on both
 * databases. Task rows merge with what is stored by the engine's state model (`mergeState`,
 * written here as SQL on the stored ranks): the incoming state wins unless it ranks below the
 * stored one; RETRY counts as newer than any unfinished state, never a final one; other fields take
 * the newest known value (events) or fill only what is missing (backfill).
 */

import { CUSTOM_STATE_RANK, FINAL_RANK_MAX, STATE_RANKS } from 'celeriac/monitor';
import { timelineEntry, type EventWrite } from './fold-events.js';
import { sanitizeSqlJson } from './sql-json.js';

const TASK_COLUMNS: readonly [string, string][] = [
  ['uuid', 'text'], ['name', 'text'], ['state', 'text'], ['state_rank', 'smallint'], ['state_ts', 'bigint'],
  ['worker', 'text'], ['client', 'text'], ['queue', 'text'], ['exchange', 'text'], ['routing_key', 'text'],
  ['args', 'text'], ['kwargs', 'text'], ['kwargs_json', 'jsonb'], ['result', 'text'], ['exception', 'text'],
  ['traceback', 'text'], ['provided_mask', 'integer'], ['truncated_mask', 'integer'], ['eta', 'text'], ['expires', 'text'],
  ['sent', 'bigint'], ['received', 'bigint'], ['started', 'bigint'], ['succeeded', 'bigint'], ['failed', 'bigint'],
  ['retried', 'bigint'], ['revoked', 'bigint'], ['rejected', 'bigint'], ['runtime', 'double precision'],
  ['retries', 'integer'], ['parent_id', 'text'], ['root_id', 'text'], ['group_id', 'text'], ['last_seen', 'bigint'],
];

// Columns merged field by field (everything but the key, the state triple, the masks,
// kwargs_json, last_seen and source, which have their own rules).
const MERGED = [
  'name', 'worker', 'client', 'queue', 'exchange', 'routing_key', 'args', 'kwargs', 'result', 'exception',
  'traceback', 'eta', 'expires', 'sent', 'received', 'started', 'succeeded', 'failed', 'retried', 'revoked',
  'rejected', 'runtime', 'retries', 'parent_id', 'root_id', 'group_id',
];

const RECORDSET = `json_to_recordset($1::json) AS x(${TASK_COLUMNS.map(([n, t]) => `${n} ${t}`).join(', ')})`;

// The provided bits travel in the high byte of truncated_mask, since ON CONFLICT's
// EXCLUDED row has only table columns; readers mask with 0xff.
const INSERTED = TASK_COLUMNS.filter(([n]) => n !== 'provided_mask' && n !== 'kwargs_json' && n !== 'truncated_mask').map(([n]) => n);

// Bits of the payload fields the stored row already has (PAYLOAD_FIELDS order).
const STORED_BITS = ['args', 'kwargs', 'result', 'exception', 'traceback']
  .map((c, i) => `(CASE WHEN t.${c} IS NULL THEN 0 ELSE ${1 << i} END)`)
  .join(' | ');

/**
 * `mergeState(t.state, EXCLUDED.state) = EXCLUDED.state` in SQL, on the stored ranks
 * (test/state-model.property.test.ts holds the two to the same answers).
 */
export const STATE_WINS_SQL = `(t.state = 'RETRY'
    OR (EXCLUDED.state = 'RETRY' AND t.state_rank > ${FINAL_RANK_MAX})
    OR (EXCLUDED.state <> 'RETRY' AND EXCLUDED.state_rank <= t.state_rank))`;

/** The rank of the state in `column`, as `statePrecedence` gives it (for migrations). */
export function stateRankSql(column: string): string {
  const cases = Object.entries(STATE_RANKS).map(([state, rank]) => `WHEN '${state}' THEN ${rank}`);
  return `(CASE ${column} ${cases.join(' ')} ELSE ${CUSTOM_STATE_RANK} END)`;
}

/** Upsert of task rows; `prefer` says whose field values win when both have one. */
export function taskUpsertSql(prefer: 'incoming' | 'stored', source: 'events' | 'backend'): string {
  const wins = STATE_WINS_SQL;
  const merged = MERGED.map((c) => (prefer === 'incoming' ? `${c} = coalesce(EXCLUDED.${c}, t.${c})` : `${c} = coalesce(t.${c}, EXCLUDED.${c})`));
  const mask = prefer === 'incoming'
    ? `((t.truncated_mask & 255) & ~(EXCLUDED.truncated_mask >> 8)) | (EXCLUDED.truncated_mask & 255)`
    : `(t.truncated_mask & 255) | (EXCLUDED.truncated_mask & 255 & ~(${STORED_BITS}))`;
  const kwargsJson = prefer === 'incoming'
    ? `CASE WHEN EXCLUDED.kwargs IS NOT NULL THEN EXCLUDED.kwargs_json ELSE t.kwargs_json END`
    : `CASE WHEN t.kwargs IS NULL THEN EXCLUDED.kwargs_json ELSE t.kwargs_json END`;
  return `
    INSERT INTO tasks AS t (${INSERTED.join(', ')}, kwargs_json, truncated_mask, source)
    SELECT ${INSERTED.map((c) => `x.${c}`).join(', ')}, coalesce(x.kwargs_json, '{}'::jsonb),
           (x.provided_mask << 8) | x.truncated_mask, '${source}'
    FROM ${RECORDSET}
    ON CONFLICT (uuid) DO UPDATE SET
      ${merged.join(',\n      ')},
      state = CASE WHEN ${wins} THEN EXCLUDED.state ELSE t.state END,
      state_rank = CASE WHEN ${wins} THEN EXCLUDED.state_rank ELSE t.state_rank END,
      state_ts = CASE WHEN ${wins} THEN EXCLUDED.state_ts ELSE t.state_ts END,
      kwargs_json = ${kwargsJson},
      truncated_mask = ${mask},
      last_seen = greatest(t.last_seen, EXCLUDED.last_seen),
      source = ${prefer === 'incoming' ? `'${source}'` : 't.source'}`;
}

/**
 * Appends timeline rows: one per task per write, its entries one JSON array (a `json`
 * column of the recordset keeps the entries' text as sent). Three events of a task cost one
 * row and one index entry instead of three, and the entries travel unescaped.
 */
export const TIMELINE_INSERT_SQL = `
  INSERT INTO task_timeline (uuid, ts, entries)
  SELECT uuid, ts, entries::text
  FROM json_to_recordset($1::json) AS x(uuid text, ts bigint, entries json)`;

/**
 * The parameters of {@link TIMELINE_INSERT_SQL} for a batch's timeline entries: the entries
 * of each task (in arrival order) in one row dated by its earliest, `rowsPer` rows a statement.
 */
export function timelineParams(events: readonly EventWrite[], rowsPer: number): string[] {
  const tasks = new Map<string, { ts: number; entries: string[] }>();
  for (const e of events) {
    const t = tasks.get(e.uuid);
    if (t === undefined) tasks.set(e.uuid, { ts: e.ts, entries: [timelineEntry(e)] });
    else {
      t.entries.push(timelineEntry(e));
      if (e.ts < t.ts) t.ts = e.ts;
    }
  }
  const params: string[] = [];
  let rows: string[] = [];
  for (const [uuid, t] of tasks) {
    rows.push(`{"uuid":${JSON.stringify(uuid)},"ts":${t.ts},"entries":[${t.entries.join(',')}]}`);
    if (rows.length >= rowsPer) {
      params.push(sanitizeSqlJson(`[${rows.join(',')}]`));
      rows = [];
    }
  }
  if (rows.length > 0) params.push(sanitizeSqlJson(`[${rows.join(',')}]`));
  return params;
}

/** Upsert of worker rows; an older event never flips online/offline back. */
export const WORKERS_UPSERT_SQL = `
  INSERT INTO workers AS w (hostname, online, pid, freq, active, processed, loadavg, sw_ident, sw_ver, sw_sys,
                            first_seen, last_seen, last_heartbeat, offline_at)
  SELECT hostname, online, pid, freq, active, processed, loadavg, sw_ident, sw_ver, sw_sys, seen, seen, heartbeat, offline_at
  FROM json_to_recordset($1::json) AS x(hostname text, online boolean, pid integer, freq double precision,
       active integer, processed bigint, loadavg text, sw_ident text, sw_ver text, sw_sys text, seen bigint,
       heartbeat bigint, offline_at bigint)
  ON CONFLICT (hostname) DO UPDATE SET
    pid = coalesce(EXCLUDED.pid, w.pid),
    freq = coalesce(EXCLUDED.freq, w.freq),
    active = coalesce(EXCLUDED.active, w.active),
    processed = coalesce(EXCLUDED.processed, w.processed),
    loadavg = coalesce(EXCLUDED.loadavg, w.loadavg),
    sw_ident = coalesce(EXCLUDED.sw_ident, w.sw_ident),
    sw_ver = coalesce(EXCLUDED.sw_ver, w.sw_ver),
    sw_sys = coalesce(EXCLUDED.sw_sys, w.sw_sys),
    online = CASE WHEN EXCLUDED.last_seen >= w.last_seen THEN EXCLUDED.online ELSE w.online END,
    offline_at = CASE WHEN EXCLUDED.last_seen >= w.last_seen THEN EXCLUDED.offline_at ELSE w.offline_at END,
    last_seen = greatest(w.last_seen, EXCLUDED.last_seen),
    last_heartbeat = greatest(w.last_heartbeat, EXCLUDED.last_heartbeat)`;
