/**
 * @module http/routes/ops
 * `GET /health`: the database, cache, broker and result backend, each up or down with its
 * latency; 503 when any is down, so a load balancer or an orchestrator takes the process out.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ServerContext } from '../context.js';
import { redact } from '../../settings.js';

/** Milliseconds a check may take before it counts as down. */
export const HEALTH_TIMEOUT_MS = 2000;

const Check = Type.Object({ status: Type.Union([Type.Literal('up'), Type.Literal('down')]), kind: Type.String(), latencyMs: Type.Integer(), error: Type.Optional(Type.String()) });
const Health = Type.Object({ status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]), checks: Type.Record(Type.String(), Check) });

async function probe(kind: string, fn: () => Promise<unknown>): Promise<{ status: 'up' | 'down'; kind: string; latencyMs: number; error?: string }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${HEALTH_TIMEOUT_MS} ms`)), HEALTH_TIMEOUT_MS);
  });
  try {
    await Promise.race([fn(), timeout]);
    return { status: 'up', kind, latencyMs: Math.round(performance.now() - started) };
  } catch (err) {
    return { status: 'down', kind, latencyMs: Math.round(performance.now() - started), error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

/** The health route. */
export function opsRoutes(ctx: ServerContext): FastifyPluginAsyncTypebox {
  const { db, cache, celery } = ctx.runtime;
  return async (app) => {
    app.get('/health', {
      schema: { tags: ['ops'], summary: 'Health of the database, cache, broker and result backend; 503 when one is down', response: { 200: Health, 503: Health } },
      // Health checks are polled constantly: keep them out of the request log.
      logLevel: 'warn',
    }, async (_request, reply) => {
      const [database, cacheCheck, broker, backend] = await Promise.all([
        probe(db.kind, () => db.query('SELECT 1')),
        probe(cache.kind, () => cache.ping()),
        probe(redact(celery.brokerUrl).split(':')[0] ?? 'broker', () => celery.broker.queueLength(celery.settings.taskDefaultQueue)),
        probe(redact(celery.backendUrl).split(':')[0] ?? 'backend', () => celery.backend.get('health-check')),
      ]);
      const checks = { database, cache: cacheCheck, broker, resultBackend: backend };
      const ok = Object.values(checks).every((c) => c.status === 'up');
      return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks });
    });
  };
}
