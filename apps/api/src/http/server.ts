/**
 * @module http/server
 * Builds the Fastify server: TypeBox schemas on every route (validation, types and the
 * OpenAPI document from one definition), OpenAPI at `/openapi.json`, Swagger UI at `/docs`
 * (served from the package, no CDN), security headers with a strict CSP on every response, one error shape for every failure, request ids in every
 * log line and response, and a close that ends open event streams first.
 */
import { traceRoute } from '../tracing.js';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TaskFeed } from '../live/task-feed.js';
import { liveRoutes } from '../live/routes.js';
import type { Runtime } from '../runtime.js';
import { compileAllowList } from './allow-list.js';
import type { ServerContext } from './context.js';
import { clientErrorHandler, frameworkErrors, installErrorHandlers } from './errors.js';
import { SECURITY_HEADERS } from './headers.js';
import { opsRoutes } from './routes/ops.js';
import { taskRoutes } from './routes/tasks.js';
import { TODO_SCHEMAS, todoRoutes } from './routes/todos.js';
import { ErrorBody } from './schemas.js';
import type { SseStream } from './sse.js';
import { TaskStatus } from './task-status.js';
import { installJsonParser } from './json-depth.js';
import { installValidation } from './validation.js';
import { Workflow } from './workflow.js';

export { SECURITY_HEADERS } from './headers.js';

/** Options of {@link buildServer}. */
export interface ServerOptions {
  /** Where the dashboard is, for the live page's link; null when none runs. */
  dashboardUrl?: string | null;
}

const REQUEST_ID = /^[\w.:-]{1,64}$/;
/** The app's own icon, for /docs in place of the framework's logo. */
const APP_ICON = readFileSync(new URL('../live/static/icon.svg', import.meta.url));

/** The server type: Fastify with TypeBox-typed routes. */
export type ApiServer = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

/** A registered route: its method, URL pattern and whether it reads a body. */
export interface RouteEntry {
  readonly method: string;
  readonly url: string;
  readonly body: boolean;
}

const TABLES = new WeakMap<object, RouteEntry[]>();

/** Every route a server built by {@link buildServer} registered (HEAD twins left out): the security suite walks it. */
export function routeTable(server: ApiServer): readonly RouteEntry[] {
  return TABLES.get(server) ?? [];
}

/** Builds the API server (not listening yet) and starts its task feed. */
export async function buildServer(runtime: Runtime, options: ServerOptions = {}): Promise<ApiServer> {
  const app = Fastify({
    loggerInstance: runtime.log as FastifyBaseLogger,
    bodyLimit: runtime.settings.bodyLimit,
    // Fastify's default, 0, let a client that sends its body a byte at a time (or not at all)
    // hold a connection for ever: enough of them and the process runs out of file descriptors.
    // Node enforces it with the headers' timeout (60 s unless given at the server's creation),
    // looked at every connectionsCheckingInterval (30 s by default).
    requestTimeout: runtime.settings.requestTimeoutMs,
    http: {
      requestTimeout: runtime.settings.requestTimeoutMs,
      headersTimeout: runtime.settings.requestTimeoutMs,
      connectionsCheckingInterval: Math.max(100, Math.min(30_000, runtime.settings.requestTimeoutMs / 2)),
    },
    // A client may pass its own request id (a proxy's); anything else gets a fresh uuid.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // Stop waiting for idle keep-alive sockets at close; busy requests still finish.
    forceCloseConnections: 'idle',
    // What the router and Node's parser refuse before any route or hook runs (a bad escape in
    // the URL, a parameter too long, headers too large, garbage): the same JSON error and
    // headers as every other answer (http/errors.ts).
    frameworkErrors,
    clientErrorHandler,
  }).withTypeProvider<TypeBoxTypeProvider>();

  const table: RouteEntry[] = [];
  TABLES.set(app, table);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') table.push({ method, url: route.url, body: route.schema?.body !== undefined });
  });
  // Each handler in a SERVER span (a no-op span when no tracer provider is registered).
  app.addHook('onRoute', traceRoute);

  const feed = new TaskFeed(runtime.celery, runtime.log);
  await feed.start();
  const streams = new Set<SseStream>();
  const ctx: ServerContext = { runtime, feed, allowed: compileAllowList(runtime.settings.taskAllowList), streams };

  installJsonParser(app);
  installValidation(app, [ErrorBody, TaskStatus, Workflow, ...TODO_SCHEMAS]);
  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id).headers(SECURITY_HEADERS);
  });
  // Event streams never end by themselves: end them so close() does not wait forever.
  app.addHook('preClose', async () => {
    for (const s of [...streams]) s.close();
  });
  app.addHook('onClose', async () => {
    await feed.close();
  });
  installErrorHandlers(app);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Celeriac reference API',
        version: '0.1.0',
        description: 'Tasks, workflows and a todo service on Celeriac. Every error is JSON: `{ statusCode, error, code, message, requestId }`.',
      },
      tags: [
        { name: 'tasks', description: 'Send tasks and workflows by name, follow them' },
        { name: 'users', description: 'Users of the todo service' },
        { name: 'todos', description: 'Todos, statistics, exports and bulk updates' },
        { name: 'live', description: 'The live task page' },
        { name: 'ops', description: 'Health and cache status' },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json['$id'] === 'string' ? json['$id'] : `def-${i}`) },
  });
  // Its own files only, under the strict policy above: no CDN, no top bar (the framework's logo
  // and a URL box that fetches any spec), no inline script or style.
  await app.register(swaggerUi, { routePrefix: '/docs', logo: { type: 'image/svg+xml', content: APP_ICON }, uiConfig: { layout: 'BaseLayout' } });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(taskRoutes(ctx));
  await app.register(todoRoutes(ctx));
  await app.register(opsRoutes(ctx));
  await app.register(liveRoutes(ctx, { dashboardUrl: options.dashboardUrl ?? null }));
  return app;
}
