/**
 * @module store/read-sql
 * The task page query: filters, the search language, sort and a page, as one parameterised
 * statement, plus a capped count so a page of a million-row history never counts them all.
 */
import { SqlParams, searchToSql } from '../query/index.js';
import { PAYLOAD_FIELDS } from './fold-events.js';
import type { PayloadField, TaskQuery, TaskRow, TaskSortField } from './history-store.js';

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

/** The WHERE clause (or '') for a query; parameters go to `params`. Throws QuerySyntaxError for a bad search. */
export function whereClause(q: TaskQuery, params: SqlParams, now: number): string {
  const conds: string[] = [];
  if (q.states !== undefined && q.states.length > 0) conds.push(`state = ANY(${params.add([...q.states].map(String))}::text[])`);
  if (q.name !== undefined && q.name !== '') conds.push(`name = ${params.add(q.name)}`);
  if (q.worker !== undefined && q.worker !== '') conds.push(`worker = ${params.add(q.worker)}`);
  if (q.queue !== undefined && q.queue !== '') conds.push(`queue = ${params.add(q.queue)}`);
  const timeColumn = TIME_FIELDS[q.timeField ?? 'timestamp'];
  if (timeColumn === undefined) throw new RangeError(`queryTasks: unknown timeField ${String(q.timeField)}`);
  const from = finite('from', q.from);
  const to = finite('to', q.to);
  if (from !== undefined) conds.push(`${timeColumn} >= ${params.add(Math.floor(from))}`);
  if (to !== undefined) conds.push(`${timeColumn} <= ${params.add(Math.ceil(to))}`);
  const rmin = finite('runtimeMin', q.runtimeMin);
  const rmax = finite('runtimeMax', q.runtimeMax);
  if (rmin !== undefined) conds.push(`runtime >= ${params.add(rmin)}`);
  if (rmax !== undefined) conds.push(`runtime <= ${params.add(rmax)}`);
  if (q.search !== undefined && q.search.trim() !== '') {
    const sql = searchToSql(q.search, { params, now });
    if (sql !== null) conds.push(sql);
  }
  return conds.length === 0 ? '' : `WHERE ${conds.join(' AND ')}`;
}

/**
 * Tasks a search first looks at, newest (or oldest) first. Trigram statistics cannot tell a
 * term in every row from a term in ten, so for a search the planner may collect every match
 * and sort them all; looking at the newest tasks in index order first finds a page of a
 * common term quickly, and a rare term (a page not filled) falls back to the index.
 */
export const SEARCH_WINDOW = 5000;

/** How many tasks the window holds (fewer than its size when the table is smaller). */
export function windowScannedSql(size: number): string {
  return `SELECT count(*)::int AS n FROM (SELECT 1 FROM tasks ORDER BY state_ts LIMIT ${Math.floor(size)}) AS w`;
}

/** The planner's row count of the tasks table (kept fresh by ANALYZE). */
export const ESTIMATED_ROWS_SQL = `SELECT reltuples::float8 AS n FROM pg_class WHERE oid = 'tasks'::regclass`;

/** The statements of one tasks query. */
export interface TaskPageSql {
  /** The page; for a nullable sort column, only the tasks that have a value (see `nulls`). */
  readonly page: string;
  readonly count: string;
  /** The page within the newest {@link SEARCH_WINDOW} tasks, with a `matches` column; null when not a search in time order. */
  readonly window: string | null;
  /**
   * For a sort column that may be NULL: the tasks without a value, which come after all the
   * others (`NULLS LAST`), and a capped count of those with one. Null when the column cannot be NULL.
   */
  readonly nulls: { readonly page: (offset: number, limit: number) => string; readonly valued: (cap: number) => string } | null;
  readonly params: unknown[];
  readonly offset: number;
  readonly limit: number;
}

const and = (where: string, cond: string) => (where === '' ? `WHERE ${cond}` : `${where} AND ${cond}`);

/** The page and count statements for a query. */
export function taskPageSql(q: TaskQuery, now: number, windowSize = SEARCH_WINDOW): TaskPageSql {
  const params = new SqlParams();
  const where = whereClause(q, params, now);
  const sortField = q.sort?.field ?? 'timestamp';
  const column = SORT_COLUMNS[sortField];
  if (column === undefined) throw new RangeError(`queryTasks: unknown sort field ${String(sortField)}`);
  const dir = q.sort?.dir === 'asc' ? 'ASC' : 'DESC';
  const limit = Math.min(Math.max(Math.floor(finite('limit', q.limit) ?? DEFAULT_LIMIT), 0), MAX_LIMIT);
  const offset = Math.max(Math.floor(finite('offset', q.offset) ?? 0), 0);
  const count = `SELECT count(*)::int AS n FROM (SELECT 1 FROM tasks ${where} LIMIT ${COUNT_CAP + 1}) AS matching`;
  // `t.` makes ORDER BY use the table's column (and its index), not the float8 output alias.
  const select = `SELECT ${taskColumns(false)} FROM tasks AS t`;
  // Ties of a name, worker or state go by time, as their indexes (column, state_ts) give them;
  // the others by uuid, so every order is total and pages never overlap.
  const tie = TIED_BY_TIME.has(column) ? `t.state_ts ${dir}, t.uuid ${dir}` : `t.uuid ${dir}`;
  if (column === 'state_ts' || column === 'state') {
    const order = `ORDER BY t.${column} ${dir}, ${column === 'state' ? tie : `t.uuid ${dir}`} LIMIT ${limit} OFFSET ${offset}`;
    const searching = q.search !== undefined && q.search.trim() !== '' && column === 'state_ts';
    const window = searching
      ? `SELECT ${taskColumns(false)}, count(*) OVER () AS matches
         FROM (SELECT * FROM tasks ORDER BY state_ts ${dir} LIMIT ${Math.floor(windowSize)}) AS t ${where} ${order}`
      : null;
    // An unfiltered page past the first in time order: the skipped rows are read from the
    // (state_ts, uuid) index only, and just the page's rows from the table.
    const page = column === 'state_ts' && where === '' && offset > 0
      ? `${select} WHERE t.uuid IN (SELECT uuid FROM tasks ORDER BY state_ts ${dir}, uuid ${dir} LIMIT ${limit} OFFSET ${offset}) ORDER BY t.state_ts ${dir}, t.uuid ${dir}`
      : `${select} ${where} ${order}`;
    return { page, count, window, nulls: null, params: params.values, offset, limit };
  }
  // A nullable column sorts NULLS LAST in both directions, an order no single index gives both
  // ways (an index scanned backwards puts its NULLs first). So the tasks that have a value are
  // paged on their own, in an order the column's index gives either way, and the ones without
  // a value are read only for a page that reaches past the last task that has one.
  const valuedWhere = and(where, `t.${column} IS NOT NULL`);
  const nullWhere = and(where, `t.${column} IS NULL`);
  return {
    page: `${select} ${valuedWhere} ORDER BY t.${column} ${dir}, ${tie} LIMIT ${limit} OFFSET ${offset}`,
    count,
    window: null,
    nulls: {
      page: (o, l) => `${select} ${nullWhere} ORDER BY ${tie} LIMIT ${Math.floor(l)} OFFSET ${Math.floor(o)}`,
      valued: (cap) => `SELECT count(*)::int AS n FROM (SELECT 1 FROM tasks AS t ${valuedWhere} LIMIT ${Math.floor(cap)}) AS valued`,
    },
    params: params.values,
    offset,
    limit,
  };
}
