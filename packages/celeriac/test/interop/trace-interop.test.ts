/**
 * One trace across languages, against OpenTelemetry Python 1.44 and the contrib Celery
 * instrumentation (../shared/oracles/opentelemetry-python) on each Celery oracle (Debian's
 * 5.2.6 and 5.6.3: the instrumentation's path goes after the oracle's), on Redis and on
 * RabbitMQ. Python -> TypeScript -> Python: an instrumented Python producer sends to a
 * Celeriac worker whose task sends to an instrumented Python worker. TypeScript -> Python ->
 * TypeScript: the other way round. Every span must share the first span's trace id, and each
 * send must be the parent of the run it caused, whichever language made either.
 *
 * TypeScript spans go to an in-memory exporter; Python's (producer script and worker) to a
 * JSON-lines file read back here.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { context, propagation, SpanKind, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { createApp, Worker, type App } from '../../src/index.js';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../support/amqp-env.js';
import { describeOracles, type CeleryOracle } from '../support/oracles.js';
import { shouldRunPythonTests } from '../support/python.js';
import { deleteKeys, deleteResults, shouldRunRedisTests } from '../support/redis.js';
import { PY_CLIENT, runPython, startPythonWorker, TEST_RESULT_EXPIRES_SEC, type PyEnv, type PyWorker } from './python.js';
import { waitFor } from '../worker/helpers.js';

const ORACLE = process.env['CELERIAC_OTEL_ORACLE'] ?? resolve(import.meta.dirname, '../../../../../shared/oracles/opentelemetry-python');

/** A Celery oracle with OpenTelemetry Python and its Celery instrumentation after it on the path. */
const withOtel = (oracle: CeleryOracle): CeleryOracle =>
  Object.freeze({ ...oracle, pythonPath: oracle.pythonPath === undefined ? ORACLE : `${oracle.pythonPath}:${ORACLE}` });

function oracleReady(): boolean {
  if (existsSync(join(ORACLE, 'opentelemetry/instrumentation/celery/__init__.py'))) return true;
  const message = `trace interop: the OpenTelemetry Python oracle is not at ${ORACLE} (set CELERIAC_OTEL_ORACLE)`;
  if (process.env['CI'] === 'true') throw new Error(`${message}; required under CI`);
  console.warn(`[skip] ${message}`);
  return false;
}

/** Python: a tracer provider whose spans are appended to $OTEL_SPANS_FILE as JSON lines, and the Celery instrumentation. */
const PY_OTEL = `
import json, os
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.instrumentation.celery import CeleryInstrumentor

class JsonLines(SpanExporter):
    def export(self, spans):
        with open(os.environ['OTEL_SPANS_FILE'], 'a') as f:
            for s in spans:
                p = s.parent
                f.write(json.dumps({'name': s.name, 'trace_id': format(s.context.trace_id, '032x'), 'span_id': format(s.context.span_id, '016x'),
                                    'parent_id': format(p.span_id, '016x') if p else None, 'kind': s.kind.name}) + '\\n')
        return SpanExportResult.SUCCESS
    def shutdown(self):
        pass

trace.set_tracer_provider(TracerProvider())
trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(JsonLines()))
CeleryInstrumentor().instrument(skip_dep_check=True)
`;

/**
 * The Python worker's extra tasks: instrumented at import (the solo pool runs tasks in the
 * process that imported them); py.relay sends ts.leaf to the Celeriac worker. ts.leaf is
 * declared here only so the instrumentation knows the task it sends (it ends the producer
 * span of registered tasks only).
 */
const PY_WORKER_TASKS = `
${PY_OTEL}
@app.task(name='ts.leaf')
def ts_leaf(*args):
    raise NotImplementedError('runs on Celeriac')

@app.task(name='py.relay')
def relay(x):
    return ts_leaf.apply_async(args=[x], queue='ts').id
`;

/** One span, from either language, as the assertions read it. */
interface SpanRecord {
  name: string;
  traceId: string;
  spanId: string;
  parentId: string | null;
  kind: string;
  lang: 'py' | 'ts';
}

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

function tsSpans(): SpanRecord[] {
  return exporter.getFinishedSpans().map((s) => ({
    name: s.name,
    traceId: s.spanContext().traceId,
    spanId: s.spanContext().spanId,
    parentId: s.parentSpanContext?.spanId ?? null,
    kind: SpanKind[s.kind],
    lang: 'ts',
  }));
}

function pySpans(file: string): SpanRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const s = JSON.parse(line) as { name: string; trace_id: string; span_id: string; parent_id: string | null; kind: string };
      return { name: s.name, traceId: s.trace_id, spanId: s.span_id, parentId: s.parent_id, kind: s.kind, lang: 'py' };
    });
}

/** The one span of `name` in `spans` (fails the test when there are none or several). */
function only(spans: readonly SpanRecord[], name: string, lang: 'py' | 'ts'): SpanRecord {
  const found = spans.filter((s) => s.name === name && s.lang === lang);
  expect(found, `${lang} ${name} in ${JSON.stringify(spans.map((s) => `${s.lang}:${s.name}`))}`).toHaveLength(1);
  return found[0]!;
}

/** Where a suite runs: the broker and backend for both languages, and how to clean up. */
interface Target {
  py: PyEnv;
  app(): App;
  cleanup(taskIds: readonly string[]): Promise<void>;
}

function traceSuite(name: string, ready: boolean, open: (spansFile: string, oracle: CeleryOracle) => Promise<Target>): void {
  describeOracles(name, (celery) => {
    const oracle = withOtel(celery);
    describe('one trace through both languages', () => {
      const dir = mkdtempSync(join(tmpdir(), 'celeriac-otel-'));
      const pyFile = join(dir, 'spans.jsonl');
      const taskIds: string[] = [];
      let target: Target;
      let app: App;
      let worker: Worker;
      let pyWorker: PyWorker;

      beforeAll(async () => {
        target = await open(pyFile, oracle);
        app = target.app();
        app.task('ts.relay', async (x: number, y: number) => {
          const r = await app.sendTask('py.add', [x, y], {}, { queue: 'py' });
          taskIds.push(r.id);
          return r.id;
        });
        app.task('ts.leaf', (x: number) => x * 2);
        worker = new Worker(app, { queues: ['ts'], concurrency: 2 });
        await worker.start();
        pyWorker = await startPythonWorker(target.py, { queues: ['py'], pool: 'solo', concurrency: 1, extraTasks: PY_WORKER_TASKS });
      }, 90_000);

      afterAll(async () => {
        await worker?.close({ deadlineMs: 2000 });
        await app?.close();
        await pyWorker?.stop();
        await target?.cleanup(taskIds);
        rmSync(dir, { recursive: true, force: true });
      }, 60_000);

      it('Python -> TypeScript -> Python: one trace id, each send the parent of its run', async () => {
        exporter.reset();
        const out = await runPython(target.py, `${PY_CLIENT}
${PY_OTEL}
@app.task(name='ts.relay')
def relay(*args):
    raise NotImplementedError('runs on Celeriac')

with trace.get_tracer('oracle').start_as_current_span('py.request'):
    r = relay.apply_async(args=[20, 22], queue='ts')
print(r.id); print(r.get(timeout=20))`);
        const [relayId, addId] = out.trim().split('\n');
        taskIds.push(relayId!, addId!);
        const all = await waitFor(() => {
          const spans = [...pySpans(pyFile), ...tsSpans()];
          return spans.some((s) => s.name === 'run/py.add') && spans.some((s) => s.name === 'run/ts.relay') ? spans : null;
        }, 'the spans of both languages', 20_000);
        const request = only(all, 'py.request', 'py');
        const pySend = only(all, 'apply_async/ts.relay', 'py');
        const tsRun = only(all, 'run/ts.relay', 'ts');
        const tsSend = only(all, 'apply_async/py.add', 'ts');
        const pyRun = only(all, 'run/py.add', 'py');
        for (const s of [pySend, tsRun, tsSend, pyRun]) expect(s.traceId, s.name).toBe(request.traceId);
        expect(pySend.parentId).toBe(request.spanId);
        expect(tsRun.parentId).toBe(pySend.spanId);
        expect(tsSend.parentId).toBe(tsRun.spanId);
        expect(pyRun.parentId).toBe(tsSend.spanId);
        expect([pySend.kind, tsRun.kind, tsSend.kind, pyRun.kind]).toEqual(['PRODUCER', 'CONSUMER', 'PRODUCER', 'CONSUMER']);
      });

      it('TypeScript -> Python -> TypeScript: one trace id, each send the parent of its run', async () => {
        exporter.reset();
        const tracer = trace.getTracer('test');
        const r = await tracer.startActiveSpan('ts.request', async (span) => {
          try {
            return await app.sendTask('py.relay', [21], {}, { queue: 'py' });
          } finally {
            span.end();
          }
        });
        taskIds.push(r.id);
        const leafId = (await r.get({ timeoutMs: 20_000 })) as string;
        taskIds.push(leafId);
        const all = await waitFor(() => {
          const spans = [...pySpans(pyFile), ...tsSpans()];
          return spans.some((s) => s.name === 'run/ts.leaf') && spans.some((s) => s.name === 'run/py.relay') ? spans : null;
        }, 'the spans of both languages', 20_000);
        const request = only(all, 'ts.request', 'ts');
        const tsSend = only(all, 'apply_async/py.relay', 'ts');
        const pyRun = only(all, 'run/py.relay', 'py');
        const pySend = only(all, 'apply_async/ts.leaf', 'py');
        const tsRun = only(all, 'run/ts.leaf', 'ts');
        for (const s of [tsSend, pyRun, pySend, tsRun]) expect(s.traceId, s.name).toBe(request.traceId);
        expect(tsSend.parentId).toBe(request.spanId);
        expect(pyRun.parentId).toBe(tsSend.spanId);
        expect(pySend.parentId).toBe(pyRun.spanId);
        expect(tsRun.parentId).toBe(pySend.spanId);
      });
    });
  }, ready && oracleReady());
}

beforeAll(() => {
  provider.register();
});

afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
});

const silent = pino({ level: 'silent' });

traceSuite(
  'trace interop on Redis',
  (await shouldRunRedisTests('trace interop')) && shouldRunPythonTests('trace interop'),
  async (spansFile, oracle) => {
    const prefix = `otel-${Math.random().toString(16).slice(2, 10)}:`;
    const url = 'redis://127.0.0.1:6379/9';
    const py: PyEnv = { broker: url, backend: url, keyPrefix: prefix, oracle, extraEnv: { OTEL_SPANS_FILE: spansFile } };
    return {
      py,
      app: () => createApp({ broker: `${url}?global_keyprefix=${prefix}`, backend: url, resultExpiresSec: TEST_RESULT_EXPIRES_SEC }, { env: {}, logger: silent }),
      cleanup: async (taskIds) => {
        await deleteKeys(prefix, url);
        await deleteResults(taskIds, url);
      },
    };
  },
);

traceSuite(
  'trace interop on RabbitMQ',
  (await amqpAvailable()) && shouldRunPythonTests('trace interop (amqp)'),
  async (spansFile, oracle) => {
    const vhost = await createVhost('otel');
    const py: PyEnv = { broker: vhostUrl(vhost), backend: 'rpc://', oracle, extraEnv: { OTEL_SPANS_FILE: spansFile } };
    return {
      py,
      app: () => createApp({ broker: vhostUrl(vhost), backend: 'rpc://' }, { env: {}, logger: silent }),
      cleanup: () => deleteVhost(vhost),
    };
  },
);
