/**
 * @module server/routes-workers
 * Flower's worker API (docs/dashboard.md): `/api/workers` and the worker control routes,
 * with Flower's messages and status codes, plus `/workers?json=1` (the workers table that
 * scripts scrape; our rows add status, heartbeat age and per-method inspect age).
 *
 * Fixed on purpose: a worker the event stream knows is never "Unknown worker" (Flower 404s
 * until its inspect cache has it, #1027); `/api/workers` asks a worker it has no data for.
 */
import type { Json, JsonObject } from 'celeriac';
import type { NodeReply } from 'celeriac/monitor';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { withDeadline } from '../ingest/deadline.js';
import type { RouteFlags, ServerContext } from './context.js';
import { HttpError, bool, int, str } from './params.js';

const ACTION: RouteFlags = { action: true };

/** Known worker: inspected, or seen in events and not forgotten. */
export function isKnownWorker(ctx: ServerContext, name: string): boolean {
  if (name === '') return false;
  if (ctx.ingest.inspector.get(name) !== undefined) return true;
  return ctx.ingest.state.worker(name) !== undefined && !ctx.ingest.isGone(name);
}

function inspectionOf(ctx: ServerContext, name: string): Record<string, Json> | undefined {
  const entry = ctx.ingest.inspector.get(name);
  if (entry === undefined) return undefined;
  return { ...(entry.values as Record<string, Json>), timestamp: entry.updatedAt / 1000 };
}

/** The worker's reply in a `[{node: value}]` list, if any. */
function replyOf(replies: readonly NodeReply[], name: string): Json | undefined {
  for (const r of replies) if (Object.prototype.hasOwnProperty.call(r, name)) return (r as Record<string, Json>)[name];
  return undefined;
}

function okText(reply: Json | undefined): string | null {
  if (typeof reply === 'object' && reply !== null && !Array.isArray(reply) && 'ok' in reply) return typeof reply['ok'] === 'string' ? reply['ok'] : JSON.stringify(reply['ok']);
  return null;
}

/** Flower's `error_reason`. */
function reasonOf(reply: Json | undefined): string {
  if (typeof reply === 'object' && reply !== null && !Array.isArray(reply) && typeof reply['error'] === 'string') return reply['error'];
  return 'Unknown reason';
}

/** Broadcasts a control command to one worker and waits for its answer. */
export async function control(ctx: ServerContext, name: string, method: string, args: JsonObject): Promise<Json | undefined> {
  try {
    const replies = await withDeadline(ctx.ingest.control.broadcast(method, { arguments: args, destination: [name], reply: true, timeoutMs: ctx.ingest.replyTimeoutMs }), ctx.ingest.replyTimeoutMs + 5000, method);
    return replyOf(replies, name);
  } catch (error) {
    throw new HttpError(503, `Broker unavailable: ${(error as Error).message}`);
  }
}

function requireWorker(ctx: ServerContext, name: string): void {
  if (!isKnownWorker(ctx, name)) throw new HttpError(404, `Unknown worker '${name}'`);
}

function requireArg(value: string | undefined, name: string): string {
  if (value === undefined) throw new HttpError(400, `Missing argument ${name}`);
  return value;
}

/** Registers the routes. */
export function registerWorkerRoutes(server: FastifyInstance, ctx: ServerContext): void {
  server.get('/api/workers', async (req, reply) => {
    const refresh = bool(req, 'refresh', false);
    const status = bool(req, 'status', false);
    const workername = str(req, 'workername');
    const now = Date.now();
    if (status) {
      const out: Record<string, boolean> = {};
      for (const w of ctx.ingest.workers()) out[w.hostname] = ctx.ingest.state.isOnline(w, now);
      if (workername === undefined) return out;
      if (!(workername in out)) throw new HttpError(404, `Unknown worker '${workername}'`);
      return { [workername]: out[workername] };
    }
    if (workername !== undefined && !isKnownWorker(ctx, workername)) throw new HttpError(404, `Unknown worker '${workername}'`);
    const missing = workername !== undefined && ctx.ingest.inspector.get(workername) === undefined;
    // A broker known to be down fails a refresh at once (a round already in flight may still
    // "succeed" with the replies it collected before the broker went away).
    if (refresh && ctx.ingest.brokerError !== null) return reply.code(503).type('text/plain').send(`Failed to update workers: broker unreachable (${ctx.ingest.brokerError})`);
    if (refresh || missing) {
      try {
        await ctx.ingest.inspector.refresh(workername === undefined ? undefined : [workername]);
      } catch (error) {
        if (refresh) return reply.code(503).type('text/plain').send(`Failed to update workers: ${(error as Error).message}`);
      }
    }
    if (workername !== undefined) return { [workername]: inspectionOf(ctx, workername) ?? { timestamp: now / 1000 } };
    const out: Record<string, Record<string, Json>> = {};
    for (const name of ctx.ingest.inspector.workers()) {
      if (ctx.ingest.isGone(name)) continue;
      const v = inspectionOf(ctx, name);
      if (v !== undefined) out[name] = v;
    }
    return out;
  });

  // The workers table (Flower: `/workers?json=1` and `/?json=1`).
  const workersJson = async () => {
    const now = Date.now();
    return { data: ctx.ingest.workers().map((w) => ctx.ingest.workerSummary(w, now)) };
  };
  server.get('/workers', async (req, reply) => (bool(req, 'json', false) ? workersJson() : reply.redirect(`${ctx.settings.urlPrefix}/#/workers`)));

  server.post('/api/worker/shutdown/:name', { config: ACTION }, async (req) => {
    const { name } = req.params as { name: string };
    requireWorker(ctx, name);
    await withDeadline(ctx.ingest.control.broadcast('shutdown', { destination: [name] }), 5000, 'shutdown').catch((error: unknown) => {
      throw new HttpError(503, `Broker unavailable: ${(error as Error).message}`);
    });
    return { message: 'Shutting down!' };
  });

  const simple = (
    path: string,
    method: string,
    args: (req: FastifyRequest) => JsonObject,
    ok: (name: string, args: JsonObject, reply: Json | undefined) => string,
    fail: (name: string, args: JsonObject, reason: string) => string,
  ) => {
    server.post(path, { config: ACTION }, async (req, res: FastifyReply) => {
      const { name } = req.params as { name: string };
      requireWorker(ctx, name);
      const a = args(req);
      const answer = await control(ctx, name, method, a);
      if (okText(answer) !== null) return { message: ok(name, a, answer) };
      return res.code(403).type('text/plain').send(fail(name, a, reasonOf(answer)));
    });
  };

  simple('/api/worker/pool/restart/:name', 'pool_restart', () => ({ reload: false }), (n) => `Restarting '${n}' worker's pool`, (n, _a, r) => `Failed to restart the '${n}' pool: ${r}`);
  simple('/api/worker/pool/grow/:name', 'pool_grow', (req) => ({ n: int(req, 'n', 1) as number }), (n, a) => `Growing '${n}' worker's pool by ${String(a['n'])}`, (n, _a, r) => `Failed to grow '${n}' worker's pool: ${r}`);
  simple('/api/worker/pool/shrink/:name', 'pool_shrink', (req) => ({ n: int(req, 'n', 1) as number }), (n, a) => `Shrinking '${n}' worker's pool by ${String(a['n'])}`, (n, _a, r) => `Failed to shrink '${n}' worker's pool: ${r}`);
  simple(
    '/api/worker/pool/autoscale/:name',
    'autoscale',
    (req) => {
      const min = int(req, 'min', undefined);
      const max = int(req, 'max', undefined);
      if (min === undefined) throw new HttpError(400, 'Missing argument min');
      if (max === undefined) throw new HttpError(400, 'Missing argument max');
      return { min, max };
    },
    (n, a) => `Autoscaling '${n}' worker (min=${String(a['min'])}, max=${String(a['max'])})`,
    (n, _a, r) => `Failed to autoscale '${n}' worker: ${r}`,
  );
  simple('/api/worker/queue/add-consumer/:name', 'add_consumer', (req) => ({ queue: requireArg(str(req, 'queue'), 'queue') }), (_n, _a, answer) => okText(answer) as string, (n, a, r) => `Failed to add '${String(a['queue'])}' consumer to '${n}' worker: ${r}`);
  simple('/api/worker/queue/cancel-consumer/:name', 'cancel_consumer', (req) => ({ queue: requireArg(str(req, 'queue'), 'queue') }), (_n, _a, answer) => okText(answer) as string, (n, a, r) => `Failed to cancel '${String(a['queue'])}' consumer from '${n}' worker: ${r}`);
}
