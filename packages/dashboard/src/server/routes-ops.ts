/**
 * @module server/routes-ops
 * Operations endpoints: `/healthcheck` (liveness, Flower's `OK`), `/readyz` (readiness:
 * the broker answers and events flow; details only to callers who may read the API),
 * `/metrics` (Prometheus), the UI's `/api/config`, `/api/openapi.json` and `/api/audit`,
 * and `/logout`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CSRF_HEADER } from './auth.js';
import type { RouteFlags, ServerContext } from './context.js';
import { openApiDocument } from './openapi.js';
import { setAsideListingOf } from 'celeriac/spi';
import { withDeadline } from '../ingest/deadline.js';
import { queueAgeSec } from '../ingest/queues.js';
import { processMetricsText } from './process-metrics.js';

const PUBLIC: RouteFlags = { public: true };
/** How long `/readyz` waits for the history database's answer to `SELECT 1`. */
const STORE_PING_MS = 2000;

/** Readiness: what is wrong, or nothing. `storeUnreachable`: why the history database did not answer a ping, if it did not. */
export function readiness(ctx: ServerContext, now: number, storeUnreachable: string | null = null): { ready: boolean; checks: Record<string, { ok: boolean; detail: string }> } {
  const ing = ctx.ingest;
  const online = ing.workers().filter((w) => ing.state.isOnline(w, now)).length;
  const eventAge = ing.lastEventAt === null ? null : (now - ing.lastEventAt) / 1000;
  // Events flow when some arrived recently; with no online worker, silence is normal.
  const eventsOk = online === 0 || (eventAge !== null && eventAge < 30);
  const checks = {
    broker: { ok: ing.brokerError === null, detail: ing.brokerError ?? 'reachable' },
    events: { ok: eventsOk, detail: eventAge === null ? 'no event yet' : `last event ${eventAge.toFixed(1)} s ago, ${online} worker(s) online` },
    store: storeUnreachable !== null ? { ok: false, detail: storeUnreachable } : { ok: ing.storeError === null, detail: ing.storeError ?? 'writing' },
  };
  return { ready: Object.values(checks).every((c) => c.ok), checks };
}

/** True when the caller of a public route would also pass the API's gate (its details are the API's). */
function mayReadDetails(ctx: ServerContext, req: FastifyRequest): boolean {
  const header = ctx.auth.fromHeader(req);
  if (header !== null) {
    // Checked like any login, so this public route is no way around the failed-login limit.
    const tried = 'invalid' in header || header.via !== 'token' ? header.user : null;
    if (ctx.limiter.lockedFor(req.ip, tried) > 0) return false;
    if ('invalid' in header) ctx.limiter.fail(req.ip, header.user);
    return !('invalid' in header);
  }
  if (ctx.auth.fromSession(req) !== null) return true;
  return !ctx.auth.enabled && ctx.auth.anonymousApiAllowed();
}

/** Registers the routes. */
export function registerOpsRoutes(server: FastifyInstance, ctx: ServerContext): void {
  server.get('/healthcheck', { config: PUBLIC }, async (_req, reply) => reply.type('text/plain; charset=utf-8').send('OK'));

  server.get('/readyz', { config: PUBLIC }, async (req, reply) => {
    // The store's check read only the last write: with no event to write, a database that
    // went away looked ready while every page of history answered 503.
    const unreachable = await withDeadline(ctx.store.ping(), STORE_PING_MS, 'the history database').then(() => null, (error: unknown) => (error instanceof Error ? error.message : String(error)));
    const r = readiness(ctx, Date.now(), unreachable);
    // Anyone may ask whether the dashboard is ready; only a caller who may read the API
    // learns why not (broker errors name hosts, worker counts size the cluster).
    return reply.code(r.ready ? 200 : 503).send(mayReadDetails(ctx, req) ? r : { ready: r.ready });
  });

  server.get('/metrics', { config: PUBLIC }, async (_req, reply) => {
    const now = Date.now();
    const ing = ctx.ingest;
    const store = setAsideListingOf(ctx.app.broker);
    // A broker that is down must not hold the scrape: its figures are left out.
    const setAside = store === undefined ? undefined : await withDeadline(store.setAsideStats(), 2000, 'set-aside stats').catch(() => undefined);
    const [tasksByState, stuck] = await Promise.all([ctx.counts.tasksByState().catch(() => ({})), ctx.counts.stuck().catch(() => ({}))]);
    const text = ing.metrics.render({
      workers: ing.workers().map((w) => ({ hostname: w.hostname, online: ing.state.isOnline(w, now) })),
      queues: ing.queueDepths.map((q) => ({ name: q.name, messages: q.messages, ageSec: queueAgeSec(q, now) })),
      tasksByState,
      stuck,
      eventAgeSec: ing.lastEventAt === null ? null : (now - ing.lastEventAt) / 1000,
      eventsIngested: ing.eventsIngested,
      eventsWritten: ing.eventsWritten,
      eventsDropped: ing.eventsDropped,
      tasksDropped: ing.tasksDropped,
      eventMessagesShed: ing.eventMessagesShed,
      eventBytesPending: ing.eventBytesPending,
      ...(setAside === undefined ? {} : { setAside }),
    });
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(`${text}${ctx.limiter.metrics()}${await processMetricsText()}`);
  });

  server.get('/api/config', async (req) => {
    const p = req.principal ?? { user: null, role: 'admin' as const, via: 'anonymous' as const };
    return {
      urlPrefix: ctx.settings.urlPrefix,
      readOnly: ctx.settings.readOnly,
      role: p.role,
      user: p.user,
      csrfToken: ctx.auth.csrfToken(p),
      csrfHeader: CSRF_HEADER,
      timezone: ctx.settings.timezone,
      traceUrl: ctx.settings.traceUrl,
      version: ctx.settings.version,
      broker: ctx.app.brokerUrl,
      store: ctx.store.kind,
      auth: ctx.auth.mode,
      anonymousApi: !ctx.auth.enabled && ctx.auth.anonymousApiAllowed(),
    };
  });

  // Ends the caller's session for good (a replayed cookie is refused too). A browser that
  // logged in with basic auth sends its password again on the next request: close it to forget.
  server.post('/logout', async (req, reply) => {
    if (ctx.auth.crossSite(req)) return reply.code(403).type('text/plain').send('Cross-site request refused');
    const session = req.principal?.session;
    if (session !== undefined) ctx.auth.sessions.revoke(session);
    return reply.header('set-cookie', ctx.auth.cookieHeader('', ctx.settings.urlPrefix, 0)).header('cache-control', 'no-store').send({ message: session === undefined ? 'No session' : 'Logged out' });
  });

  server.get('/api/openapi.json', async () => openApiDocument(ctx.settings.urlPrefix, ctx.settings.version));

  server.get('/api/audit', async (req, reply) => {
    if (req.principal?.role !== 'admin') return reply.code(403).type('text/plain').send('Forbidden: the audit log is for admins');
    return { entries: ctx.audit.recent(500) };
  });
}
