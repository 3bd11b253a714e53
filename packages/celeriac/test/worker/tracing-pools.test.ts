/**
 * OpenTelemetry in the threads and prefork pools: the worker's run span is carried to the
 * child that runs the body, so the spans the body makes there (and the producer span of a
 * task it sends) join the run's trace. The child's tracer provider is registered the usual
 * way, `--import` of a preload (here through NODE_OPTIONS): a prefork child runs it itself,
 * a pool thread imports it because the worker passes it on (Node runs `--import` in the
 * main thread only).
 */
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { context, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { threadPreloads } from '../../src/worker/pools/spawn-child.js';
import { defineTasks } from './fixtures/trace-app.js';
import { fixtureModule } from '../support/node-script.js';
import { closeEnvs, makeEnv, waitFor } from './helpers.js';

// Children boot dist/'s child-main.js with plain node when dist/ is current (test/support/node-script.ts).
vi.mock('../../src/worker/pools/spawn-child.js', async (original) => (await (await import('../support/node-script.js')).compiledSpawnChild()) ?? original());

const appModule = fixtureModule(new URL('./fixtures/trace-app.ts', import.meta.url));
const PRELOAD = fileURLToPath(new URL('./fixtures/otel-preload.mjs', import.meta.url));

/** A span as the children's preload writes it. */
interface ChildSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  pid: number;
  threadId: number;
}

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
let dir = '';
let spansFile = '';
const saved = { nodeOptions: process.env['NODE_OPTIONS'], spans: process.env['CELERIAC_TEST_SPANS'] };

beforeAll(() => {
  provider.register();
  dir = mkdtempSync(join(tmpdir(), 'celeriac-trace-pools-'));
  spansFile = join(dir, 'spans.jsonl');
  // What `NODE_OPTIONS="--import ./otel.mjs" celeriac worker` gives the worker's children.
  process.env['NODE_OPTIONS'] = `--import ${PRELOAD}`;
  process.env['CELERIAC_TEST_SPANS'] = spansFile;
});

afterEach(closeEnvs);

afterAll(async () => {
  for (const [key, value] of [['NODE_OPTIONS', saved.nodeOptions], ['CELERIAC_TEST_SPANS', saved.spans]] as const) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  await provider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
  rmSync(dir, { recursive: true, force: true });
});

const childSpans = (): ChildSpan[] =>
  existsSync(spansFile)
    ? readFileSync(spansFile, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as ChildSpan)
    : [];
const mine = (name: string): ReadableSpan[] => exporter.getFinishedSpans().filter((s) => s.name === name);

describe.each(['threads', 'prefork'] as const)('%s pool with a tracer provider in the worker and its children', (pool) => {
  it("runs the body as the child of the worker's run span: its own spans and its sends join the trace", { timeout: 60_000 }, async () => {
    exporter.reset();
    rmSync(spansFile, { force: true });
    const env = makeEnv();
    const tasks = defineTasks(env.app);
    await env.startWorker({ pool, appModule, concurrency: 1 });
    const tracer = trace.getTracer('test');
    const r = await tracer.startActiveSpan('request', async (span) => {
      try {
        return await tasks.traced.delay(1);
      } finally {
        span.end();
      }
    });
    const ranIn = await r.get({ timeoutMs: 20_000 });
    expect(ranIn).not.toBe(pool === 'threads' ? 0 : process.pid);
    await waitFor(() => mine('run/trace.leaf').length === 1 && mine('run/trace.body').length === 1, 'both run spans', 20_000);
    const body = await waitFor(() => childSpans().find((s) => s.name === 'body.work'), 'the body span from the child', 20_000);
    const send = await waitFor(() => childSpans().find((s) => s.name === 'apply_async/trace.leaf'), "the child's producer span", 20_000);
    const [run] = mine('run/trace.body');
    const [leafRun] = mine('run/trace.leaf');
    const traceId = mine('request')[0]!.spanContext().traceId;
    // Recorded in the child (another thread, or another process), by the child's provider.
    expect(pool === 'threads' ? body.threadId : body.pid).toBe(ranIn);
    expect(body).toMatchObject({ traceId, parentSpanId: run!.spanContext().spanId });
    expect(send).toMatchObject({ traceId, parentSpanId: body.spanId });
    expect(leafRun!.spanContext().traceId).toBe(traceId);
    expect(leafRun!.parentSpanContext?.spanId).toBe(send.spanId);
  });
});

describe.each(['threads', 'prefork'] as const)('%s pool when the worker stops', (pool) => {
  it('has each child export the spans its providers still hold before it is ended', { timeout: 60_000 }, async () => {
    exporter.reset();
    rmSync(spansFile, { force: true });
    process.env['CELERIAC_TEST_SPANS_BATCH'] = '1';
    try {
      const env = makeEnv();
      const tasks = defineTasks(env.app);
      const worker = await env.startWorker({ pool, appModule, concurrency: 1 });
      await (await tasks.traced.delay(1)).get({ timeoutMs: 20_000 });
      // Held in the child's batch: nothing written yet.
      expect(childSpans().filter((s) => s.name === 'body.work')).toEqual([]);
      await worker.close({ deadlineMs: 5000 });
      expect(childSpans().filter((s) => s.name === 'body.work')).toHaveLength(1);
    } finally {
      delete process.env['CELERIAC_TEST_SPANS_BATCH'];
    }
  });
});

describe('the modules a pool thread imports first', () => {
  it('are the --import preloads of the worker flags and NODE_OPTIONS, paths made absolute, tsx left out', () => {
    const found = threadPreloads(['--import', 'tsx', '--import=./otel.mjs', '--max-old-space-size=512'], ' --import "/abs/x.mjs"  --require ./r.cjs --import @scope/auto/register --import', '/srv/app');
    expect(found).toEqual(['file:///srv/app/otel.mjs', 'file:///abs/x.mjs', '@scope/auto/register']);
    expect(threadPreloads([], undefined, '/')).toEqual([]);
    expect(threadPreloads(['--import', 'tsx/esm'], '--import=tsx', '/')).toEqual([]);
  });
});
