/**
 * @module store/read-sql
 * The task page query: filters, the search language, sort and a page, as one parameterised
 * statement, plus a capped count so a page of a million-row history never counts them all.
 */
import { SqlParams, searchToSql, type TextCandidates } from '../query/index.js';
import { MAX_DATE_MS, PAYLOAD_FIELDS } from './fold-events.js';
import type { PayloadField, TaskQuery, TaskRow, TaskSortField } from './history-store.js';
import { decodeTaskCursor, type TaskCursor } from './task-cursor.js';

/** Counting stops here; the page says "10,000+". */
export const COUNT_CAP = 10_000;
export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 1000;

const TIME_COLUMNS = ['sent', 'received', 'started', 'succeeded', 'failed', 'retried', 'revoked', 'state_ts'];

/** The select list of a task row; bigints come back as float8 so both drivers return numbers. */
export function taskColumns(withTraceback: boolean): string {
  return [
    'uuid', 'name', 'state', 'worker', 'queue', 'exchange', 'routing_key', 'args', 'kwargs', 'result', 'exception',
    withTraceback ? 'traceback' : 'NULL::text AS traceback', 'truncated_mask & 255 AS truncated_mask', 'eta', 'expires',
    ...TIME_COLUMNS.map((c) => `${c}::float8 AS ${c}`), 'runtime', 'retries', 'parent_id', 'root_id', 'group_id', 'source',
  ].join(', ');
}

/** The tracebacks of a page's tasks ($1: their uuids). */
export const TRACEBACKS_SQL = `SELECT uuid, traceback FROM tasks WHERE uuid = ANY($1::text[]) AND traceback IS NOT NULL`;

/** The children's ids of a page's tasks ($1: their uuids), oldest first, at most $2 a task (the parent index). */
export const CHILDREN_SQL = `
  SELECT c.parent_id, c.uuid FROM unnest($1::text[]) AS p(uuid)
  CROSS JOIN LATERAL (SELECT parent_id, uuid, coalesce(sent, received, state_ts) AS at FROM tasks WHERE parent_id = p.uuid
                      ORDER BY coalesce(sent, received, state_ts), uuid LIMIT $2) AS c
  ORDER BY c.parent_id, c.at, c.uuid`;

/** A database row as {@link TaskRow}. */
export function toTaskRow(r: Record<string, unknown>): TaskRow {
  const s = (k: string) => (r[k] ?? null) as string | null;
  const n = (k: string) => (r[k] === null || r[k] === undefined ? null : Number(r[k]));
  const mask = Number(r['truncated_mask'] ?? 0);
  const truncated: PayloadField[] = PAYLOAD_FIELDS.filter((_, i) => (mask & (1 << i)) !== 0);
  return {
    uuid: r['uuid'] as string, name: s('name'), state: r['state'] as string, worker: s('worker'), queue: s('queue'),
    exchange: s('exchange'), routingKey: s('routing_key'), args: s('args'), kwargs: s('kwargs'), result: s('result'),
    exception: s('exception'), traceback: s('traceback'), truncated, eta: s('eta'), expires: s('expires'),
    sent: n('sent'), received: n('received'), started: n('started'), succeeded: n('succeeded'), failed: n('failed'),
    retried: n('retried'), revoked: n('revoked'), timestamp: n('state_ts') ?? 0, runtime: n('runtime'),
    retries: n('retries'), parentId: s('parent_id'), rootId: s('root_id'), groupId: s('group_id'),
    source: r['source'] === 'backend' ? 'backend' : 'events',
  };
}

const SORT_COLUMNS: Readonly<Record<TaskSortField, string>> = {
  timestamp: 'state_ts', received: 'received', started: 'started', succeeded: 'succeeded',
  runtime: 'runtime', name: 'name', state: 'state', worker: 'worker',
};

const TIED_BY_TIME: ReadonlySet<string> = new Set(['name', 'worker', 'state']);

const TIME_FIELDS: Readonly<Record<NonNullable<TaskQuery['timeField']>, string>> = {
  timestamp: 'state_ts', received: 'received', started: 'started',
};

function finite(name: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new RangeError(`queryTasks: ${name} must be a finite number`);
  return value;
}

/** A time bound held within the times a Date (so a stored task) has. */
function clampTime(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : Math.min(Math.max(ms, -MAX_DATE_MS), MAX_DATE_MS);
}

/** The WHERE clause (or '') for a query; parameters go to `params`. Throws QuerySyntaxError for a bad search. */
export function whereClause(q: TaskQuery, params: SqlParams, now: number, candidates?: TextCandidates): string {
  const conds: string[] = [];
  if (q.states !== undefined && q.states.length > 0) conds.push(`state = ANY(${params.add([...q.states].map(String))}::text[])`);
  if (q.name !== undefined && q.name !== '') conds.push(`name = ${params.add(q.name)}`);
  if (q.worker !== undefined && q.worker !== '') conds.push(`worker = ${params.add(q.worker)}`);
  if (q.queue !== undefined && q.queue !== '') conds.push(`queue = ${params.add(q.queue)}`);
  const timeColumn = TIME_FIELDS[q.timeField ?? 'timestamp'];
  if (timeColumn === undefined) throw new RangeError(`queryTasks: unknown timeField ${String(q.timeField)}`);
  // Bounds past any time a task has: as a bigint parameter one was out of range, a 500.
  const from = clampTime(finite('from', q.from));
  const to = clampTime(finite('to', q.to));
  if (from !== undefined) conds.push(`${timeColumn} >= ${params.add(Math.floor(from))}`);
  if (to !== undefined) conds.push(`${timeColumn} <= ${params.add(Math.ceil(to))}`);
  const rmin = finite('runtimeMin', q.runtimeMin);
  const rmax = finite('runtimeMax', q.runtimeMax);
  if (rmin !== undefined) conds.push(`runtime >= ${params.add(rmin)}`);
  if (rmax !== undefined) conds.push(`runtime <= ${params.add(rmax)}`);
  if (q.search !== undefined && q.search.trim() !== '') {
    const sql = searchToSql(q.search, candidates === undefined ? { params, now } : { params, now, candidates });
    if (sql !== null) conds.push(sql);
  }
  return conds.length === 0 ? '' : `WHERE ${conds.join(' AND ')}`;
}

/**
 * Tasks a search first looks at, newest (or oldest) first. The planner's statistics cannot
 * tell a term in every row from a term in ten, so for a search it may collect every match
 * and sort them all; looking at the newest tasks in index order first finds a page of a
 * common term quickly, and a rare term (a page not filled) falls back to the word blocks.
 */
export const SEARCH_WINDOW = 5000;

/** How many tasks the window holds (fewer than its size when the table is smaller). */
export function windowScannedSql(size: number): string {
  return `SELECT count(*)::int AS n FROM (SELECT 1 FROM tasks ORDER BY state_ts LIMIT ${Math.floor(size)}) AS w`;
}

/**
 * A capped count whose plan costs more than this (the planner's units: about one table page
 * read each) is not run; the page reports the planner's estimate instead. A count of 10,000
 * tasks by an index costs a few thousand; the counts this stops read 100,000+ candidates.
 */
export const COUNT_COST_LIMIT = 8000;

/** The cost and estimated rows of a capped count from its `EXPLAIN (FORMAT JSON)`; null if unreadable. */
export function countEstimate(explained: unknown): { cost: number; rows: number } | null {
  const doc = typeof explained === 'string' ? (JSON.parse(explained) as unknown) : explained;
  let node = (Array.isArray(doc) ? (doc[0] as { Plan?: unknown } | undefined)?.Plan : undefined) as Record<string, unknown> | undefined;
  const cost = Number(node?.['Total Cost']);
  // The rows the LIMIT lets through: the estimate of the matches, already capped.
  while (node !== undefined && node['Node Type'] !== 'Limit') node = (node['Plans'] as Record<string, unknown>[] | undefined)?.[0];
  const rows = Number(node?.['Plan Rows']);
  return Number.isFinite(cost) && Number.isFinite(rows) ? { cost, rows: Math.round(rows) } : null;
}

/** The planner's row count of the tasks table (kept fresh by ANALYZE). */
export const ESTIMATED_ROWS_SQL = `SELECT reltuples::float8 AS n FROM pg_class WHERE oid = 'tasks'::regclass`;

/**
 * A time window that ends away from where the default order starts (a `to` when newest first,
 * a `from` when oldest first) with at most this many tasks in it is paged by sorting the
 * window's tasks instead of walking the time index: the walk would read every task between
 * the end of the history and the window (898,728 rows for a page in one plan at 1M tasks).
 */
export const NARROW_WINDOW = 50_000;

/** The statements of one tasks query. */
export interface TaskPageSql {
  /** The page; for a nullable sort column, only the tasks that have a value (see `nulls`). */
  readonly page: string;
  readonly count: string;
  /** The page within the newest {@link SEARCH_WINDOW} tasks, with a `matches` column; null when not a search in time order. */
  readonly window: string | null;
  /**
   * For a sort column that may be NULL, the second part of the order, which follows when the
   * page's part runs out, and a capped count of the first part: the tasks without a value come
   * after the others (`NULLS LAST`), except on `started` ascending, where they come first (as
   * in Flower). Null when the column cannot be NULL.
   */
  readonly nulls: { readonly page: (offset: number, limit: number) => string; readonly valued: (cap: number) => string } | null;
  /**
   * A time window far from where the time order starts: `count` counts its tasks up to
   * {@link NARROW_WINDOW} + 1 and, when they are no more, `page` is the same page by sorting them.
   */
  readonly narrow: { readonly count: string; readonly page: string } | null;
  /** True when the page starts after a cursor. */
  readonly cursor: boolean;
  readonly params: unknown[];
  readonly offset: number;
  readonly limit: number;
}

const and = (where: string, cond: string) => (where === '' ? `WHERE ${cond}` : `${where} AND ${cond}`);

/** `(a, b) < ($1, $2)` with the leading column's bound repeated, so an index on it alone is used too. */
function after(columns: readonly string[], values: readonly unknown[], dir: 'ASC' | 'DESC', params: SqlParams): string {
  const ps = values.map((v) => params.add(v));
  const lead = `${columns[0] as string} ${dir === 'DESC' ? '<=' : '>='} ${ps[0] as string}`;
  if (columns.length === 1) return `${columns[0] as string} ${dir === 'DESC' ? '<' : '>'} ${ps[0] as string}`;
  return `(${lead} AND (${columns.join(', ')}) ${dir === 'DESC' ? '<' : '>'} (${ps.join(', ')}))`;
}

/** The keyset conditions after a cursor: for the tasks with a sort value, and for those without. */
function keyset(c: TaskCursor, column: string, tied: boolean, dir: 'ASC' | 'DESC', params: SqlParams): { valued: string; nulls: string | null } {
  if (column === 'state_ts') return { valued: after(['state_ts', 'uuid'], [c.timestamp, c.uuid], dir, params), nulls: null };
  const tie = tied ? ['state_ts', 'uuid'] : ['uuid'];
  const tieValues = tied ? [c.timestamp, c.uuid] : [c.uuid];
  // The cursor is past every task with a value: only those without one, after it in their order, are left.
  if (c.value === null) {
    const nulls = after(tie, tieValues, dir, params);
    // Never true beside `IS NOT NULL`; written with the parameters, which every statement must use.
    return { valued: `(${column} IS NULL AND ${nulls})`, nulls };
  }
  return { valued: after([column, ...tie], [c.value, ...tieValues], dir, params), nulls: null };
}

/** The page and count statements for a query. */
export function taskPageSql(q: TaskQuery, now: number, windowSize = SEARCH_WINDOW, candidates?: TextCandidates): TaskPageSql {
  const params = new SqlParams();
  const base = whereClause(q, params, now, candidates);
  const sortField = q.sort?.field ?? 'timestamp';
  const column = SORT_COLUMNS[sortField];
  if (column === undefined) throw new RangeError(`queryTasks: unknown sort field ${String(sortField)}`);
  const dir = q.sort?.dir === 'asc' ? 'ASC' : 'DESC';
  const limit = Math.min(Math.max(Math.floor(finite('limit', q.limit) ?? DEFAULT_LIMIT), 0), MAX_LIMIT);
  // Postgres's OFFSET is a bigint: past 2**53 no page has rows anyway.
  const offset = Math.min(Math.max(Math.floor(finite('offset', q.offset) ?? 0), 0), Number.MAX_SAFE_INTEGER);
  const cursor = q.after !== undefined && q.after !== '' ? decodeTaskCursor(q.after, sortField, dir === 'ASC' ? 'asc' : 'desc') : null;
  // `t.` makes ORDER BY use the table's column (and its index), not the float8 output alias.
  const select = `SELECT ${taskColumns(false)} FROM tasks AS t`;
  // Ties of a name, worker or state go by time, as their indexes (column, state_ts) give them;
  // the others by uuid, so every order is total and pages never overlap.
  const tied = TIED_BY_TIME.has(column);
  const tie = tied ? `t.state_ts ${dir}, t.uuid ${dir}` : `t.uuid ${dir}`;
  // Unstarted tasks first on `started` ascending, as in Flower (a missing value sorts as 0).
  // Only there: `started` has no index, so its sort reads every match anyway; on an indexed
  // column (received, runtime) finding the few tasks without a value would read them all.
  if (dir === 'ASC' && column === 'started') return nullsFirstSql(column, tie, select, base, cursor, params, offset, limit);
  const ks = cursor === null ? null : keyset(cursor, column, tied, dir, params);
  if (column === 'state_ts' || column === 'state') {
    const where = ks === null ? base : and(base, ks.valued);
    const count = `SELECT count(*)::int AS n FROM (SELECT 1 FROM tasks ${where} LIMIT ${COUNT_CAP + 1}) AS matching`;
    const order = `ORDER BY t.${column} ${dir}, ${column === 'state' ? tie : `t.uuid ${dir}`} LIMIT ${limit} OFFSET ${offset}`;
    const searching = q.search !== undefined && q.search.trim() !== '' && column === 'state_ts';
    // The newest tasks after the cursor (all of it is in `where` too, for the count).
    const windowFrom = ks === null ? '' : `WHERE ${ks.valued}`;
    const window = searching
      ? `SELECT ${taskColumns(false)}, count(*) OVER () AS matches
         FROM (SELECT * FROM tasks ${windowFrom} ORDER BY state_ts ${dir}, uuid ${dir} LIMIT ${Math.floor(windowSize)}) AS t ${where} ${order}`
      : null;
    // An unfiltered page past the first in time order: the skipped rows are read from the
    // (state_ts, uuid) index only, and just the page's rows from the table.
    const page = column === 'state_ts' && where === '' && offset > 0
      ? `${select} WHERE t.uuid IN (SELECT uuid FROM tasks ORDER BY state_ts ${dir}, uuid ${dir} LIMIT ${limit} OFFSET ${offset}) ORDER BY t.state_ts ${dir}, t.uuid ${dir}`
      : `${select} ${where} ${order}`;
    return { page, count, window, nulls: null, narrow: narrowWindow(q, column, dir, select, where, limit, offset), cursor: cursor !== null, params: params.values, offset, limit };
  }
  // Descending, NULLS LAST, an order no single index gives both ways (an index scanned
  // backwards puts its NULLs first). So the tasks that have a value are paged on their own, in
  // an order the column's index gives either way, and the ones without a value are read only
  // for a page that reaches past the last task that has one.
  const valuedWhere = and(ks === null ? base : and(base, ks.valued), `t.${column} IS NOT NULL`);
  // After a cursor: the tasks with a value after it and all without one, or only those without after it.
  const where = ks === null ? base : and(base, ks.nulls === null ? `(${column} IS NULL OR ${ks.valued})` : `(${column} IS NULL AND ${ks.nulls})`);
  const nullWhere = and(where, `t.${column} IS NULL`);
  return {
    page: `${select} ${valuedWhere} ORDER BY t.${column} ${dir}, ${tie} LIMIT ${limit} OFFSET ${offset}`,
    count: `SELECT count(*)::int AS n FROM (SELECT 1 FROM tasks ${where} LIMIT ${COUNT_CAP + 1}) AS matching`,
    window: null,
    nulls: {
      page: (o, l) => `${select} ${nullWhere} ORDER BY ${tie} LIMIT ${Math.floor(l)} OFFSET ${Math.floor(o)}`,
      valued: (cap) => `SELECT count(*)::int AS n FROM (SELECT 1 FROM tasks AS t ${valuedWhere} LIMIT ${Math.floor(cap)}) AS valued`,
    },
    narrow: null,
    cursor: cursor !== null,
    params: params.values,
    offset,
    limit,
  };
}

/**
 * `started` ascending: the tasks without a value first, newest first among them (as Flower
 * keeps its newest-first order for equal keys), then those with one in the column's order. The first part is the page; `nulls` (the second part here) follows when it runs out.
 */
function nullsFirstSql(column: string, tie: string, select: string, base: string, cursor: TaskCursor | null, params: SqlParams, offset: number, limit: number): TaskPageSql {
  const nullOrder = 't.state_ts DESC, t.uuid DESC';
  // After a cursor without a value: the valueless after it, and every task with a value; after one with a value, only those after it.
  let where = base;
  if (cursor !== null && cursor.value === null) where = and(base, `(${column} IS NOT NULL OR ${after(['state_ts', 'uuid'], [cursor.timestamp, cursor.uuid], 'DESC', params)})`);
  else if (cursor !== null) {
    const tieColumns = tie.startsWith('t.state_ts') ? ['state_ts', 'uuid'] : ['uuid'];
    const tieValues = tieColumns.length === 2 ? [cursor.timestamp, cursor.uuid] : [cursor.uuid];
    where = and(base, after([column, ...tieColumns], [cursor.value, ...tieValues], 'ASC', params));
  }
  const nullWhere = and(where, `t.${column} IS NULL`);
  const valuedWhere = and(where, `t.${column} IS NOT NULL`);
  return {
    page: `${select} ${nullWhere} ORDER BY ${nullOrder} LIMIT ${limit} OFFSET ${offset}`,
    count: `SELECT count(*)::int AS n FROM (SELECT 1 FROM tasks ${where} LIMIT ${COUNT_CAP + 1}) AS matching`,
    window: null,
    nulls: {
      page: (o, l) => `${select} ${valuedWhere} ORDER BY t.${column} ASC, ${tie} LIMIT ${Math.floor(l)} OFFSET ${Math.floor(o)}`,
      valued: (cap) => `SELECT count(*)::int AS n FROM (SELECT 1 FROM tasks AS t ${nullWhere} LIMIT ${Math.floor(cap)}) AS valued`,
    },
    narrow: null,
    cursor: cursor !== null,
    params: params.values,
    offset,
    limit,
  };
}

/** {@link TaskPageSql.narrow} for a page in time order, or null. */
function narrowWindow(q: TaskQuery, column: string, dir: 'ASC' | 'DESC', select: string, where: string, limit: number, offset: number): TaskPageSql['narrow'] {
  const field = q.timeField ?? 'timestamp';
  if (column !== 'state_ts' || field === 'timestamp') return null;
  const bound = dir === 'DESC' ? q.to : q.from;
  if (bound === undefined) return null;
  // Only the time condition counts: `where` ends with the same condition, params and all.
  const timeColumn = TIME_FIELDS[field];
  const conds: string[] = [];
  const from = clampTime(q.from);
  const to = clampTime(q.to);
  if (from !== undefined) conds.push(`${timeColumn} >= ${Math.floor(from)}`);
  if (to !== undefined) conds.push(`${timeColumn} <= ${Math.ceil(to)}`);
  return {
    count: `SELECT count(*)::int AS n FROM (SELECT 1 FROM tasks WHERE ${conds.join(' AND ')} LIMIT ${NARROW_WINDOW + 1}) AS w`,
    // `+ 0` and `|| ''` hide the (state_ts, uuid) index from ORDER BY, so the planner reads the
    // window by its own index and sorts it: the same order, so the same page.
    // The page's uuids first: with only the window's condition they come from the received
    // index alone (it holds the time and the uuid), and just the page's rows from the table.
    page: `${select} WHERE t.uuid IN (SELECT uuid FROM tasks ${where} ORDER BY state_ts + 0 ${dir}, uuid || '' ${dir} LIMIT ${limit} OFFSET ${offset})
           ORDER BY t.state_ts ${dir}, t.uuid ${dir}`,
  };
}
