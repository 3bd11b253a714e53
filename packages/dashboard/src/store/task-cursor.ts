/**
 * @module store/task-cursor
 * Keyset pagination of the tasks table: a cursor names the last task of a page by its place in
 * the page's order (the sort value, its time and its uuid), and the next page starts right
 * after it with an index range instead of reading and skipping `offset` rows. Tasks that
 * arrive meanwhile do not shift the pages a reader walks.
 *
 * A cursor is opaque to clients (base64url of a small JSON array) and is bound to its sort: a
 * cursor made for one order is refused for another.
 */
import type { TaskRow, TaskSortField } from './history-store.js';

/** Where a page ends: the last row's sort value (null when it had none), time and uuid. */
export interface TaskCursor {
  readonly field: TaskSortField;
  readonly dir: 'asc' | 'desc';
  readonly value: string | number | null;
  readonly timestamp: number;
  readonly uuid: string;
}

/** A cursor that cannot be read or does not fit the query's sort. */
export class TaskCursorError extends Error {
  override readonly name = 'TaskCursorError';
}

const FIELDS: ReadonlySet<TaskSortField> = new Set(['timestamp', 'received', 'started', 'succeeded', 'runtime', 'name', 'state', 'worker']);
const NUMERIC: ReadonlySet<TaskSortField> = new Set(['timestamp', 'received', 'started', 'succeeded', 'runtime']);

/** The value of the sort column of a row. */
export function sortValue(row: TaskRow, field: TaskSortField): string | number | null {
  switch (field) {
    case 'timestamp': return row.timestamp;
    case 'received': return row.received;
    case 'started': return row.started;
    case 'succeeded': return row.succeeded;
    case 'runtime': return row.runtime;
    case 'name': return row.name;
    case 'state': return row.state;
    case 'worker': return row.worker;
  }
}

/** The cursor after `row` in the order (field, dir). */
export function encodeTaskCursor(row: TaskRow, field: TaskSortField, dir: 'asc' | 'desc'): string {
  const json = JSON.stringify([field, dir, sortValue(row, field), row.timestamp, row.uuid]);
  return Buffer.from(json, 'utf8').toString('base64url');
}

/** Reads a cursor and checks it was made for the order (field, dir); throws {@link TaskCursorError}. */
export function decodeTaskCursor(text: string, field: TaskSortField, dir: 'asc' | 'desc'): TaskCursor {
  let parsed: unknown;
  try {
    if (text.length > 2048 || !/^[A-Za-z0-9_-]+$/.test(text)) throw new Error('not base64url');
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw new TaskCursorError('invalid cursor');
  }
  if (!Array.isArray(parsed) || parsed.length !== 5) throw new TaskCursorError('invalid cursor');
  const [f, d, value, timestamp, uuid] = parsed as unknown[];
  if (typeof f !== 'string' || !FIELDS.has(f as TaskSortField) || (d !== 'asc' && d !== 'desc')) throw new TaskCursorError('invalid cursor');
  if (f !== field || d !== dir) throw new TaskCursorError(`the cursor was made for sort ${d === 'desc' ? '-' : ''}${f}, not ${dir === 'desc' ? '-' : ''}${field}`);
  const numeric = NUMERIC.has(field);
  const valueOk = value === null ? field !== 'timestamp' && field !== 'state'
    : numeric ? typeof value === 'number' && Number.isFinite(value) : typeof value === 'string';
  if (!valueOk || typeof timestamp !== 'number' || !Number.isFinite(timestamp) || typeof uuid !== 'string' || uuid.length === 0) {
    throw new TaskCursorError('invalid cursor');
  }
  return { field, dir, value: value as string | number | null, timestamp, uuid };
}
