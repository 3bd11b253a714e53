/**
 * @module server/routes-ops
 * Operations endpoints: `/healthcheck` (liveness, Flower's `OK`), `/readyz` (readiness:
 * the broker answers and events flow), `/metrics` (Prometheus), and the UI's `/api/config`,
 * `/api/openapi.json` and `/api/audit`.
 */
import type { FastifyInstance } from 'fastify';
import { CSRF_HEADER } from './auth.js';
import type { RouteFlags, ServerContext } from './context.js';
import { openApiDocument } from './openapi.js';
import { setAsideListingOf } from 'celeriac/spi';
import { withDeadline } from '../ingest/deadline.js';

const PUBLIC: RouteFlags = { public: true };

/** Readiness: what is wrong, or nothing. */
export function readiness(ctx: ServerContext, now: number): { ready: boolean; checks: Record<string, { ok: boolean; detail: string }> } {
  const ing = ctx.ingest;
  const online = ing.workers().filter((w) => ing.state.isOnline(w, now)).length;
  const eventAge = ing.lastEventAt === null ? null : (now - ing.lastEventAt) / 1000;
  // Events flow when some arrived recently; with no online worker, silence is normal.
  const eventsOk = online === 0 || (eventAge !== null && eventAge < 30);
  const checks = {
    broker: { ok: ing.brokerError === null, detail: ing.brokerError ?? 'reachable' },
    events: { ok: eventsOk, detail: eventAge === null ? 'no event yet' : `last event ${eventAge.toFixed(1)} s ago, ${online} worker(s) online` },
    store: { ok: ing.storeError === null, detail: ing.storeError ?? 'writing' },
  };
  return { ready: Object.values(checks).every((c) => c.ok), checks };
}

/** Registers the routes. */
export function registerOpsRoutes(server: FastifyInstance, ctx: ServerContext): void {
  server.get('/healthcheck', { config: PUBLIC }, async (_req, reply) => reply.type('text/plain; charset=utf-8').send('OK'));

  server.get('/readyz', { config: PUBLIC }, async (_req, reply) => {
    const r = readiness(ctx, Date.now());
    return reply.code(r.ready ? 200 : 503).send(r);
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
      queues: ing.queueDepths,
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
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(text);
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
      version: ctx.settings.version,
      broker: ctx.app.brokerUrl,
      store: ctx.store.kind,
    };
  });

  server.get('/api/openapi.json', async () => openApiDocument(ctx.settings.urlPrefix, ctx.settings.version));

  server.get('/api/audit', async (req, reply) => {
    if (req.principal?.role !== 'admin') return reply.code(403).type('text/plain').send('Forbidden: the audit log is for admins');
    return { entries: ctx.audit.recent(500) };
  });
}
