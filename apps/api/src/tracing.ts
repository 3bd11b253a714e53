/**
 * @module tracing
 * OpenTelemetry for the reference app: with `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, {@link startTracing} registers a tracer provider
 * that exports over OTLP/HTTP; without it nothing is registered and nothing is exported.
 * Every HTTP request gets a SERVER span (the caller's `traceparent` continued), and the todo
 * service's database statements and cache calls get CLIENT spans, so a request, the tasks it
 * sends (Celeriac's own `apply_async`/`run` spans) and what those tasks read and write are one
 * trace. docs/tracing.md says what each span holds.
 */
import { context, propagation, SpanKind, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';
import type { RouteOptions } from 'fastify';
import type { Cache } from './cache/cache.js';
import type { Database, Queryable } from './db/database.js';

const tracer = () => trace.getTracer('celeriac-app-api');

/** Runs `fn` in a span named `name`; a throw is recorded on the span and rethrown. */
async function inSpan<T>(name: string, kind: SpanKind, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      span.recordException(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The statement's operation (`SELECT`, `INSERT`, ...), as the span is named. */
function operationOf(text: string): string {
  return /^\s*([A-Za-z]+)/.exec(text)?.[1]?.toUpperCase() ?? 'QUERY';
}

function tracedQueryable(q: Queryable, system: string): Queryable {
  return {
    query: (text, params) =>
      inSpan(operationOf(text), SpanKind.CLIENT, { 'db.system.name': system, 'db.operation.name': operationOf(text), 'db.query.text': text }, () => q.query(text, params)),
  };
}

/** The database with a CLIENT span per statement (the statement's text, never its parameters). */
export function traceDatabase(db: Database): Database {
  const system = db.kind === 'pglite' ? 'pglite' : 'postgresql';
  return {
    kind: db.kind,
    ...tracedQueryable(db, system),
    transaction: (fn) => inSpan('transaction', SpanKind.CLIENT, { 'db.system.name': system }, () => db.transaction((tx) => fn(tracedQueryable(tx, system)))),
    close: () => db.close(),
  };
}

/** The cache with a CLIENT span per call (`cache.get`, `cache.set`, ...) naming the key. */
export function traceCache(cache: Cache): Cache {
  const system = cache.kind === 'redis' ? 'redis' : 'memory';
  const call = <T>(op: string, key: string, fn: () => Promise<T>) => inSpan(`cache.${op}`, SpanKind.CLIENT, { 'db.system.name': system, 'db.operation.name': op, 'cache.key': key }, fn);
  return {
    kind: cache.kind,
    get: (key) => call('get', key, () => cache.get(key)),
    set: (key, value, ttl) => call('set', key, () => cache.set(key, value, ttl)),
    hget: (key, field) => call('hget', key, () => cache.hget(key, field)),
    hset: (key, field, value, ttl) => call('hset', key, () => cache.hset(key, field, value, ttl)),
    del: (keys) => call('del', keys.join(' '), () => cache.del(keys)),
    incr: (key) => call('incr', key, () => cache.incr(key)),
    ping: () => cache.ping(),
    keys: (limit) => cache.keys(limit),
    count: (hit) => cache.count(hit),
    stats: () => cache.stats(),
    close: () => cache.close(),
  };
}

/**
 * Fastify's `onRoute` hook: the route's handler runs in a SERVER span named `<METHOD>
 * <route>`, the child of the caller's `traceparent` when it sends one.
 */
export function traceRoute(route: RouteOptions): void {
  const handler = route.handler;
  const methods = [route.method].flat().join(',');
  const name = `${methods} ${route.url}`;
  route.handler = function tracedHandler(this: unknown, request, reply) {
    const parent = propagation.extract(context.active(), request.headers);
    const attributes: Attributes = { 'http.request.method': request.method, 'http.route': route.url, 'url.path': request.url.split('?')[0] ?? request.url };
    return context.with(parent, () =>
      inSpan(name, SpanKind.SERVER, attributes, async (span) => {
        const out: unknown = await (handler as (this: unknown, ...a: unknown[]) => unknown).call(this, request, reply);
        span.setAttribute('http.response.status_code', reply.statusCode);
        // A callback-style handler (the docs page's static files) returns nothing and sends
        // later: returning the reply tells Fastify so, where an async undefined would not.
        return out === undefined ? reply : out;
      }),
    );
  } as RouteOptions['handler'];
}

/** What {@link startTracing} returns: flushes and stops the provider (a no-op when none). */
export type StopTracing = () => Promise<void>;

/**
 * Registers an OTLP/HTTP-exporting tracer provider when the environment names a collector
 * (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`; the
 * exporter reads `OTEL_EXPORTER_OTLP_HEADERS` itself). Without one nothing is loaded or registered.
 */
export async function startTracing(env: NodeJS.ProcessEnv, serviceName: string): Promise<StopTracing> {
  const base = env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  // As the OTLP spec says: the traces endpoint as given, or the base endpoint + /v1/traces.
  const url = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] || (base ? `${base.replace(/\/+$/, '')}/v1/traces` : '');
  if (url === '') return () => Promise.resolve();
  const [{ NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': env['OTEL_SERVICE_NAME'] ?? serviceName }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }))],
  });
  provider.register();
  return () => provider.shutdown();
}
