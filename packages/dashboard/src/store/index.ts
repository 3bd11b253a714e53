/**
 * @module store
 * The dashboard's history store: {@link openHistoryStore} and the types of its rows.
 */
export { openHistoryStore, resolveHistoryStoreOptions } from './sql-history-store.js';
export type { ResolvedHistoryStoreOptions } from './sql-history-store.js';
export { COUNT_CAP, MAX_LIMIT } from './read-sql.js';
export { TaskCursorError } from './task-cursor.js';
export type {
  BackfilledResult, HistoryStore, HistoryStoreOptions, PayloadField, StoredTaskState, TaskDetail, TaskEventRow,
  TaskPage, TaskQuery, TaskRow, TaskSortField, Workflow, WorkerRow, WriteSummary,
} from './history-store.js';
