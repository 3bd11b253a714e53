/**
 * The reference app end to end under OpenTelemetry: one GET /todos/statistics (a cache miss)
 * is one trace: the request's SERVER span, the cache calls, the statistics task's
 * `apply_async` and `run` spans, and the database statements the task runs, each the child
 * of the one that caused it. `startTracing` exports over OTLP/HTTP only when the environment
 * names a collector (a stand-in collector here), and registers nothing otherwise.
 */
import { createServer, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { context, propagation, SpanKind, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { startTracing } from '../src/tracing.js';
import { startTestApi, type TestApi } from './support/harness.js';
import { waitFor } from '../../../packages/celeriac/test/worker/helpers.js';

function resetOtel(): void {
  trace.disable();
  context.disable();
  propagation.disable();
}

describe('startTracing', () => {
  it('registers nothing without OTEL_EXPORTER_OTLP_ENDPOINT', async () => {
    const stop = await startTracing({}, 'test');
    const span = trace.getTracer('t').startSpan('x');
    expect(span.isRecording()).toBe(false);
    span.end();
    await stop();
  });

  it('exports spans to the collector OTEL_EXPORTER_OTLP_ENDPOINT names', async () => {
    const posts: { url: string; type: string; bytes: number }[] = [];
    const collector = createServer((req: IncomingMessage, res) => {
      let bytes = 0;
      req.on('data', (c: Buffer) => (bytes += c.length));
      req.on('end', () => {
        posts.push({ url: req.url ?? '', type: req.headers['content-type'] ?? '', bytes });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const { port } = collector.address() as { port: number };
    try {
      const stop = await startTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` }, 'test');
      const span = trace.getTracer('t').startSpan('exported');
      expect(span.isRecording()).toBe(true);
      span.end();
      await stop(); // flushes the batch
      expect(posts).toEqual([expect.objectContaining({ url: '/v1/traces' })]);
      expect(posts[0]!.bytes).toBeGreaterThan(0);
    } finally {
      resetOtel();
      collector.close();
    }
  });
});

describe('one trace from the request through the task to the database', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let api: TestApi;

  beforeAll(async () => {
    provider.register();
    api = await startTestApi({ database: 'pglite' });
  }, 60_000);

  afterAll(async () => {
    await api?.close();
    await provider.shutdown();
    resetOtel();
  }, 30_000);

  it('GET /todos/statistics: request, cache, apply_async, run and its SELECTs share one trace id', async () => {
    exporter.reset();
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const res = await api.server.inject({ method: 'GET', url: '/todos/statistics', headers: { traceparent } });
    expect(res.statusCode).toBe(200);
    const spans = await waitFor(() => {
      const all = exporter.getFinishedSpans();
      return all.some((s) => s.name === 'GET /todos/statistics') && all.some((s) => s.name === 'run/todos.statistics') ? all : null;
    }, 'the request and run spans', 10_000);
    const by = (name: string): ReadableSpan => {
      const found = spans.filter((s) => s.name === name);
      expect(found.length, name).toBeGreaterThan(0);
      return found[0]!;
    };
    const request = by('GET /todos/statistics');
    const send = by('apply_async/todos.statistics');
    const run = by('run/todos.statistics');
    const cacheGet = spans.filter((s) => s.name === 'cache.get' || s.name === 'cache.hget');
    const selects = spans.filter((s) => s.name === 'SELECT' && s.parentSpanContext?.spanId === run.spanContext().spanId);
    // The caller's trace is continued.
    expect(request.spanContext().traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(request.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(request.kind).toBe(SpanKind.SERVER);
    expect(request.attributes).toMatchObject({ 'http.request.method': 'GET', 'http.route': '/todos/statistics', 'http.response.status_code': 200 });
    for (const s of [send, run, ...cacheGet, ...selects]) expect(s.spanContext().traceId, s.name).toBe(request.spanContext().traceId);
    expect(cacheGet.length).toBeGreaterThan(0);
    expect(cacheGet[0]!.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(send.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(run.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
    expect(selects.length).toBeGreaterThan(0);
    expect(selects[0]!.kind).toBe(SpanKind.CLIENT);
    expect(selects[0]!.attributes['db.system.name']).toBe('pglite');
    expect(String(selects[0]!.attributes['db.query.text'])).toMatch(/^\s*SELECT/i);
  });
});
