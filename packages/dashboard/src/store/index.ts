/**
 * @module store
 * The dashboard's history store: {@link openHistoryStore} and the types of its rows.
 */
export { openHistoryStore } from './sql-history-store.js';
export { resolveHistoryStoreOptions } from './store-policy.js';
export type { ResolvedHistoryStoreOptions } from './store-policy.js';
export { COUNT_CAP, MAX_LIMIT } from './read-sql.js';
export { TaskCursorError } from './task-cursor.js';
export type {
  BackfilledResult, HistoryStore, HistoryStoreOptions, PayloadField, StoredTaskState, TaskDetail, TaskEventRow,
  TaskPage, TaskQuery, TaskRow, TaskSortField, Workflow, WorkerRow, WriteSummary,
} from './history-store.js';
