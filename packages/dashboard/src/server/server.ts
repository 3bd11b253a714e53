/**
 * @module server/server
 * The dashboard's HTTP server (Fastify): Flower's HTTP API, the dashboard's own endpoints,
 * `/metrics`, health, the live stream and the browser app, all under `--url-prefix`.
 *
 * Every request passes one `onRequest` hook (server/auth.ts decides who is calling), and
 * every action (route flag `action`) is refused in read-only mode and to viewers,
 * CSRF-checked and written to the audit log.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Principal } from './auth.js';
import type { RouteFlags, ServerContext } from './context.js';
import { HttpError, sendError } from './params.js';
import { registerDashboardRoutes } from './routes-dashboard.js';
import { registerOpsRoutes } from './routes-ops.js';
import { registerTaskRoutes } from './routes-tasks.js';
import { registerWorkerRoutes } from './routes-workers.js';
import { registerUi } from './ui.js';

const GATE_MESSAGE = 'FLOWER_UNAUTHENTICATED_API environment variable is required to enable API without authentication';

function isApi(req: FastifyRequest, prefix: string): boolean {
  const path = (req.url.split('?')[0] ?? '').slice(prefix.length);
  return path === '/api' || path.startsWith('/api/');
}

function refuse(reply: FastifyReply, status: number, message: string, basicChallenge = false): FastifyReply {
  if (basicChallenge) reply.header('www-authenticate', 'Basic realm="flower"');
  return reply.code(status).type('text/plain; charset=utf-8').send(message);
}

/** Authenticates, then applies the action rules. Returns a reply when the request is refused. */
function gate(ctx: ServerContext, req: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
  const flags = (req.routeOptions.config ?? {}) as RouteFlags;
  if (flags.public === true) return undefined;
  const api = isApi(req, ctx.settings.urlPrefix);
  const fromHeader = ctx.auth.fromHeader(req);
  if (fromHeader === 'invalid') return refuse(reply, 401, 'Unauthorized', !api);
  let principal: Principal | null = fromHeader ?? ctx.auth.fromSession(req);
  if (principal === null) {
    if (ctx.auth.enabled) return refuse(reply, 401, 'Unauthorized', !api);
    if (api && !ctx.auth.anonymousApiAllowed()) return refuse(reply, 401, GATE_MESSAGE);
    principal = { user: null, role: 'admin', via: 'anonymous' };
  }
  req.principal = principal;
  if (flags.action !== true) return undefined;
  if (ctx.settings.readOnly) return refuse(reply, 403, 'Read only mode is enabled');
  if (principal.role === 'viewer') return refuse(reply, 403, 'Forbidden: the viewer role cannot act');
  if (ctx.auth.needsCsrf(req, principal) && !ctx.auth.csrfValid(req, principal)) return refuse(reply, 403, 'CSRF token missing or invalid (send the x-csrf-token header from /api/config)');
  return undefined;
}

/** Builds the server (not listening). */
export async function buildServer(ctx: ServerContext, options: { logger?: boolean } = {}): Promise<FastifyInstance> {
  const server = Fastify({
    logger: options.logger ?? false,
    bodyLimit: ctx.settings.bodyLimit,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1000 },
    // Flower's clients send ids and names in the path; nothing else is trusted from proxies.
    trustProxy: false,
  });

  // Flower accepts an empty JSON body ("no options") and form bodies on every POST.
  server.removeContentTypeParser('application/json');
  server.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (error) {
      done(new HttpError(400, (error as Error).message), undefined);
    }
  });
  server.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of new URLSearchParams(String(body))) {
      const cur = out[k];
      out[k] = cur === undefined ? v : Array.isArray(cur) ? [...cur, v] : [cur, v];
    }
    done(null, out);
  });
  // Anything else (text/plain from curl -d, octet streams) is kept as text, unparsed.
  server.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, String(body)));

  server.setErrorHandler((error: Error & { statusCode?: number }, _req, reply) => {
    if (error instanceof HttpError) return sendError(reply, error);
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    if (status >= 500) server.log.error({ err: error }, 'request failed');
    return reply.code(status).type('text/plain; charset=utf-8').send(status >= 500 ? 'Internal Server Error' : error.message);
  });

  server.addHook('onRequest', async (req, reply) => {
    // NUL is valid in a URL but in no name, id or search: refuse it before it reaches the store.
    if (/%00/.test(req.url)) return reply.code(400).type('text/plain').send('Invalid URL: NUL character');
    // Flower sends open CORS headers when no auth is configured; keep that for its clients.
    if (!ctx.auth.enabled) {
      reply.header('access-control-allow-origin', '*');
      reply.header('access-control-allow-headers', 'x-requested-with,access-control-allow-origin,authorization,content-type');
      reply.header('access-control-allow-methods', 'PUT, DELETE, OPTIONS, POST, GET, PATCH');
      if (req.method === 'OPTIONS') return reply.code(204).send();
    }
    const refused = gate(ctx, req, reply);
    if (refused !== undefined) return refused;
    return undefined;
  });

  server.addHook('onResponse', async (req, reply) => {
    const flags = (req.routeOptions.config ?? {}) as RouteFlags;
    if (flags.action !== true || req.principal === undefined) return;
    const p = req.principal;
    ctx.audit.record({
      at: new Date().toISOString(),
      user: p.user,
      role: p.role,
      via: p.via,
      ip: req.ip,
      method: req.method,
      path: req.url.split('?')[0] ?? req.url,
      status: reply.statusCode,
    });
  });

  await server.register(
    async (scoped) => {
      registerOpsRoutes(scoped, ctx);
      registerWorkerRoutes(scoped, ctx);
      registerTaskRoutes(scoped, ctx);
      registerDashboardRoutes(scoped, ctx);
      registerUi(scoped, ctx);
    },
    { prefix: ctx.settings.urlPrefix },
  );
  return server;
}
