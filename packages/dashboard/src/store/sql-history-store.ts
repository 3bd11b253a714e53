/**
 * @module store/sql-history-store
 * The {@link HistoryStore} both databases share: everything is SQL over a {@link SqlDriver}.
 */
import { LOSABLE_RANKS, LOST_STATE, type EventDict } from 'celeriac/monitor';
import { EventFolder, foldEvents, parseTimeline, stateRank, type FoldedBatch, type TaskWrite } from './fold-events.js';
import type {
  BackfilledResult, HistoryStore, HistoryStoreOptions, TaskDetail, TaskEventRow, TaskPage, TaskQuery, Workflow, WorkerRow, WriteSummary,
} from './history-store.js';
import { hasWordBlocks, migrate } from './schema.js';
import { toSqlJson } from './sql-json.js';
import { openPgliteDriver, openPostgresDriver, type SqlDriver, type SqlRunner } from './sql-driver.js';
import {
  CHILDREN_SQL, COUNT_CAP, countEstimate, ESTIMATED_ROWS_SQL, NARROW_WINDOW, taskColumns, taskPageSql, toTaskRow, TRACEBACKS_SQL, windowScannedSql,
} from './read-sql.js';
import { encodeTaskCursor } from './task-cursor.js';
import { analyzeDue, KEPT_LONGER, resolveHistoryStoreOptions, vacuumDue, type ResolvedHistoryStoreOptions } from './store-policy.js';
import { LINK_GROUPS_SQL, readWorkflow } from './workflow-sql.js';
import { containsPattern, parseQuery, searchTextTerms, termWords, type TextCandidates } from '../query/index.js';
import { blockCandidates, BLOCKS_INSERT_SQL, BLOCKS_OF_WORD_SQL, chooseRareWords, type RareWord, LOOKED_UP_WORDS, NARROW_BLOCKS, SWEEP_SQL, wordBlocks } from './word-blocks.js';
import { taskUpsertSql, TIMELINE_INSERT_SQL, timelineParams, WORKERS_UPSERT_SQL } from './write-sql.js';

// Text terms of one search whose words are looked up in the word blocks.
const LOOKED_UP_TERMS = 4;
/** Word blocks examined by one retention statement, and by one prune at most. */
export interface BlockSweep {
  readonly batch: number;
  readonly max: number;
}
const SWEEP: BlockSweep = { batch: 2000, max: 100_000 };
// Rows per write statement and per retention delete: bounds one statement's memory.
const WRITE_CHUNK = 5000;
const PRUNE_BATCH = 5000;
const TIMELINE_CAP = 1024;
const DETAIL_LIMIT = 1000;
/** Orders rows by a text column (any fixed order will do, so long as every write follows it). */
const byKey = <K extends string>(key: K) => (a: Record<K, string>, b: Record<K, string>): number => (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : 0);

function chunks<T>(rows: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

class SqlHistoryStore implements HistoryStore {
  #closed = false;
  #sinceAnalyze = 0;
  #analyzedRows = 0;
  /** The ANALYZE in flight, if any (one at a time; close waits for it). */
  #analyzing: Promise<void> | undefined;
  /** The last word block the retention sweep examined (0: start over). */
  #sweptTo = 0;
  /** Task rows retention deleted since the last VACUUM. */
  #deletedSinceVacuum = 0;

  constructor(
    readonly db: SqlDriver,
    readonly options: ResolvedHistoryStoreOptions,
    /** Whether free text is indexed by word blocks (store/word-blocks); else searches scan. */
    readonly blocks: boolean,
    readonly sweep: BlockSweep,
  ) {}

  get kind(): 'pglite' | 'postgres' {
    return this.db.kind;
  }

  #open(): void {
    if (this.#closed) throw new Error('HistoryStore: closed');
  }

  writeEvents(events: readonly EventDict[]): Promise<WriteSummary> {
    return this.writeFolded(foldEvents(events, { payloadCap: this.options.payloadCap, timelineCap: TIMELINE_CAP, now: Date.now() }));
  }

  newFolder(): EventFolder {
    return new EventFolder({ payloadCap: this.options.payloadCap, timelineCap: TIMELINE_CAP });
  }

  async writeFolded(batch: FoldedBatch): Promise<WriteSummary> {
    this.#open();
    // Rows in key order: two writes at once that share rows (the ingest's write buffer keeps
    // its own apart, but a backfill or a second dashboard on the same database may not) lock
    // them in the same order, so one waits for the other instead of a deadlock.
    batch.tasks.sort(byKey('uuid'));
    batch.workers.sort(byKey('hostname'));
    // A batch may bring timeline entries without their task's row (held for the next batch
    // while a write in flight has it: ingest/write-buffer).
    if (batch.tasks.length > 0 || batch.workers.length > 0 || batch.events.length > 0) {
      const upsert = taskUpsertSql('incoming', 'events');
      await this.db.transaction(async (tx) => {
        // The history is a monitor's record, not the system of record: a crash of the database
        // server may lose the last fraction of a second of events (the data stays consistent),
        // and in exchange a batch does not wait for its WAL flush. Measured at 30,000 tasks
        // under load 17: commit time 1.8 s -> 0.1 s of 13.6 s (bench/dashboard/README.md).
        await tx.query('SET LOCAL synchronous_commit = off');
        for (const part of chunks(batch.tasks, WRITE_CHUNK)) await this.#writeTasks(tx, upsert, part);
        for (const param of timelineParams(batch.events, WRITE_CHUNK)) await tx.query(TIMELINE_INSERT_SQL, [param]);
        if (batch.workers.length > 0) await tx.query(WORKERS_UPSERT_SQL, [toSqlJson(batch.workers)]);
      });
    }
    this.#sinceAnalyze += batch.tasks.length;
    if (this.#analyzing === undefined && analyzeDue(this.#sinceAnalyze, this.#analyzedRows)) {
      this.#analyzing = this.#analyze().finally(() => {
        this.#analyzing = undefined;
      });
    }
    return { tasks: batch.tasks.length, workers: batch.workers.length, ignored: batch.ignored };
  }

  /** Upserts task rows and adds their word blocks (in the caller's transaction, for an event batch). */
  async #writeTasks(db: SqlRunner, upsert: string, rows: readonly TaskWrite[]): Promise<void> {
    await db.query(upsert, [toSqlJson(rows)]);
    const blocks = this.blocks ? wordBlocks(rows) : null;
    if (blocks !== null) await db.query(BLOCKS_INSERT_SQL, [blocks]);
  }

  /**
   * Refreshes the planner's statistics of the tasks table. PGlite has no autovacuum: without
   * them the planner picks bad plans as the history grows (on Postgres this only repeats what
   * autovacuum does). It runs beside the writes, not in their path: at 1M tasks one run takes
   * 0.4-0.7 s of the backend's CPU, a stall the ingest's bounded buffers cannot absorb at
   * 30,000 events/s (on Postgres it runs on another pooled connection, so on another core).
   * The batch it follows is committed whatever it does: a failed run is retried after the next
   * write instead of failing that write (which would have written the batch again).
   */
  async #analyze(): Promise<void> {
    const counted = this.#sinceAnalyze;
    this.#sinceAnalyze = 0;
    try {
      await this.db.query('ANALYZE tasks');
      this.#analyzedRows = (await this.db.query<{ n: number }>(ESTIMATED_ROWS_SQL))[0]?.n ?? 0;
    } catch {
      this.#sinceAnalyze += counted;
    }
  }

  async backfill(results: readonly BackfilledResult[]): Promise<number> {
    this.#open();
    const now = Date.now();
    const rows = new Map<string, TaskWrite>();
    for (const r of results) {
      if (typeof r?.uuid !== 'string' || r.uuid.length === 0 || r.uuid.length > 255 || typeof r.state !== 'string') continue;
      rows.set(r.uuid, this.#backfillRow(r, now));
    }
    const upsert = taskUpsertSql('stored', 'backend');
    for (const part of chunks([...rows.values()], WRITE_CHUNK)) await this.db.transaction((tx) => this.#writeTasks(tx, upsert, part));
    return rows.size;
  }

  #backfillRow(r: BackfilledResult, now: number): TaskWrite {
    const at = typeof r.dateDone === 'number' && Number.isFinite(r.dateDone) ? Math.round(r.dateDone) : now;
    const state = r.state.toUpperCase().slice(0, 64);
    // Folding a synthetic event reuses the caps, the repr parsing and the masks.
    const event: Record<string, unknown> = {
      type: 'task-backfilled', uuid: r.uuid, timestamp: at / 1000, name: r.name, args: r.args, kwargs: r.kwargs,
      result: state === 'SUCCESS' ? r.result : undefined, exception: state === 'SUCCESS' ? undefined : r.result,
      traceback: r.traceback, hostname: r.worker, queue: r.queue, retries: r.retries, parent_id: r.parentId,
      root_id: r.rootId, group_id: r.groupId,
    };
    const row = foldEvents([event as EventDict], { payloadCap: this.options.payloadCap, timelineCap: TIMELINE_CAP, now }).tasks[0] as TaskWrite;
    row.state = state;
    row.state_rank = stateRank(state);
    row.state_ts = at;
    if (state === 'SUCCESS') row.succeeded = at;
    else if (state === 'FAILURE') row.failed = at;
    else if (state === 'REVOKED') row.revoked = at;
    return row;
  }

  async markLost(worker: string, at: number): Promise<number> {
    this.#open();
    const rows = await this.db.query<{ n: number }>(
      `WITH lost AS (
         UPDATE tasks SET state = 'LOST', state_rank = $3, state_ts = $2, last_seen = greatest(last_seen, $2)
         WHERE worker = $1 AND state_rank BETWEEN $4 AND $5 RETURNING 1)
       SELECT count(*)::int AS n FROM lost`,
      // The ranks `canBeLost` accepts: RECEIVED, STARTED and custom states (PROGRESS...).
      [worker, Math.round(at), stateRank(LOST_STATE), LOSABLE_RANKS[0], LOSABLE_RANKS[1]],
    );
    return rows[0]?.n ?? 0;
  }

  async queryTasks(query: TaskQuery): Promise<TaskPage> {
    this.#open();
    const size = this.options.searchWindow;
    const plan = taskPageSql(query, Date.now(), size, await this.#textCandidates(query.search));
    const sort = query.sort ?? { field: 'timestamp', dir: 'desc' };
    const done = (rows: Record<string, unknown>[], n: number, how: 'exact' | 'capped' | 'estimated' = 'exact'): TaskPage => {
      const tasks = rows.map(toTaskRow);
      const last = tasks[tasks.length - 1];
      // A page that is not full ends the matches.
      const more = last !== undefined && tasks.length >= plan.limit;
      return {
        rows: tasks, total: Math.min(n, COUNT_CAP), totalExact: how === 'exact' && n <= COUNT_CAP, totalEstimated: how === 'estimated',
        nextCursor: more ? encodeTaskCursor(last, sort.field, sort.dir === 'asc' ? 'asc' : 'desc') : null,
      };
    };
    const counted = async (rows: Record<string, unknown>[]): Promise<TaskPage> => {
      const c = await this.#count(plan.count, plan.params);
      return done(rows, c.n, c.estimated ? 'estimated' : 'exact');
    };
    if (plan.window !== null) {
      const rows = await this.db.query(plan.window, plan.params);
      const matches = Number(rows[0]?.['matches'] ?? 0);
      // After a cursor the window is never taken for the whole rest: a short page falls through to the indexes.
      const scanned = plan.cursor ? size : ((await this.db.query<{ n: number }>(windowScannedSql(size)))[0]?.n ?? 0);
      // The window held every task: its page and count are the answer.
      if (scanned < size && (rows.length > 0 || (query.offset ?? 0) <= 0)) return done(rows, matches);
      if (rows.length >= plan.limit && plan.limit > 0) {
        if (matches > COUNT_CAP) return done(rows, matches);
        // As many matches among the newest as would pass the cap over the whole table: say
        // "10,000+" rather than count a common term across a million rows.
        const estimated = (await this.db.query<{ n: number }>(ESTIMATED_ROWS_SQL))[0]?.n ?? 0;
        if ((matches * Math.max(estimated, scanned)) / size > COUNT_CAP) return done(rows, COUNT_CAP + 1, 'capped');
        return counted(rows);
      }
    }
    let page = plan.page;
    if (plan.narrow !== null && ((await this.db.query<{ n: number }>(plan.narrow.count))[0]?.n ?? 0) <= NARROW_WINDOW) page = plan.narrow.page;
    const rows = await this.db.query(page, plan.params);
    if (plan.nulls !== null && rows.length < plan.limit) {
      // The tasks with a value ran out on this page: the ones without follow. Those with a
      // value before it are `offset + rows` when this page has some, else counted (at most offset).
      const valued = rows.length > 0 || plan.offset === 0
        ? plan.offset + rows.length
        : ((await this.db.query<{ n: number }>(plan.nulls.valued(plan.offset), plan.params))[0]?.n ?? 0);
      rows.push(...(await this.db.query(plan.nulls.page(Math.max(0, plan.offset - valued), plan.limit - rows.length), plan.params)));
    }
    // A page that is not full ends the matches: its end is the total, with no count.
    if (rows.length < plan.limit && (rows.length > 0 || plan.offset === 0)) return done(rows, plan.offset + rows.length);
    return counted(rows);
  }

  /**
   * The word blocks' candidates for the text terms of a search (at most a few): for each, the
   * words whose blocks give them ({@link chooseRareWords}), one capped lookup per word, the
   * longest first, until one is narrow enough.
   */
  async #textCandidates(search: string | undefined): Promise<TextCandidates | undefined> {
    if (!this.blocks || search === undefined || search.trim() === '') return undefined;
    const node = parseQuery(search);
    if (node === null) return undefined;
    const out = new Map<string, readonly RareWord[]>();
    for (const term of [...new Set(searchTextTerms(node).map((t) => t.toLowerCase()))].slice(0, LOOKED_UP_TERMS)) {
      const found: RareWord[] = [];
      for (const word of termWords(term).sort((a, b) => b.length - a.length).slice(0, LOOKED_UP_WORDS)) {
        const rows = await this.db.query<{ id: number }>(BLOCKS_OF_WORD_SQL, [containsPattern(word)]);
        found.push({ word, blocks: rows.map((r) => Number(r.id)) });
        if (rows.length <= NARROW_BLOCKS) break;
      }
      const words = chooseRareWords(found);
      if (words.length > 0) out.set(term, words);
    }
    return blockCandidates(out);
  }

  /**
   * The capped count, or the planner's estimate of it when counting would cost more than
   * `countCostLimit` (a count that reads hundreds of thousands of candidates to find a
   * few thousand matches). The plan's cost is deterministic for given statistics.
   */
  async #count(sql: string, params: unknown[]): Promise<{ n: number; estimated: boolean }> {
    const explained = await this.db.query<Record<string, unknown>>(`EXPLAIN (FORMAT JSON) ${sql}`, params);
    const estimate = countEstimate(Object.values(explained[0] ?? {})[0]);
    if (estimate !== null && estimate.cost > this.options.countCostLimit) return { n: estimate.rows, estimated: true };
    return { n: (await this.db.query<{ n: number }>(sql, params))[0]?.n ?? 0, estimated: false };
  }

  async getTask(uuid: string): Promise<TaskDetail | null> {
    this.#open();
    const found = await this.db.query(`SELECT ${taskColumns(true)} FROM tasks WHERE uuid = $1`, [uuid]);
    if (found.length === 0) return null;
    const timeline = await this.db.query<{ entries: string }>(
      `SELECT entries FROM task_timeline WHERE uuid = $1 ORDER BY ts LIMIT ${DETAIL_LIMIT}`,
      [uuid],
    );
    const events = parseTimeline(timeline.map((r) => r.entries), DETAIL_LIMIT);
    const children = await this.db.query(
      `SELECT ${taskColumns(false)} FROM tasks WHERE parent_id = $1 ORDER BY coalesce(sent, received, state_ts), uuid LIMIT ${DETAIL_LIMIT}`,
      [uuid],
    );
    return {
      task: toTaskRow(found[0] as Record<string, unknown>),
      events: events.map((e): TaskEventRow => ({ type: e.type, timestamp: e.ts, hostname: e.hostname, fields: e.fields })),
      children: children.map(toTaskRow),
    };
  }

  async taskExtras(uuids: readonly string[]): Promise<ReadonlyMap<string, { traceback: string | null; children: string[] }>> {
    this.#open();
    const out = new Map(uuids.map((u) => [u, { traceback: null as string | null, children: [] as string[] }]));
    if (out.size === 0) return out;
    const ids = [...out.keys()];
    for (const r of await this.db.query<{ uuid: string; traceback: string }>(TRACEBACKS_SQL, [ids])) (out.get(r.uuid) as { traceback: string | null }).traceback = r.traceback;
    for (const r of await this.db.query<{ parent_id: string; uuid: string }>(CHILDREN_SQL, [ids, DETAIL_LIMIT])) out.get(r.parent_id)?.children.push(r.uuid);
    return out;
  }

  async linkGroups(links: readonly { readonly uuid: string; readonly groupId: string }[]): Promise<number> {
    this.#open();
    if (links.length === 0) return 0;
    const rows = await this.db.query<{ n: number }>(LINK_GROUPS_SQL, [toSqlJson(links.map((l) => ({ uuid: l.uuid, group_id: l.groupId })))]);
    return rows[0]?.n ?? 0;
  }

  async getWorkflow(taskId: string, limit = DETAIL_LIMIT): Promise<Workflow> {
    this.#open();
    return readWorkflow(this.db, taskId, limit);
  }

  async listWorkers(): Promise<readonly WorkerRow[]> {
    this.#open();
    const rows = await this.db.query(
      `SELECT hostname, online, pid, freq, active, processed::float8 AS processed, loadavg, sw_ident, sw_ver, sw_sys,
              first_seen::float8 AS first_seen, last_heartbeat::float8 AS last_heartbeat, offline_at::float8 AS offline_at
       FROM workers ORDER BY hostname LIMIT 10000`,
    );
    return rows.map((r) => ({
      hostname: r['hostname'] as string,
      online: r['online'] === true,
      pid: (r['pid'] as number | null) ?? null,
      freq: (r['freq'] as number | null) ?? null,
      active: (r['active'] as number | null) ?? null,
      processed: (r['processed'] as number | null) ?? null,
      loadavg: typeof r['loadavg'] === 'string' ? (JSON.parse(r['loadavg']) as number[]) : null,
      swIdent: (r['sw_ident'] as string | null) ?? null,
      swVer: (r['sw_ver'] as string | null) ?? null,
      swSys: (r['sw_sys'] as string | null) ?? null,
      firstSeen: Number(r['first_seen']),
      lastHeartbeat: (r['last_heartbeat'] as number | null) ?? null,
      offlineAt: (r['offline_at'] as number | null) ?? null,
    }));
  }

  async ping(): Promise<void> {
    this.#open();
    await this.db.query('SELECT 1');
  }

  async countByState(): Promise<Readonly<Record<string, number>>> {
    this.#open();
    const rows = await this.db.query<{ state: string; n: number }>('SELECT state, count(*)::int AS n FROM tasks GROUP BY state');
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  async prune(now = Date.now()): Promise<number> {
    this.#open();
    const o = this.options;
    let deleted = 0;
    deleted += await this.#deleteWhile(`state_ts < $1 AND NOT (state = ANY($2::text[]))`, [Math.floor(now - o.maxAgeMs), KEPT_LONGER]);
    deleted += await this.#deleteWhile(`state_ts < $1`, [Math.floor(now - o.failureMaxAgeMs)]);
    const over = await this.db.query<{ ts: number }>(`SELECT state_ts::float8 AS ts FROM tasks ORDER BY state_ts DESC, uuid DESC OFFSET $1 LIMIT 1`, [o.maxTasks]);
    const cutoff = over[0]?.ts;
    if (cutoff !== undefined) deleted += await this.#deleteWhile(`state_ts <= $1`, [cutoff]);
    await this.db.query(`DELETE FROM workers WHERE NOT online AND last_seen < $1`, [Math.floor(now - o.maxAgeMs)]);
    // A sweep goes on after this prune's deletions, or where the last one stopped.
    if (this.blocks && (deleted > 0 || this.#sweptTo > 0)) await this.#sweepBlocks();
    this.#deletedSinceVacuum += deleted;
    if (vacuumDue(this.#deletedSinceVacuum, (await this.db.query<{ n: number }>(ESTIMATED_ROWS_SQL))[0]?.n ?? 0)) await this.#vacuum();
    return deleted;
  }

  /**
   * Makes the space of deleted rows reusable. PGlite has no autovacuum, and a Postgres server
   * may have it off: without this, a history at its cap grows on disk by every task it
   * deletes (measured: a table holding 10,000 rows, 10,000 replaced per round, grew by its
   * size each round; with a VACUUM per round it stayed at two rounds' size). It also keeps
   * the visibility map current, which the deep pages' index-only scans rely on. Like ANALYZE,
   * a failed run is only retried after the next prune.
   */
  async #vacuum(): Promise<void> {
    try {
      await this.db.query('VACUUM tasks, task_timeline, task_words, workers');
      this.#deletedSinceVacuum = 0;
    } catch {
      // Kept counted: the next prune tries again.
    }
  }

  /**
   * Deletes word blocks none of whose tasks is left, in the order they were written, from
   * where the last sweep stopped: at most `sweep.max` examined per prune, so a large history
   * is swept over several.
   */
  async #sweepBlocks(): Promise<void> {
    const { batch, max } = this.sweep;
    for (let examined = 0; examined < max; examined += batch) {
      const r = (await this.db.query<{ last: number | null; examined: number }>(SWEEP_SQL, [this.#sweptTo, batch]))[0];
      if (r?.last === null || r?.last === undefined || r.examined < batch) {
        this.#sweptTo = 0;
        return;
      }
      this.#sweptTo = r.last;
    }
  }

  /** Deletes matching tasks and their timelines, {@link PRUNE_BATCH} at a time. */
  async #deleteWhile(condition: string, params: unknown[]): Promise<number> {
    let total = 0;
    for (;;) {
      const rows = await this.db.query<{ n: number }>(
        `WITH doomed AS (DELETE FROM tasks WHERE uuid IN (SELECT uuid FROM tasks WHERE ${condition} LIMIT ${PRUNE_BATCH}) RETURNING uuid),
              timeline AS (DELETE FROM task_timeline WHERE uuid IN (SELECT uuid FROM doomed))
         SELECT count(*)::int AS n FROM doomed`,
        params,
      );
      const n = rows[0]?.n ?? 0;
      total += n;
      if (n < PRUNE_BATCH) return total;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#analyzing;
    await this.db.close();
  }
}

/** The store over an open, migrated database (openHistoryStore's last step). */
export function historyStoreOn(db: SqlDriver, options: ResolvedHistoryStoreOptions, blocks = false, sweep = SWEEP): HistoryStore {
  return new SqlHistoryStore(db, options, blocks, sweep);
}

/**
 * Opens the history store: Postgres when `databaseUrl` is set, else the embedded database
 * in `dataDir` (in memory without one). Migrations run before it resolves.
 */
export async function openHistoryStore(options: HistoryStoreOptions = {}): Promise<HistoryStore> {
  const resolved = resolveHistoryStoreOptions(options);
  const db = resolved.databaseUrl !== null
    ? await openPostgresDriver(resolved.databaseUrl, resolved.schema)
    : await openPgliteDriver(resolved.dataDir ?? undefined, resolved.schema, options.pglite);
  let blocks: boolean;
  try {
    await migrate(db);
    blocks = await hasWordBlocks(db);
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  return historyStoreOn(db, resolved, blocks);
}
