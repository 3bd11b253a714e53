/**
 * @module server/routes-tasks
 * Flower's task API (docs/dashboard.md), same paths, parameters, status codes and keys.
 * Task routes answer errors with the status only (empty body), as Flower's do, except a bad
 * search or a bad option (eta, priority, countdown...): 400 `{"error": "..."}`.
 *
 * Fixed on purpose (documented in docs/dashboard.md): `/api/tasks` reads the history store
 * (paged and indexed, never a scan of everything), accepts several states, the search
 * language, ISO-8601 times and runtime ranges, and answers a bad `sort_by` with 400 instead of
 * 500; `/api/task/result` answers the current state when a wait times out instead of an
 * error; apply/async-apply accept any task name seen in events, not only ones registered in
 * the dashboard's app (#153).
 */
import { ErrorCodes, type ApplyOptions, type AsyncResult, type Json, type JsonObject } from 'celeriac';
import { jsonSafe, parsePyJson } from 'celeriac/monitor';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MAX_DATE_MS } from '../store/fold-events.js';
import type { TaskPage, TaskQuery, TaskSortField } from '../store/history-store.js';
import { taskDictFromRow, type FlowerTask } from '../task-dict.js';
import { withDeadline } from '../ingest/deadline.js';
import type { RouteFlags, ServerContext } from './context.js';
import { HttpError, all, bool, float, int, str } from './params.js';
import { control, isKnownWorker } from './routes-workers.js';

const ACTION: RouteFlags = { action: true };
const SORTS: Record<string, TaskSortField> = {
  name: 'name', state: 'state', received: 'received', started: 'started', timestamp: 'timestamp',
  runtime: 'runtime', succeeded: 'succeeded', worker: 'worker',
};
/** Most rows `/api/tasks` returns without a `limit` (Flower returns everything it holds). */
export const UNPAGED_MAX = 10_000;
const PAGE = 1000;

/** `YYYY-MM-DD HH:MM` (Flower's format, read as UTC here) or any ISO-8601 time; epoch ms. */
export function parseTime(name: string, text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  const flower = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})$/.exec(text.trim());
  const ms = flower !== null ? Date.parse(`${flower[1]}-${flower[2]}-${flower[3]}T${flower[4]}:${flower[5]}:00Z`) : /^\d+(\.\d+)?$/.test(text.trim()) ? Number(text) * 1000 : Date.parse(text);
  // A time no Date holds (1e20 seconds) went to Postgres as a bigint out of range: a 500.
  if (!(Math.abs(ms) <= MAX_DATE_MS)) throw new HttpError(400, `Invalid argument '${name}': expected YYYY-MM-DD HH:MM, ISO-8601 or epoch seconds`, 'json');
  return ms;
}

const noneIfAll = (v: string | undefined): string | undefined => (v === undefined || v === '' || v === 'All' ? undefined : v);

/** The store query of `/api/tasks` parameters (without offset/limit). */
export function taskQueryOf(req: FastifyRequest): TaskQuery {
  const states = all(req, 'state').flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '' && s !== 'All');
  const sortBy = str(req, 'sort_by');
  let sort: TaskQuery['sort'];
  if (sortBy !== undefined && sortBy !== '') {
    const desc = sortBy.startsWith('-');
    const name = desc ? sortBy.slice(1) : sortBy;
    // Own keys only: `constructor` or `__proto__` read Object.prototype's members (a 500).
    const field = Object.hasOwn(SORTS, name) ? SORTS[name] : undefined;
    if (field === undefined) throw new HttpError(400, `Invalid sort_by '${sortBy}': one of ${Object.keys(SORTS).join(', ')}, optionally prefixed with -`, 'json');
    sort = { field, dir: desc ? 'desc' : 'asc' };
  }
  const receivedStart = parseTime('received_start', str(req, 'received_start'));
  const receivedEnd = parseTime('received_end', str(req, 'received_end'));
  const startedStart = parseTime('started_start', str(req, 'started_start'));
  const startedEnd = parseTime('started_end', str(req, 'started_end'));
  const useStarted = startedStart !== undefined || startedEnd !== undefined;
  const q: { -readonly [K in keyof TaskQuery]: TaskQuery[K] } = {};
  if (states.length > 0) q.states = states;
  const name = noneIfAll(str(req, 'taskname'));
  if (name !== undefined) q.name = name;
  const worker = noneIfAll(str(req, 'workername'));
  if (worker !== undefined) q.worker = worker;
  const queue = noneIfAll(str(req, 'queue'));
  if (queue !== undefined) q.queue = queue;
  if (useStarted) {
    q.timeField = 'started';
    if (startedStart !== undefined) q.from = startedStart;
    if (startedEnd !== undefined) q.to = startedEnd;
  } else if (receivedStart !== undefined || receivedEnd !== undefined) {
    q.timeField = 'received';
    if (receivedStart !== undefined) q.from = receivedStart;
    if (receivedEnd !== undefined) q.to = receivedEnd;
  }
  const rmin = float(req, 'runtime_min');
  const rmax = float(req, 'runtime_max');
  if (rmin !== undefined) q.runtimeMin = rmin;
  if (rmax !== undefined) q.runtimeMax = rmax;
  const search = str(req, 'search');
  if (search !== undefined && search.trim() !== '') q.search = search;
  if (sort !== undefined) q.sort = sort;
  return q;
}

/** Runs a store query, mapping a search error to Flower's 400 `{"error": ...}`. */
async function query(ctx: ServerContext, q: TaskQuery) {
  try {
    return await ctx.store.queryTasks(q);
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'QuerySyntaxError' || name === 'TaskCursorError') throw new HttpError(400, `${(error as Error).message.replace(/\.$/, '')}.`, 'json');
    throw error;
  }
}

/** Task names: seen in events this run, or registered in the app. */
export function taskTypes(ctx: ServerContext): string[] {
  return [...new Set([...ctx.ingest.state.taskNames, ...ctx.app.tasks.keys()])].sort();
}

/** True when the app has a result backend that other processes share (not `memory://` beside a real broker). */
export function hasBackend(ctx: ServerContext): boolean {
  const b = ctx.app.settings.backend;
  const k = ctx.app.settings.broker;
  return !(b.startsWith('memory:') && !k.startsWith('memory:')) && !b.startsWith('disabled');
}

function body(req: FastifyRequest): { args: Json[]; kwargs: JsonObject; options: JsonObject } {
  const raw = req.body;
  if (raw === undefined || raw === null || raw === '') return { args: [], kwargs: {}, options: {} };
  let value: unknown = raw;
  if (typeof raw === 'string') {
    try {
      value = parsePyJson(raw);
    } catch (error) {
      throw new HttpError(400, (error as Error).message, 'empty');
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HttpError(400, 'invalid options', 'empty');
  const { args = [], kwargs = {}, ...options } = value as Record<string, Json>;
  if (!Array.isArray(args)) throw new HttpError(400, 'args must be an array', 'empty');
  if (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs)) throw new HttpError(400, 'kwargs must be an object', 'empty');
  return { args, kwargs, options };
}

/** `%Y-%m-%d %H:%M:%S.%f` (naive, read as UTC) -> Date. */
function flowerDate(name: string, text: string): Date {
  const bad = () => new Error(`${name} must be YYYY-MM-DD HH:MM:SS.ffffff, got ${JSON.stringify(text)}`);
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{1,6})$/.exec(text);
  if (m === null) throw bad();
  const d = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${(m[7] as string).padEnd(6, '0').slice(0, 3)}Z`);
  if (Number.isNaN(d.getTime())) throw bad();
  return d;
}

/** apply_async options in Celery's names -> Celeriac's. `normalize`: apply/async-apply's eta/countdown/expires parsing. */
export function applyOptions(options: JsonObject, normalize: boolean): ApplyOptions {
  const out: Record<string, unknown> = {};
  try {
    for (const [k, v] of Object.entries(options)) {
      if (k === 'eta') out['eta'] = normalize ? flowerDate('eta', String(v)) : v;
      else if (k === 'countdown') {
        const n = Number(v);
        if (!Number.isFinite(n)) throw new Error(`countdown must be a number of seconds, got ${JSON.stringify(v)}`);
        out['countdown'] = n;
      } else if (k === 'expires') {
        const n = Number(v);
        out['expires'] = Number.isFinite(n) && String(v).trim() !== '' ? n : normalize ? flowerDate('expires', String(v)) : v;
      } else if (k === 'queue' || k === 'priority' || k === 'exchange' || k === 'headers' || k === 'shadow' || k === 'retries') out[k] = v;
      else if (k === 'routing_key') out['routingKey'] = v;
      else if (k === 'task_id') out['taskId'] = v;
      else if (k === 'time_limit') out['timeLimitSec'] = v;
      else if (k === 'soft_time_limit') out['softTimeLimitSec'] = v;
      else if (k === 'ignore_result') out['ignoreResult'] = v;
      else if (k === 'link' || k === 'link_error') out[k === 'link' ? 'link' : 'linkError'] = v;
      // Other Celery options (serializer, compression, retry_policy...) have no meaning here.
    }
  } catch (error) {
    throw new HttpError(400, `Invalid option: ${(error as Error).message}`, 'json');
  }
  return out as ApplyOptions;
}

function exceptionText(result: Json): Json {
  if (typeof result === 'object' && result !== null && !Array.isArray(result) && 'exc_type' in result) {
    const msg = result['exc_message'];
    const args = msg === undefined ? [] : Array.isArray(msg) ? msg : [msg];
    const parts = args.map((m) => JSON.stringify(jsonSafe(m)));
    return `${String(result['exc_type'])}(${parts.join(', ')})`;
  }
  return jsonSafe(result);
}

/** `{task-id, state, result[, traceback]}` from the backend. */
/**
 * Aborted when the client goes away before its answer. A wait for a result (Flower's
 * `apply`, which waits for as long as the task takes, or `result?timeout=`) stayed
 * subscribed after its client left, for good when no worker ever ran the task.
 */
function untilClientGone(reply: FastifyReply): AbortSignal {
  const gone = new AbortController();
  reply.raw.once('close', () => gone.abort());
  return gone.signal;
}

async function resultResponse(ctx: ServerContext, id: string, timeoutSec: number | undefined, signal?: AbortSignal): Promise<Record<string, Json>> {
  const r = ctx.app.asyncResult(id);
  if (timeoutSec !== undefined && timeoutSec > 0) await r.get({ timeoutMs: timeoutSec * 1000, propagate: false, ...(signal === undefined ? {} : { signal }) }).catch(() => {});
  let meta: Awaited<ReturnType<typeof r.meta>>;
  try {
    meta = await withDeadline(r.meta(), 5000, 'read the result');
  } catch (error) {
    throw new HttpError(503, `Result backend unavailable: ${(error as Error).message}`, 'empty');
  }
  const state = meta?.status ?? 'PENDING';
  const out: Record<string, Json> = { 'task-id': id, state };
  if (meta !== null && ['SUCCESS', 'FAILURE', 'REVOKED'].includes(state)) {
    out['result'] = state === 'SUCCESS' ? jsonSafe(meta.result) : exceptionText(meta.result);
    if (state === 'FAILURE') out['traceback'] = meta.traceback;
  }
  return out;
}

/** Sends a task, answering 503 when the broker does not take it within 5 s. */
export async function send(ctx: ServerContext, name: string, args: readonly Json[], kwargs: JsonObject, options: ApplyOptions): Promise<AsyncResult> {
  try {
    return await withDeadline(ctx.app.sendTask(name, args, kwargs, options), 5000, `send ${name}`);
  } catch (error) {
    if (error instanceof HttpError) throw error;
    // A bad option (eta, priority, countdown...) is the caller's: 400 with the reason, not a broker outage.
    if ((error as { code?: unknown }).code === ErrorCodes.INVALID_ARGUMENT) throw new HttpError(400, `Invalid option: ${(error as Error).message}`, 'json');
    throw new HttpError(503, `Broker unavailable: ${(error as Error).message}`, 'empty');
  }
}

/** Revokes tasks: stored revoke (Celeriac workers, later ones too) and the control broadcast (Python workers). */
export async function revoke(ctx: ServerContext, ids: readonly string[], terminate: boolean, signal: string): Promise<void> {
  if (ids.length === 0) return;
  // The stored revoke first: it checks the signal before it stores anything, so a bad one
  // (SIGFOO) is the caller's 400 and is broadcast to no worker. Broadcast first, it reached
  // every worker and the answer was 503. A backend that is down still lets the broadcast go.
  let unstored: unknown = null;
  try {
    await withDeadline(Promise.all(ids.map((id) => ctx.app.asyncResult(id).revoke({ terminate, signal }))), 5000, 'revoke (backend)');
  } catch (error) {
    if ((error as { code?: unknown }).code === ErrorCodes.INVALID_ARGUMENT) throw new HttpError(400, `Invalid option: ${(error as Error).message}`, 'json');
    unstored = error;
  }
  try {
    // Python workers learn of revokes only by remote control; Celeriac's also from the backend.
    await withDeadline(ctx.ingest.control.broadcast('revoke', { arguments: { task_id: [...ids], terminate, signal } }), 5000, 'revoke');
  } catch (error) {
    unstored ??= error;
  }
  if (unstored !== null) throw new HttpError(503, `Broker or result backend unavailable: ${(unstored as Error).message}`);
}

/** Registers Flower's task routes. */
export function registerTaskRoutes(server: FastifyInstance, ctx: ServerContext): void {
  const known = (name: string) => ctx.app.lookup(name) !== undefined || ctx.ingest.state.taskNames.includes(name);

  server.post('/api/task/apply/:name', { config: ACTION }, async (req, reply) => {
    const { name } = req.params as { name: string };
    const { args, kwargs, options } = body(req);
    if (!known(name)) throw new HttpError(404, `Unknown task '${name}'`, 'empty');
    const signal = untilClientGone(reply);
    const result = await send(ctx, name, args, kwargs, applyOptions(options, true));
    if (!hasBackend(ctx)) return { 'task-id': result.id, result: null };
    await result.get({ propagate: false, signal }).catch(() => {});
    return resultResponse(ctx, result.id, undefined);
  });

  server.post('/api/task/async-apply/:name', { config: ACTION }, async (req) => {
    const { name } = req.params as { name: string };
    const { args, kwargs, options } = body(req);
    if (!known(name)) throw new HttpError(404, `Unknown task '${name}'`, 'empty');
    const result = await send(ctx, name, args, kwargs, applyOptions(options, true));
    return hasBackend(ctx) ? { 'task-id': result.id, state: 'PENDING' } : { 'task-id': result.id };
  });

  server.post('/api/task/send-task/:name', { config: ACTION }, async (req) => {
    const { name } = req.params as { name: string };
    const { args, kwargs, options } = body(req);
    const result = await send(ctx, name, args, kwargs, applyOptions(options, false));
    return hasBackend(ctx) ? { 'task-id': result.id, state: 'PENDING' } : { 'task-id': result.id };
  });

  server.get('/api/task/result/:id', async (req, reply) => {
    const { id } = req.params as { id: string };
    const timeout = float(req, 'timeout');
    if (!hasBackend(ctx)) throw new HttpError(503, 'No result backend configured', 'empty');
    return resultResponse(ctx, id, timeout, untilClientGone(reply));
  });

  server.post('/api/task/abort/:id', { config: ACTION }, async (req) => {
    const { id } = req.params as { id: string };
    if (!hasBackend(ctx)) throw new HttpError(503, 'No result backend configured', 'empty');
    // Celery's AbortableAsyncResult.abort(): the ABORTED state in the backend, which the task polls.
    await withDeadline(ctx.app.storeState(id, 'ABORTED', null), 5000, 'abort').catch((error: unknown) => {
      throw new HttpError(503, `Result backend unavailable: ${(error as Error).message}`, 'empty');
    });
    return { message: `Aborted '${id}'` };
  });

  server.post('/api/task/revoke/:id', { config: ACTION }, async (req) => {
    const { id } = req.params as { id: string };
    const terminate = bool(req, 'terminate', false);
    const signal = str(req, 'signal') ?? 'SIGTERM';
    await revoke(ctx, [id], terminate, signal);
    return { message: `Revoked '${id}'` };
  });

  const perWorker = (path: string, method: string, args: (req: FastifyRequest, task: string) => JsonObject, failure: string) => {
    server.post(path, { config: ACTION }, async (req, reply) => {
      const { name } = req.params as { name: string };
      const workername = str(req, 'workername');
      const a = args(req, name);
      if (!known(name)) throw new HttpError(404, `Unknown task '${name}'`);
      if (workername === undefined || !isKnownWorker(ctx, workername)) throw new HttpError(404, `Unknown worker '${workername ?? ''}'`);
      const answer = await control(ctx, workername, method, a);
      if (typeof answer === 'object' && answer !== null && !Array.isArray(answer) && 'ok' in answer) return { message: answer['ok'] };
      const reason = typeof answer === 'object' && answer !== null && !Array.isArray(answer) && typeof answer['error'] === 'string' ? answer['error'] : 'Unknown reason';
      return reply.code(403).type('text/plain').send(`${failure}: '${reason}'`);
    });
  };
  perWorker('/api/task/timeout/:name', 'time_limit', (req, task) => ({ task_name: task, hard: float(req, 'hard') ?? null, soft: float(req, 'soft') ?? null }), 'Failed to set timeouts');
  perWorker(
    '/api/task/rate-limit/:name',
    'rate_limit',
    (req, task) => {
      const ratelimit = str(req, 'ratelimit');
      if (ratelimit === undefined) throw new HttpError(400, 'Missing argument ratelimit');
      return { task_name: task, rate_limit: ratelimit };
    },
    'Failed to set rate limit',
  );

  server.get('/api/task/info/:id', async (req) => {
    const { id } = req.params as { id: string };
    const detail = await ctx.store.getTask(id);
    if (detail === null) throw new HttpError(404, `Unknown task '${id}'`, 'empty');
    return taskDictFromRow(detail.task, detail.children.map((c) => c.uuid));
  });

  server.get('/api/task/types', async () => ({ 'task-types': taskTypes(ctx) }));

  server.get('/api/tasks', async (req, reply) => {
    const limit = int(req, 'limit', undefined, { min: 0 });
    const offset = Math.max(0, int(req, 'offset', 0) as number);
    const q = taskQueryOf(req);
    // limit=0 is no limit, as in Flower (`limit and int(limit)`).
    const want = limit === undefined || limit === 0 ? UNPAGED_MAX : limit;
    const out: Record<string, FlowerTask> = {};
    let got = 0;
    let first: TaskPage | undefined;
    let next: string | null = null;
    // The first page starts at `offset` (after `after` when given); the next ones each after the last.
    let after = str(req, 'after');
    while (got < want) {
      const size = Math.min(PAGE, want - got);
      const page = await query(ctx, { ...q, ...(after === undefined || after === '' ? {} : { after }), offset: first === undefined ? offset : 0, limit: size });
      first ??= page;
      // Flower's rows carry the traceback and the children's ids, as /api/task/info does.
      const extras = await ctx.store.taskExtras(page.rows.map((r) => r.uuid));
      for (const row of page.rows) {
        const extra = extras.get(row.uuid);
        out[row.uuid] = taskDictFromRow(extra === undefined || extra.traceback === null ? row : { ...row, traceback: extra.traceback }, extra?.children);
      }
      got += page.rows.length;
      next = page.nextCursor;
      if (page.rows.length < size || next === null) break;
      after = next;
    }
    reply.header('x-total-count', String(first?.total ?? 0)).header('x-total-exact', String(first?.totalExact ?? true));
    if (first?.totalEstimated === true) reply.header('x-total-estimated', 'true');
    if (next !== null && limit !== undefined && limit > 0) reply.header('x-next-cursor', next);
    return out;
  });

  server.get('/api/queues/length', async () => {
    try {
      const depths = await ctx.ingest.pollQueues();
      return { active_queues: depths.map((d) => ({ name: d.name, messages: d.messages })) };
    } catch {
      throw new HttpError(503, 'Broker unavailable', 'empty');
    }
  });
}
