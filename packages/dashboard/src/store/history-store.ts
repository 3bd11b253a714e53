/**
 * @module store/history-store
 * The dashboard's memory of the cluster: one interface over the embedded database
 * (PGlite in a data directory, the default, so `celeriac flower` alone keeps its history)
 * and Postgres (by `DATABASE_URL`). Both run the same SQL.
 *
 * The store is fed raw Celery event dicts (`task-*` and `worker-*`, exactly as the event
 * receiver delivers them, in batches) and folds them into one row per task, a timeline
 * of task events and one row per worker. Memory stays bounded whatever the history size:
 * every read is paginated or capped, retention deletes in batches.
 *
 * Times in and out of the store are epoch milliseconds (Celery events carry epoch
 * seconds in `timestamp`; the store converts).
 */
import type { PGlite } from '@electric-sql/pglite';
import type { EventDict, WorkerRecord } from 'celeriac/monitor';
import type { EventFolder, FoldedBatch } from './fold-events.js';

/** A task's state as stored: Celery's states, `LOST` (its worker died while it ran), or a custom one. */
export type StoredTaskState = string;

/** Payload fields that may be cut to the preview cap. */
export type PayloadField = 'args' | 'kwargs' | 'result' | 'exception' | 'traceback';

/** One task, folded from all its events (and backfilled results). */
export interface TaskRow {
  readonly uuid: string;
  readonly name: string | null;
  readonly state: StoredTaskState;
  /** Node name of the worker that received it. */
  readonly worker: string | null;
  /** Queue it was sent to (task-sent `queue`, else the routing key). */
  readonly queue: string | null;
  readonly exchange: string | null;
  readonly routingKey: string | null;
  /** Reprs/JSON text as the events carry them, cut to the payload cap (see `truncated`). */
  readonly args: string | null;
  readonly kwargs: string | null;
  readonly result: string | null;
  readonly exception: string | null;
  /** Null in {@link TaskPage} rows (only {@link HistoryStore.getTask} returns it). */
  readonly traceback: string | null;
  /** Fields stored as a preview only; the full value lives in the result backend. */
  readonly truncated: readonly PayloadField[];
  readonly eta: string | null;
  readonly expires: string | null;
  /** Epoch ms of each event kind seen, null when not seen. */
  readonly sent: number | null;
  readonly received: number | null;
  readonly started: number | null;
  readonly succeeded: number | null;
  readonly failed: number | null;
  readonly retried: number | null;
  readonly revoked: number | null;
  /** Epoch ms of the event that set the current state. */
  readonly timestamp: number;
  /** Run time in seconds (task-succeeded / task-failed). */
  readonly runtime: number | null;
  readonly retries: number | null;
  readonly parentId: string | null;
  readonly rootId: string | null;
  readonly groupId: string | null;
  /** Where the row came from last: events, or a backfill from the result backend. */
  readonly source: 'events' | 'backend';
}

/** One task event in a task's timeline. */
export interface TaskEventRow {
  /** `task-received`, `task-started`, ... */
  readonly type: string;
  /** Event time, epoch ms. */
  readonly timestamp: number;
  readonly hostname: string | null;
  /** The event's other fields (payload fields cut to the cap). */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** A worker as its last events describe it (the engine's fields, as celeriac/monitor's WorkerRecord names them, plus what the store keeps). */
export interface WorkerRow extends Pick<WorkerRecord, 'hostname' | 'pid' | 'active' | 'processed' | 'loadavg' | 'swIdent' | 'swVer' | 'swSys'> {
  readonly online: boolean;
  /** Heartbeat interval, seconds (null before a heartbeat said it). */
  readonly freq: number | null;
  /** Epoch ms. */
  readonly firstSeen: number;
  readonly lastHeartbeat: number | null;
  readonly offlineAt: number | null;
}

/** Sort keys of {@link TaskQuery}. */
export type TaskSortField = 'timestamp' | 'received' | 'started' | 'succeeded' | 'runtime' | 'name' | 'state' | 'worker';

/** Filters of the tasks table and `/api/tasks`. Every field is optional; all given fields must hold. */
export interface TaskQuery {
  /** Any of these states. */
  readonly states?: readonly string[];
  /** Exact task name. */
  readonly name?: string;
  /** Exact worker node name. */
  readonly worker?: string;
  readonly queue?: string;
  /** Time range (epoch ms, inclusive) on `timeField`. */
  readonly from?: number;
  readonly to?: number;
  /** @default 'timestamp' */
  readonly timeField?: 'timestamp' | 'received' | 'started';
  /** Runtime range, seconds, inclusive. */
  readonly runtimeMin?: number;
  readonly runtimeMax?: number;
  /** The search language (src/query); a bad query throws `QuerySyntaxError`. */
  readonly search?: string;
  /** @default { field: 'timestamp', dir: 'desc' } */
  readonly sort?: { readonly field: TaskSortField; readonly dir: 'asc' | 'desc' };
  /** @default 0 (with `after`: rows skipped after the cursor) */
  readonly offset?: number;
  /**
   * A page's `nextCursor`: this page starts right after that page's last task, in the same
   * sort (keyset pagination: no rows are read to skip them, and tasks that arrive meanwhile do
   * not shift pages). `total` then counts the matching tasks from the cursor on.
   */
  readonly after?: string;
  /** @default 50, at most 1000 */
  readonly limit?: number;
}

/** One page of tasks. */
export interface TaskPage {
  readonly rows: readonly TaskRow[];
  /** Matching tasks, counted up to a cap so counting never scans a million rows. */
  readonly total: number;
  /** False when `total` hit the cap ("10,000+") or is an estimate. */
  readonly totalExact: boolean;
  /**
   * True when counting would have read too much and `total` is the planner's estimate
   * (still capped: "about 4,000", or "10,000+" when the estimate passes the cap).
   */
  readonly totalEstimated: boolean;
  /** The `after` of the next page; null when this page ends the matches. */
  readonly nextCursor: string | null;
}

/** A task with its timeline and direct children. */
export interface TaskDetail {
  readonly task: TaskRow;
  /** Oldest first, at most 1000. */
  readonly events: readonly TaskEventRow[];
  /** Tasks whose parent is this one, oldest first, at most 1000. */
  readonly children: readonly TaskRow[];
}

/**
 * Every task of one workflow (linked by root, parent or group id, transitively: store/workflow-sql),
 * for drawing the tree from `parentId`.
 */
export interface Workflow {
  /** The root id of the task asked for (its own id when it has none or is not stored). */
  readonly rootId: string;
  readonly tasks: readonly TaskRow[];
  /** True when the workflow had more tasks than the limit. */
  readonly truncated: boolean;
}

/** A result read from the result backend, for backfill on first start. */
export interface BackfilledResult {
  readonly uuid: string;
  readonly state: string;
  /** Epoch ms (`date_done`). */
  readonly dateDone?: number | null;
  readonly name?: string | null;
  readonly args?: string | null;
  readonly kwargs?: string | null;
  readonly result?: string | null;
  readonly traceback?: string | null;
  readonly worker?: string | null;
  readonly queue?: string | null;
  readonly retries?: number | null;
  readonly parentId?: string | null;
  readonly rootId?: string | null;
  readonly groupId?: string | null;
}

/** What one {@link HistoryStore.writeEvents} call changed. */
export interface WriteSummary {
  readonly tasks: number;
  readonly workers: number;
  /** Events that were not task or worker events, or had no uuid/hostname. */
  readonly ignored: number;
}

/** Retention and caps of a store. */
export interface HistoryStoreOptions {
  /** Postgres URL (`postgres://...`); when absent, the embedded database is used. */
  readonly databaseUrl?: string;
  /** Embedded database directory (created when missing); absent: in memory, lost at close. */
  readonly dataDir?: string;
  /**
   * An open PGlite instance to use instead of opening one (it must have been created with the
   * pg_trgm extension for indexed text search). The store sets its search path and does not
   * close it; use one store per instance at a time.
   */
  readonly pglite?: PGlite;
  /** Postgres schema holding the tables (created when missing). @default 'celeriac_dashboard' */
  readonly schema?: string;
  /** Longest stored payload field, in characters; longer ones keep a preview. @default 16384 */
  readonly payloadCap?: number;
  /** Tasks older than this are deleted by `prune()` (failed ones: `failureMaxAgeMs`). @default 7 days */
  readonly maxAgeMs?: number;
  /** @default 30 days */
  readonly failureMaxAgeMs?: number;
  /**
   * Newest tasks a search looks at in time order before it falls back to its indexes (a page
   * of a common term is found there quickly; the planner cannot tell common from rare).
   * @default 5000
   */
  readonly searchWindow?: number;
  /**
   * A page's count whose plan the planner costs above this is not run: the page reports the
   * planner's estimate (`totalEstimated`). 0 estimates every count that is not free.
   * @default 8000
   */
  readonly countCostLimit?: number;
  /** Most tasks kept (Flower's `--max-tasks`); `prune()` deletes the oldest beyond. @default 1_000_000 */
  readonly maxTasks?: number;
}

/** The dashboard's history. */
export interface HistoryStore {
  readonly kind: 'pglite' | 'postgres';
  /** Folds a batch of raw Celery events into tasks, timeline and workers, in one transaction. */
  writeEvents(events: readonly EventDict[]): Promise<WriteSummary>;
  /** A folder with this store's caps, for a writer that folds events as they arrive (the ingest). */
  newFolder(): EventFolder;
  /** Writes what a folder from {@link newFolder} took, in one transaction. */
  writeFolded(batch: FoldedBatch): Promise<WriteSummary>;
  /** Results from the result backend; fills in what events did not say, never moves a state back. */
  backfill(results: readonly BackfilledResult[]): Promise<number>;
  /** Marks the unfinished tasks (RECEIVED, STARTED, custom states: the engine's `canBeLost`) of a worker that went offline as LOST. */
  markLost(worker: string, at: number): Promise<number>;
  queryTasks(query: TaskQuery): Promise<TaskPage>;
  getTask(uuid: string): Promise<TaskDetail | null>;
  /**
   * What list rows leave out, for a page of tasks (Flower's `/api/tasks` has them): each
   * task's traceback and its children's ids (oldest first, at most 1000 a task).
   */
  taskExtras(uuids: readonly string[]): Promise<ReadonlyMap<string, { readonly traceback: string | null; readonly children: readonly string[] }>>;
  /**
   * Sets the group id of stored tasks that have none (read from their results: Python
   * workers' events name no group). Returns the tasks changed.
   */
  linkGroups(links: readonly { readonly uuid: string; readonly groupId: string }[]): Promise<number>;
  /** The workflow `taskId` belongs to (chains, groups, chords, nested). @param limit @default 1000 */
  getWorkflow(taskId: string, limit?: number): Promise<Workflow>;
  listWorkers(): Promise<readonly WorkerRow[]>;
  /** Task counts by state (for metrics and the overview). */
  countByState(): Promise<Readonly<Record<string, number>>>;
  /** Applies retention (age, state, `maxTasks`) in bounded batches; returns tasks deleted. */
  prune(now?: number): Promise<number>;
  /** One trivial statement: rejects while the database cannot answer (readiness, `/readyz`). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
