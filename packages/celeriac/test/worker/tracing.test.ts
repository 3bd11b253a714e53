/**
 * OpenTelemetry on the memory broker: with no tracer provider nothing is written in the
 * messages; once one is registered (as an SDK's `register()` does) every send has an
 * `apply_async/<task>` PRODUCER span whose context travels in the message's `traceparent`
 * header, and every run a `run/<task>` CONSUMER span, its child, in which the body's own
 * spans and sends land. Failures, retries and canvas steps keep the links.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chain, chord, createApp, createLogger, group, Worker } from 'celeriac';
import { MemoryBackend, MemoryBroker } from 'celeriac/memory';
import { decodeTaskMessage, encodeTaskMessage } from '../../src/protocol/task-message.js';
import { closeEnvs, makeEnv, waitFor, waitForState, type TestEnv } from './helpers.js';

afterEach(closeEnvs);

const exporter = new InMemorySpanExporter();
let provider: NodeTracerProvider | null = null;

function register(): void {
  provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  provider.register();
}

afterAll(async () => {
  await provider?.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
});

const spans = (name: string): ReadableSpan[] => exporter.getFinishedSpans().filter((s) => s.name === name);
const one = (name: string): ReadableSpan => {
  const found = spans(name);
  expect(found, name).toHaveLength(1);
  return found[0]!;
};
const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;

const published = (env: TestEnv) => env.broker.published.map((p) => decodeTaskMessage(p.message));

function headersFor(env: TestEnv, id: string): Record<string, unknown>[] {
  return env.broker.published.map((p) => decodeTaskMessage(p.message)).filter((m) => m.headers.id === id).map((m) => m.extraHeaders);
}

describe('with no tracer provider', () => {
  it('writes no trace header and runs tasks as before', async () => {
    const env = makeEnv();
    const add = env.app.task('t.add', (x: number, y: number) => x + y);
    await env.startWorker();
    const r = await add.delay(2, 3);
    await expect(r.get({ timeoutMs: 3000 })).resolves.toBe(5);
    expect(headersFor(env, r.id)).toEqual([{}]);
  });
});

/** An app logging JSON lines to a file through createLogger (the logger apps and the CLI make). */
function loggingApp(dir: string) {
  const file = join(dir, 'worker.log');
  const app = createApp({}, { broker: new MemoryBroker(), backend: new MemoryBackend(), logger: createLogger({ level: 'info', format: 'json', file }) });
  const lines = () =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { app, lines };
}

describe('log lines without a tracer provider', () => {
  it('carry no trace fields', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-log-'));
    const { app, lines } = loggingApp(dir);
    const t = app.task('t.logs', { bind: true }, (ctx) => ctx.log.info('inside the body'));
    const worker = new Worker(app, { hostname: 'w1@testhost' });
    await worker.start();
    try {
      await (await t.delay()).get({ timeoutMs: 3000 });
      const body = await waitFor(() => lines().find((l) => l['msg'] === 'inside the body'), 'the body line');
      expect(body).not.toHaveProperty('trace_id');
      expect(lines().some((l) => 'trace_id' in l || 'span_id' in l)).toBe(false);
    } finally {
      await worker.close({ deadlineMs: 1000 });
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('with a tracer provider registered', () => {
  it('nests request -> apply_async -> run -> the body’s span -> its send -> the next run, one trace', async () => {
    register();
    exporter.reset();
    const env = makeEnv();
    const tracer = trace.getTracer('test');
    const leaf = env.app.task('t.leaf', (x: number) => x + 1);
    const outer = env.app.task('t.outer', async (x: number) => {
      await tracer.startActiveSpan('db.query', async (span) => {
        span.end();
      });
      await leaf.delay(x);
      return x;
    });
    await env.startWorker();
    const r = await tracer.startActiveSpan('GET /things', async (span) => {
      try {
        return await outer.delay(7);
      } finally {
        span.end();
      }
    });
    await waitFor(() => spans('run/t.leaf').length === 1 && spans('run/t.outer').length === 1, 'both run spans');
    const request = one('GET /things');
    const send = one('apply_async/t.outer');
    const run = one('run/t.outer');
    const query = one('db.query');
    const sendLeaf = one('apply_async/t.leaf');
    const runLeaf = one('run/t.leaf');
    const traceId = request.spanContext().traceId;
    for (const s of [send, run, query, sendLeaf, runLeaf]) expect(s.spanContext().traceId).toBe(traceId);
    expect(parentOf(send)).toBe(request.spanContext().spanId);
    expect(parentOf(run)).toBe(send.spanContext().spanId);
    expect(parentOf(query)).toBe(run.spanContext().spanId);
    expect(parentOf(sendLeaf)).toBe(run.spanContext().spanId);
    expect(parentOf(runLeaf)).toBe(sendLeaf.spanContext().spanId);
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(run.kind).toBe(SpanKind.CONSUMER);
    expect(send.attributes).toMatchObject({ 'celery.action': 'apply_async', 'celery.task_name': 't.outer', 'messaging.message.id': r.id, 'messaging.destination.name': 'celery', 'messaging.operation.type': 'send' });
    expect(run.attributes).toMatchObject({
      'celery.action': 'run',
      'celery.task_name': 't.outer',
      'celery.hostname': 'w1@testhost',
      'celery.state': 'SUCCESS',
      'messaging.message.id': r.id,
      'messaging.destination.name': 'celery',
      'messaging.operation.type': 'process',
    });
    expect(run.status.code).toBe(SpanStatusCode.UNSET);
    // The header is the producer span's W3C context, as Python's instrumentation writes it.
    const [headers] = headersFor(env, r.id);
    expect(headers?.['traceparent']).toBe(`00-${traceId}-${send.spanContext().spanId}-01`);
  });

  it('writes trace_id and span_id of the run span on the worker’s lines for the task, none outside', async () => {
    exporter.reset();
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-log-'));
    const { app, lines } = loggingApp(dir);
    const t = app.task('t.logs2', { bind: true }, (ctx) => ctx.log.info('inside the body'));
    const worker = new Worker(app, { hostname: 'w1@testhost' });
    await worker.start();
    try {
      const r = await t.delay();
      await r.get({ timeoutMs: 3000 });
      await waitFor(() => spans('run/t.logs2').length === 1, 'the run span');
      const run = one('run/t.logs2');
      const body = await waitFor(() => lines().find((l) => l['msg'] === 'inside the body'), 'the body line');
      expect(body).toMatchObject({ trace_id: run.spanContext().traceId, span_id: run.spanContext().spanId, trace_flags: '01', taskId: r.id });
      // The worker's own line for the task's end is written in the run span too.
      const done = await waitFor(() => lines().find((l) => typeof l['msg'] === 'string' && l['msg'].includes(`[${r.id}] succeeded`)), 'the success line');
      expect(done).toMatchObject({ trace_id: run.spanContext().traceId, span_id: run.spanContext().spanId });
      // Lines outside any span (start-up) carry none.
      expect(lines().filter((l) => !('trace_id' in l)).length).toBeGreaterThan(0);
    } finally {
      await worker.close({ deadlineMs: 1000 });
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('records a failure’s exception and marks the run span as an error', async () => {
    exporter.reset();
    const env = makeEnv();
    const boom = env.app.task('t.boom', () => {
      throw new RangeError('out of range');
    });
    await env.startWorker();
    const r = await boom.delay();
    await waitForState(env, r.id, 'FAILURE');
    await waitFor(() => spans('run/t.boom').length === 1, 'the run span');
    const run = one('run/t.boom');
    expect(run.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'out of range' });
    expect(run.attributes['celery.state']).toBe('FAILURE');
    const exception = run.events.find((e) => e.name === 'exception');
    expect(exception?.attributes).toMatchObject({ 'exception.type': 'RangeError', 'exception.message': 'out of range' });
  });

  it('gives a retry its own producer span under the run, and the next run under it', async () => {
    exporter.reset();
    const env = makeEnv();
    const flaky = env.app.task('t.flaky', { bind: true }, (ctx) => {
      if (ctx.request.retries < 1) ctx.retry({ countdown: 0, exc: new TypeError('not yet') });
      return 'ok';
    });
    await env.startWorker();
    const r = await flaky.delay();
    await waitForState(env, r.id, 'SUCCESS');
    await waitFor(() => spans('run/t.flaky').length === 2, 'two run spans');
    const [first, second] = spans('run/t.flaky').sort((a, b) => Number(a.attributes['celery.retries'] ?? 0) - Number(b.attributes['celery.retries'] ?? 0));
    const sends = spans('apply_async/t.flaky');
    expect(sends).toHaveLength(2);
    const retrySend = sends.find((s) => s.attributes['celery.retries'] === 1)!;
    expect(first!.attributes).toMatchObject({ 'celery.state': 'RETRY', 'celery.retry.reason': 'TypeError: not yet' });
    expect(first!.status.code).toBe(SpanStatusCode.UNSET);
    expect(parentOf(retrySend)).toBe(first!.spanContext().spanId);
    expect(parentOf(second!)).toBe(retrySend.spanContext().spanId);
    expect(second!.attributes).toMatchObject({ 'celery.retries': 1, 'celery.state': 'SUCCESS' });
    // The retry's message carries the retry's own context, not the first send's.
    const contexts = headersFor(env, r.id).map((h) => h['traceparent']);
    expect(contexts).toEqual([expect.stringContaining(sends.find((s) => s !== retrySend)!.spanContext().spanId), expect.stringContaining(retrySend.spanContext().spanId)]);
  });

  it('traces canvas members: each group member and each chain step is sent under a span', async () => {
    exporter.reset();
    const env = makeEnv();
    const inc = env.app.task('t.inc', (x: number) => x + 1);
    await env.startWorker();
    const g = await group(inc.s(1), inc.s(2)).applyAsync();
    await expect(g.get({ timeoutMs: 3000 })).resolves.toEqual([2, 3]);
    const c = await chain(inc.s(1), inc.s(), inc.s()).applyAsync();
    await expect(c.get({ timeoutMs: 3000 })).resolves.toBe(4);
    await waitFor(() => spans('run/t.inc').length === 5, 'five runs');
    const sends = spans('apply_async/t.inc');
    expect(sends).toHaveLength(5);
    const runs = spans('run/t.inc');
    const byId = new Map(runs.map((s) => [s.spanContext().spanId, s]));
    // Every run is the child of a send; chain steps after the first are sent from the run before.
    for (const run of runs) expect(sends.map((s) => s.spanContext().spanId)).toContain(parentOf(run));
    const fromRuns = sends.filter((s) => byId.has(parentOf(s) ?? ''));
    expect(fromRuns).toHaveLength(2);
    const chainTrace = fromRuns[0]!.spanContext().traceId;
    expect(runs.filter((s) => s.spanContext().traceId === chainTrace)).toHaveLength(3);
  });

  it('links a chord body’s run to its header parts’ producer spans, nested chords and chains included', async () => {
    exporter.reset();
    const env = makeEnv();
    const inc = env.app.task('t.inc', (x: number) => x + 1);
    const total = env.app.task('t.total', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
    await env.startWorker();
    const inner = chord([inc.s(10), inc.s(20)], total.s());
    const r = await trace.getTracer('test').startActiveSpan('request', async (span) => {
      const sent = await chord([inc.s(1), chain(inc.s(2), inc.s()), inner], total.s()).applyAsync();
      span.end();
      return sent;
    });
    await expect(r.get({ timeoutMs: 5000 })).resolves.toBe(2 + 4 + 32);
    await waitFor(() => spans('run/t.total').length === 2, 'both bodies');
    // Every header message was published under a span named for its task: none left a placeholder, none failed.
    expect(exporter.getFinishedSpans().filter((s) => s.name === 'apply_async' || s.status.code === SpanStatusCode.ERROR)).toEqual([]);
    const sends = spans('apply_async/t.inc');
    for (const run of spans('run/t.inc')) expect(sends.map((s) => s.spanContext().spanId)).toContain(parentOf(run));
    // The producer span of the message that gave t.inc the argument `x` first.
    const sentFor = (x: number) => {
      const id = published(env).find((m) => m.headers.task === 't.inc' && m.args[0] === x)!.headers.id;
      return sends.find((s) => s.attributes['messaging.message.id'] === id)!.spanContext().spanId;
    };
    const outerBody = spans('run/t.total').find((s) => s.attributes['messaging.message.id'] === r.id)!;
    const innerBody = spans('run/t.total').find((s) => s !== outerBody)!;
    // The outer header's parts: inc(1), the chain's first step inc(2), the inner chord's first part inc(10).
    expect(outerBody.links.map((l) => l.context.spanId)).toEqual([1, 2, 10].map(sentFor));
    expect(innerBody.links.map((l) => l.context.spanId)).toEqual([10, 20].map(sentFor));
    const traceId = one('request').spanContext().traceId;
    for (const l of [...outerBody.links, ...innerBody.links]) expect(l.context.traceId).toBe(traceId);
  });

  it('links at most 32 header parts, and none when the chord is not sampled', async () => {
    exporter.reset();
    const env = makeEnv();
    const inc = env.app.task('t.inc', (x: number) => x + 1);
    const total = env.app.task('t.total', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
    await env.startWorker();
    const r = await chord(Array.from({ length: 40 }, (_, i) => inc.s(i)), total.s()).applyAsync();
    await expect(r.get({ timeoutMs: 5000 })).resolves.toBe(40 + (39 * 40) / 2);
    await waitFor(() => spans('run/t.total').length === 1, 'the body');
    expect(one('run/t.total').links).toHaveLength(32);
    expect(spans('apply_async/t.inc')).toHaveLength(40);
    // Under a parent that is not sampled nothing is recorded, and the body names no links.
    const unsampled = trace.setSpanContext(context.active(), { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 0, isRemote: true });
    const r2 = await context.with(unsampled, () => chord([inc.s(100), inc.s(200)], total.s()).applyAsync());
    await expect(r2.get({ timeoutMs: 5000 })).resolves.toBe(302);
    const header = published(env).filter((m) => m.headers.task === 't.inc' && (m.args[0] === 100 || m.args[0] === 200));
    expect(header).toHaveLength(2);
    expect(JSON.stringify(header)).not.toContain('celeriac_trace_links');
    expect(JSON.stringify(header)).toContain(`00-${'a'.repeat(32)}-`);
  });

  it('gives an eager run a run span under the caller, one per attempt, a failure its exception', async () => {
    exporter.reset();
    const app = createApp({ taskAlwaysEager: true }, { broker: new MemoryBroker(), backend: new MemoryBackend() });
    const tracer = trace.getTracer('test');
    const twice = app.task('t.eager', { bind: true }, (ctx, x: number) => {
      if (ctx.request.retries < 1) ctx.retry({ countdown: 0, exc: new TypeError('again') });
      return tracer.startActiveSpan('inner', (span) => {
        span.end();
        return x * 2;
      });
    });
    const boom = app.task('t.eager-boom', () => {
      throw new RangeError('bad');
    });
    try {
      await tracer.startActiveSpan('caller', async (span) => {
        await expect((await twice.delay(2)).get()).resolves.toBe(4);
        expect(await (await boom.delay()).state()).toBe('FAILURE');
        span.end();
      });
    } finally {
      await app.close();
    }
    const caller = one('caller');
    const runs = spans('run/t.eager');
    expect(runs.map((r) => r.attributes['celery.state'])).toEqual(['RETRY', 'SUCCESS']);
    for (const run of [...runs, one('run/t.eager-boom')]) {
      expect(run.spanContext().traceId).toBe(caller.spanContext().traceId);
      expect(parentOf(run)).toBe(caller.spanContext().spanId);
      expect(run.attributes).toMatchObject({ 'celery.hostname': 'eager', 'messaging.destination.name': 'celery' });
    }
    expect(runs[0]!.attributes['celery.retry.reason']).toBe('TypeError: again');
    expect(parentOf(one('inner'))).toBe(runs[1]!.spanContext().spanId);
    const failed = one('run/t.eager-boom');
    expect(failed.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'bad' });
    expect(failed.events.find((e) => e.name === 'exception')?.attributes).toMatchObject({ 'exception.type': 'RangeError' });
    // Nothing was published: no producer span.
    expect(exporter.getFinishedSpans().filter((s) => s.name.startsWith('apply_async/'))).toEqual([]);
  });

  it('starts a new trace when the header is garbage, and still runs the task', async () => {
    exporter.reset();
    const env = makeEnv();
    env.app.task('t.add2', (x: number, y: number) => x + y);
    await env.startWorker();
    const values = ['00-zzzz-yyyy-01', 12, { a: 1 }, ['x'], 'x'.repeat(100_000)];
    const ids: string[] = [];
    // A send outside any span with a forged context: the producer span overwrites it...
    for (const traceparent of values) {
      const r = await env.app.sendTask('t.add2', [1, 2], {}, { headers: { traceparent: traceparent as never } });
      ids.push(r.id);
    }
    for (const id of ids) await waitForState(env, id, 'SUCCESS');
    for (const id of ids) expect(headersFor(env, id)[0]?.['traceparent']).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    // ...and a message published with one (another producer) runs as a root span.
    exporter.reset();
    for (const traceparent of values) {
      const message = decodeTaskMessage(env.broker.published.find((p) => decodeTaskMessage(p.message).headers.id === ids[0])!.message);
      const forged = { ...message, headers: { ...message.headers, id: `forged-${ids.length}-${String(traceparent).length}` }, extraHeaders: { traceparent: traceparent as never, tracestate: 7 as never } };
      await env.memory.publish(encodeTaskMessage(forged), { exchange: '', routingKey: 'celery' });
      await waitForState(env, forged.headers.id, 'SUCCESS');
    }
    await waitFor(() => spans('run/t.add2').length === values.length, 'the forged runs');
    for (const run of spans('run/t.add2')) expect(parentOf(run)).toBeUndefined();
  });
});
