/**
 * @module server/routes-dashboard
 * The dashboard's own endpoints (beyond Flower's API), described in /api/openapi.json:
 * the live stream, paged search, task detail with its timeline, the workflow tree, re-run,
 * bulk revoke of a workflow or of chosen tasks, the broker page with purge, beat entries, and the overview.
 */
import type { FastifyInstance } from 'fastify';
import { BeatEntries } from 'celeriac/beat';
import type { Json, JsonObject } from 'celeriac';
import type { TaskRow } from '../store/history-store.js';
import { pyLiteralToJson } from '../store/py-literal.js';
import { taskDictFromRow } from '../task-dict.js';
import type { RouteFlags, ServerContext } from './context.js';
import { HttpError, all, bool, int, str } from './params.js';
import { revoke, send, taskQueryOf } from './routes-tasks.js';
import { DeadlineError, withDeadline } from '../ingest/deadline.js';
import { purgeCounting } from 'celeriac/spi';
import { registerDelayedRoute } from './routes-delayed.js';
import { queueAgeSec, type QueueDepth } from '../ingest/queues.js';
import { registerLive } from './live.js';

const ACTION: RouteFlags = { action: true };
/** How long a purge request waits for the broker. */
const PURGE_WAIT_MS = 5000;
/** Most tasks one bulk revoke may name. */
const MAX_BULK = 1000;

/**
 * The task ids of a bulk action: repeated `id` parameters (query or form), or `{"ids": [...]}`
 * as JSON. Refuses an empty list, more than {@link MAX_BULK}, and ids that are not short text.
 */
function bulkIds(req: Parameters<typeof all>[0]): string[] {
  const body = req.body as { ids?: unknown } | null | undefined;
  const fromJson = typeof body === 'object' && body !== null && Array.isArray(body.ids) ? body.ids : [];
  const ids = [...all(req, 'id'), ...fromJson];
  if (ids.length === 0) throw new HttpError(400, 'No task ids: give id=... or {"ids": [...]}', 'json');
  if (ids.length > MAX_BULK) throw new HttpError(400, `Too many task ids (${ids.length}); at most ${MAX_BULK} at once`, 'json');
  for (const id of ids) {
    if (typeof id !== 'string' || id.length === 0 || id.length > 255 || id.includes('\0')) throw new HttpError(400, 'Invalid task id: ids are strings of 1 to 255 characters', 'json');
  }
  return [...new Set(ids as string[])];
}

const READY = new Set(['SUCCESS', 'FAILURE', 'REVOKED', 'REJECTED', 'LOST', 'IGNORED']);

/** A node of the workflow tree. */
interface TreeNode {
  task: Record<string, unknown>;
  group_id: string | null;
  children: TreeNode[];
}

/** Builds the forest of a workflow from parent ids (tasks whose parent is unknown are roots). */
export function workflowTree(rows: readonly TaskRow[]): TreeNode[] {
  const nodes = new Map<string, TreeNode>();
  for (const r of rows) nodes.set(r.uuid, { task: taskDictFromRow(r), group_id: r.groupId, children: [] });
  const roots: TreeNode[] = [];
  for (const r of rows) {
    const node = nodes.get(r.uuid) as TreeNode;
    const parent = r.parentId !== null && r.parentId !== r.uuid ? nodes.get(r.parentId) : undefined;
    if (parent !== undefined) {
      parent.children.push(node);
      (parent.task['children'] as string[]).push(r.uuid);
    } else roots.push(node);
  }
  return roots;
}

/** The arguments of a stored task as JSON values, or null when they cannot be recovered exactly. */
async function recoverArguments(ctx: ServerContext, row: TaskRow): Promise<{ args: Json[]; kwargs: JsonObject } | null> {
  // The result backend keeps the real values when `result_extended` is on.
  const meta = await ctx.app.asyncResult(row.uuid).meta().catch(() => null);
  if (meta !== null && Array.isArray(meta.args) && meta.kwargs !== undefined) return { args: meta.args, kwargs: meta.kwargs };
  if (row.truncated.includes('args') || row.truncated.includes('kwargs')) return null;
  const args = row.args === null ? [] : pyLiteralToJson(row.args);
  const kwargs = row.kwargs === null ? {} : pyLiteralToJson(row.kwargs);
  if (!Array.isArray(args) || typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs)) return null;
  return { args: args as Json[], kwargs: kwargs as JsonObject };
}

function beatEntries(ctx: ServerContext): BeatEntries {
  try {
    return new BeatEntries(ctx.app);
  } catch (error) {
    throw new HttpError(501, `This broker keeps no beat store: ${(error as Error).message}`, 'json');
  }
}

const sec = (ms: number | null): number | null => (ms === null || !Number.isFinite(ms) ? null : ms / 1000);

/** Registers the routes. */
export function registerDashboardRoutes(server: FastifyInstance, ctx: ServerContext): void {
  registerLive(server, ctx);

  server.get('/api/tasks/search', async (req) => {
    const limit = int(req, 'limit', 50, { min: 1, max: 1000 }) as number;
    const offset = int(req, 'offset', 0, { min: 0 }) as number;
    let page;
    try {
      const after = str(req, 'after');
      page = await ctx.store.queryTasks({ ...taskQueryOf(req), ...(after === undefined || after === '' ? {} : { after }), offset, limit });
    } catch (error) {
      if ((error as Error).name === 'QuerySyntaxError' || (error as Error).name === 'TaskCursorError') {
        const e = error as Error & { position?: number };
        throw new HttpError(400, `${e.message.replace(/\.$/, '')}.`, 'json');
      }
      throw error;
    }
    return {
      total: page.total, total_exact: page.totalExact, total_estimated: page.totalEstimated, next_cursor: page.nextCursor, offset, limit, tasks: page.rows.map((r) => ({ ...taskDictFromRow(r), queue: r.queue, truncated: r.truncated })),
    };
  });

  server.get('/api/task/detail/:id', async (req) => {
    const { id } = req.params as { id: string };
    const d = await ctx.store.getTask(id);
    if (d === null) throw new HttpError(404, `Unknown task '${id}'`, 'json');
    return {
      task: { ...taskDictFromRow(d.task, d.children.map((c) => c.uuid)), queue: d.task.queue, group_id: d.task.groupId, source: d.task.source },
      truncated: d.task.truncated,
      events: d.events.map((e) => ({ type: e.type, timestamp: e.timestamp / 1000, hostname: e.hostname, fields: e.fields })),
      children: d.children.map((c) => taskDictFromRow(c)),
    };
  });

  server.get('/api/task/workflow/:id', async (req) => {
    const { id } = req.params as { id: string };
    const d = await ctx.store.getTask(id);
    if (d === null) throw new HttpError(404, `Unknown task '${id}'`, 'json');
    // Every task linked to it by root, parent or group id, transitively (store/workflow-sql).
    const wf = await ctx.store.getWorkflow(d.task.uuid, int(req, 'limit', 1000, { min: 1, max: 5000 }) as number);
    return { root_id: wf.rootId, group_id: d.task.groupId, truncated: wf.truncated, count: wf.tasks.length, tree: workflowTree(wf.tasks) };
  });

  server.post('/api/task/rerun/:id', { config: ACTION }, async (req) => {
    const { id } = req.params as { id: string };
    const d = await ctx.store.getTask(id);
    if (d === null) throw new HttpError(404, `Unknown task '${id}'`, 'json');
    if (d.task.name === null) throw new HttpError(409, `Task '${id}' has no known name to re-run`, 'json');
    const recovered = await recoverArguments(ctx, d.task);
    if (recovered === null) throw new HttpError(409, `The arguments of '${id}' were truncated or are not plain values; they cannot be sent again exactly`, 'json');
    const options = d.task.queue !== null ? { queue: d.task.queue } : {};
    const result = await send(ctx, d.task.name, recovered.args, recovered.kwargs, options);
    // Ids only: the arguments may be large or sensitive, and the caller can read them on the task's page.
    return { 'task-id': result.id, 'rerun-of': id, name: d.task.name };
  });

  server.post('/api/task/revoke-workflow/:id', { config: ACTION }, async (req) => {
    const { id } = req.params as { id: string };
    const terminate = bool(req, 'terminate', false);
    const signal = str(req, 'signal') ?? 'SIGTERM';
    const d = await ctx.store.getTask(id);
    if (d === null) throw new HttpError(404, `Unknown task '${id}'`, 'json');
    const wf = await ctx.store.getWorkflow(d.task.uuid, 5000);
    const ids = wf.tasks.filter((t) => !READY.has(t.state)).map((t) => t.uuid);
    await revoke(ctx, ids, terminate, signal);
    return { message: `Revoked ${ids.length} task(s) of workflow '${wf.rootId}'`, revoked: ids };
  });

  server.post('/api/tasks/revoke', { config: ACTION }, async (req) => {
    const ids = bulkIds(req);
    const body = req.body as { terminate?: unknown; signal?: unknown } | null | undefined;
    const terminate = typeof body?.terminate === 'boolean' ? body.terminate : bool(req, 'terminate', false);
    const signal = typeof body?.signal === 'string' ? body.signal : (str(req, 'signal') ?? 'SIGTERM');
    await revoke(ctx, ids, terminate, signal);
    return { message: `${terminate ? 'Terminated' : 'Revoked'} ${ids.length} task(s)`, revoked: ids };
  });

  server.get('/api/broker', async () => {
    const consumers = ctx.ingest.inspector.consumers();
    let queues: QueueDepth[] = [];
    let error: string | null = null;
    try {
      queues = await ctx.ingest.pollQueues();
    } catch (e) {
      error = (e as Error).message;
      queues = [...ctx.ingest.queueDepths];
    }
    return {
      broker: ctx.app.brokerUrl,
      transport: ctx.app.broker.kind,
      error,
      queues: queues.map((q) => ({ name: q.name, messages: q.messages, priorities: q.priorities, age: queueAgeSec(q, Date.now()), consumers: consumers.get(q.name) ?? [] })),
    };
  });

  registerDelayedRoute(server, ctx);

  server.post('/api/broker/purge/:queue', { config: ACTION }, async (req) => {
    const { queue } = req.params as { queue: string };
    if (queue === '' || queue.length > 1000) throw new HttpError(400, 'Invalid queue name', 'json');
    try {
      const { ready, delayed } = await withDeadline(purgeCounting(ctx.app.broker, queue), PURGE_WAIT_MS, 'purge');
      const purged = ready + (delayed ?? 0);
      const of = delayed === null || delayed === 0 ? '' : ` (${delayed} of them delayed: ETA/countdown)`;
      return { message: `Purged ${purged} message(s) from '${queue}'${of}`, purged, delayed };
    } catch (error) {
      // Past the wait the purge is not cancelled: a long walk of RabbitMQ's delay queues goes on.
      if (error instanceof DeadlineError) throw new HttpError(503, `The purge of '${queue}' did not finish within ${PURGE_WAIT_MS / 1000} s; it goes on in the broker (not cancelled): reload to see what is left`, 'json');
      throw new HttpError(503, `Broker unavailable: ${(error as Error).message}`, 'json');
    }
  });

  server.get('/api/beat', async () => {
    const entries = await withDeadline(beatEntries(ctx).list(), 5000, 'beat entries').catch((error: unknown) => {
      if (error instanceof HttpError) throw error;
      throw new HttpError(503, `Broker unavailable: ${(error as Error).message}`, 'json');
    });
    return {
      entries: entries.map((e) => ({
        name: e.name, task: e.task, args: e.args, kwargs: e.kwargs, options: e.options, schedule: e.schedule, source: e.source,
        paused: e.paused, last_run_at: sec(e.lastRunAt), total_run_count: e.totalRunCount, next_run_at: sec(e.nextRunAt),
      })),
    };
  });

  const beatAction = (verb: 'pause' | 'resume' | 'run') => {
    server.post(`/api/beat/${verb}/:name`, { config: ACTION }, async (req) => {
      const { name } = req.params as { name: string };
      const store = beatEntries(ctx);
      const entries = await withDeadline(store.list(), 5000, 'beat entries').catch((error: unknown) => {
        throw new HttpError(503, `Broker unavailable: ${(error as Error).message}`, 'json');
      });
      const entry = entries.find((e) => e.name === name);
      if (entry === undefined) throw new HttpError(404, `Unknown beat entry '${name}'`, 'json');
      if (verb === 'pause') await store.pause(name);
      else if (verb === 'resume') await store.resume(name);
      else {
        const result = await send(ctx, entry.task, [...entry.args], entry.kwargs, entry.options);
        return { message: `Sent '${entry.task}' for beat entry '${name}'`, 'task-id': result.id };
      }
      return { message: `${verb === 'pause' ? 'Paused' : 'Resumed'} beat entry '${name}'` };
    });
  };
  beatAction('pause');
  beatAction('resume');
  beatAction('run');

  server.get('/api/overview', async (req) => {
    const now = Date.now();
    const since = int(req, 'since', undefined, { min: 0 });
    const ing = ctx.ingest;
    const workers = ing.workers();
    const online = workers.filter((w) => ing.state.isOnline(w, now)).length;
    const series = ing.overview.snapshot(now, since);
    const tasksByState = await ctx.counts.tasksByState().catch(() => ({}));
    return {
      now: now / 1000,
      workers: { online, offline: workers.length - online },
      tasks_by_state: tasksByState,
      points: series.points,
      queue_depth: series.queueDepth,
      events: { ingested: ing.eventsIngested, written: ing.eventsWritten, dropped: ing.eventsDropped, tasks_dropped: ing.tasksDropped, messages_shed: ing.eventMessagesShed, last_event_age: ing.lastEventAt === null ? null : (now - ing.lastEventAt) / 1000 },
    };
  });
}
