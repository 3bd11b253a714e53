/**
 * @module server/server
 * The dashboard's HTTP server (Fastify): Flower's HTTP API, the dashboard's own endpoints,
 * `/metrics`, health, the live stream and the browser app, all under `--url-prefix`.
 *
 * Every request passes one `onRequest` hook (server/auth.ts decides who is calling), and
 * every action (route flag `action`) is refused in read-only mode and to viewers,
 * CSRF-checked and written to the audit log.
 */
import type { Socket } from 'node:net';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { CeleriacError, ErrorCodes } from 'celeriac';
import { parsePyJson } from 'celeriac/monitor';
import type { Principal } from './auth.js';
import type { RouteFlags, ServerContext } from './context.js';
import { HttpError, sendError } from './params.js';
import { registerDashboardRoutes } from './routes-dashboard.js';
import { observeCluster } from './otel-metrics.js';
import { registerOpsRoutes } from './routes-ops.js';
import { registerTaskRoutes } from './routes-tasks.js';
import { registerWorkerRoutes } from './routes-workers.js';
import { SECURITY_HEADERS } from './security-headers.js';
import { registerLoginRoutes } from './routes-login.js';
import { registerUi } from './ui.js';

const GATE_MESSAGE = 'FLOWER_UNAUTHENTICATED_API environment variable is required to enable API without authentication';
const CONTROL_MESSAGE = 'No authentication is configured and anonymous control is off: configure --basic-auth or --api-tokens (or, knowingly, --anonymous-control for pages and FLOWER_UNAUTHENTICATED_API for scripts)';

function isApi(req: FastifyRequest, prefix: string): boolean {
  const path = (req.url.split('?')[0] ?? '').slice(prefix.length);
  return path === '/api' || path.startsWith('/api/');
}

function refuse(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).type('text/plain; charset=utf-8').send(message);
}

/** A 401; with basic auth configured it names the scheme, so browsers and scripts can answer it. */
function unauthorized(ctx: ServerContext, reply: FastifyReply, message = 'Unauthorized'): FastifyReply {
  if (ctx.auth.config.basicAuth.length > 0) reply.header('www-authenticate', 'Basic realm="flower", charset="UTF-8"');
  return refuse(reply, 401, message);
}

/** Who is calling, or the reply that refused the request. */
function identify(ctx: ServerContext, req: FastifyRequest, reply: FastifyReply, action: boolean): Principal | FastifyReply {
  const session = ctx.auth.fromSession(req);
  // A browser that logged in with basic auth sends the password with every request, beside its
  // cookie: a valid session of that same user is enough, so a lock another client caused by
  // guessing this user's password does not shut the user's own open page out.
  if (session !== null && (req.headers.authorization === undefined || ctx.auth.claimedUser(req) === session.user)) return session;
  const header = ctx.auth.fromHeader(req);
  if (header !== null) {
    // Tokens name no user: they count against the client only.
    const tried = 'invalid' in header ? header.user : header.via === 'token' ? null : header.user;
    const wait = ctx.limiter.lockedFor(req.ip, tried);
    if (wait > 0) return reply.code(429).header('retry-after', String(Math.ceil(wait / 1000))).type('text/plain; charset=utf-8').send('Too many failed logins: try again later');
    if ('invalid' in header) {
      const failure = ctx.limiter.fail(req.ip, header.user);
      ctx.app.log.warn({ ip: failure.ip, user: failure.user, failures: failure.failures, lockedForMs: failure.lockedForMs, path: req.url.split('?')[0] }, 'dashboard: failed login');
      return unauthorized(ctx, reply);
    }
    ctx.limiter.succeed(req.ip, tried);
    return header;
  }
  if (session !== null) return session;
  // With an OIDC login a page sends the browser to log in; the API answers 401 for scripts.
  if (ctx.oidc !== null && req.method === 'GET' && !isApi(req, ctx.settings.urlPrefix)) return reply.header('cache-control', 'no-store').redirect(`${ctx.settings.urlPrefix}/login`);
  if (ctx.auth.enabled) return unauthorized(ctx, reply);
  // No auth configured: scripts pass Flower's gate only when it is open; pages read.
  if (ctx.auth.anonymousApiAllowed()) return { user: null, role: 'admin', via: 'anonymous' };
  if (action) return unauthorized(ctx, reply, CONTROL_MESSAGE);
  if (isApi(req, ctx.settings.urlPrefix)) return unauthorized(ctx, reply, GATE_MESSAGE);
  return { user: null, role: ctx.auth.anonymousPageRole(), via: 'anonymous' };
}

/** Authenticates, then applies the action rules. Returns a reply when the request is refused. */
function gate(ctx: ServerContext, req: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
  const flags = (req.routeOptions.config ?? {}) as RouteFlags;
  if (flags.public === true) return undefined;
  const action = flags.action === true;
  const principal = identify(ctx, req, reply, action);
  if (!('role' in principal)) return principal;
  req.principal = principal;
  if (principal.session?.refresh != null) reply.header('set-cookie', ctx.auth.cookieHeader(principal.session.refresh, ctx.settings.urlPrefix));
  if (!action) return undefined;
  if (ctx.settings.readOnly) return refuse(reply, 403, 'Read only mode is enabled');
  if (principal.role === 'viewer') {
    if (principal.user === null) return unauthorized(ctx, reply, CONTROL_MESSAGE);
    return refuse(reply, 403, 'Forbidden: the viewer role cannot act');
  }
  if (principal.via !== 'token' && ctx.auth.crossSite(req)) return refuse(reply, 403, 'Cross-site request refused: actions come from the dashboard\'s own pages');
  if (ctx.auth.needsCsrf(req, principal) && !ctx.auth.csrfValid(req, principal)) return refuse(reply, 403, 'CSRF token missing or invalid (send the x-csrf-token header from /api/config)');
  return undefined;
}

/** A registered route, as the auth hook sees it. */
export interface RouteEntry {
  readonly method: string;
  /** With the URL prefix and Fastify's `:param` and `*` placeholders. */
  readonly url: string;
  readonly public: boolean;
  readonly action: boolean;
}

const TABLES = new WeakMap<FastifyInstance, RouteEntry[]>();

/** Every route a server built by {@link buildServer} registered (HEAD twins left out). */
export function routeTable(server: FastifyInstance): readonly RouteEntry[] {
  return TABLES.get(server) ?? [];
}

/**
 * How a failed request is answered: an HttpError as it says; a dependency down (a TRANSPORT
 * error: the history database, store/sql-driver.ts) 503, its detail, which names hosts, in the
 * log only; anything else by its status, 500 for a bug.
 */
export function registerErrorHandler(server: FastifyInstance): void {
  server.setErrorHandler((error: Error & { statusCode?: number }, _req, reply) => {
    if (error instanceof HttpError) return sendError(reply, error);
    if (error instanceof CeleriacError && error.code === ErrorCodes.TRANSPORT) {
      server.log.warn({ err: error }, 'request failed: a service is unavailable');
      return sendError(reply, new HttpError(503, 'Service Unavailable: the history database or the broker did not answer', 'json'));
    }
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    if (status >= 500) server.log.error({ err: error }, 'request failed');
    return reply.code(status).type('text/plain; charset=utf-8').send(status >= 500 ? 'Internal Server Error' : error.message);
  });
}

/**
 * Fastify's `frameworkErrors`: what the router refuses before any hook runs (a bad
 * percent-escape, a path part past `maxParamLength`), answered as the dashboard answers other
 * bad requests, with the security headers, which the hooks would have set.
 */
function frameworkErrors(error: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
  void reply.code(tooLong ? 414 : 400).headers(SECURITY_HEADERS).type('text/plain; charset=utf-8').send(tooLong ? 'URI Too Long' : 'Bad Request: invalid URL');
}

/**
 * Fastify's `clientErrorHandler`: what Node's HTTP parser refuses before there is a request
 * (headers too large, bytes that are not HTTP, a request that did not arrive in time), in
 * plain text with the security headers; then the connection is closed, as Node does.
 */
function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, text] = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout'] : err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large'] : [400, 'Bad Request'];
  if (socket.writable) {
    const headers = { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'content-length': String(text.length), connection: 'close' };
    socket.write(`HTTP/1.1 ${status} ${text}\r\n${Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n${text}`);
  }
  socket.destroy();
}

/** Builds the server (not listening). */
export async function buildServer(ctx: ServerContext, options: { logger?: boolean } = {}): Promise<FastifyInstance> {
  const server = Fastify({
    logger: options.logger ?? false,
    bodyLimit: ctx.settings.bodyLimit,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1000 },
    // Flower's clients send ids and names in the path; nothing else is trusted from proxies.
    trustProxy: false,
    frameworkErrors,
    clientErrorHandler,
  });

  const table: RouteEntry[] = [];
  TABLES.set(server, table);
  server.addHook('onRoute', (route) => {
    const flags = (route.config ?? {}) as RouteFlags;
    for (const method of [route.method].flat()) if (method !== 'HEAD') table.push({ method, url: route.url, public: flags.public === true, action: flags.action === true });
  });

  // Flower accepts an empty JSON body ("no options") and form bodies on every POST. An integer
  // past 2**53 (a Snowflake id in a task's args) is read exactly, as Flower's json.loads reads
  // it: JSON.parse rounded it, and the task got another number.
  server.removeContentTypeParser('application/json');
  server.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, parsePyJson(text));
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

  registerErrorHandler(server);

  server.addHook('onRequest', async (req, reply) => {
    reply.headers(SECURITY_HEADERS);
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

  // With a MeterProvider registered: queue depths and workers online through OpenTelemetry too.
  const unobserve = observeCluster(ctx);
  if (unobserve !== undefined) server.addHook('onClose', async () => unobserve());

  await server.register(
    async (scoped) => {
      registerOpsRoutes(scoped, ctx);
      registerWorkerRoutes(scoped, ctx);
      registerTaskRoutes(scoped, ctx);
      registerDashboardRoutes(scoped, ctx);
      registerLoginRoutes(scoped, ctx, ctx.oidc);
      registerUi(scoped, ctx);
    },
    { prefix: ctx.settings.urlPrefix },
  );
  return server;
}
