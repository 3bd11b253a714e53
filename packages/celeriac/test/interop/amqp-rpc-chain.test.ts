/**
 * Chains on RabbitMQ with rpc:// results whose later steps a Celeriac worker sends: each
 * step carries the client's `reply_to` in its options (Celery's freeze writes it), and the
 * worker addresses the step's message to it, so the result of the last step reaches the
 * client that sent the chain, not the worker's own reply queue. A TypeScript client, a
 * Python client (5.2.6 and 5.6.3), and a chain whose steps alternate between a Celeriac and a Python worker.
 * Each test's limit is above the waits inside it (a Python client's start, then its own 20 s
 * `get`): at vitest's default 20 s a loaded CI run once cut a passing test short.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { chain, createApp, signature, Worker, type App } from '../../src/index.js';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../support/amqp-env.js';
import { shouldRunPythonTests } from '../support/python.js';
import { describeOracles } from '../support/oracles.js';
import { PY_CLIENT, runPython, startPythonWorker, type PyEnv, type PyWorker } from './python.js';

const ready = (await amqpAvailable()) && shouldRunPythonTests('rpc chains on amqp');

describeOracles('chains on amqp:// with rpc:// results, steps sent by a Celeriac worker', (oracle) => {
  let vhost = '';
  let py: PyEnv;
  let workerApp: App;
  let client: App;
  let worker: Worker;
  let pyWorker: PyWorker;

  beforeAll(async () => {
    vhost = await createVhost('rpcchain');
    py = { broker: vhostUrl(vhost), backend: 'rpc://', oracle };
    const make = () => createApp({ broker: vhostUrl(vhost), backend: 'rpc://' }, { env: {}, logger: pino({ level: 'silent' }) });
    // Two apps, two reply queues: the worker's and the client's, as two processes have.
    workerApp = make();
    client = make();
    for (const app of [workerApp, client]) app.task('ts.add', { queue: 'ts' }, (x: number, y: number) => x + y);
    worker = new Worker(workerApp, { queues: ['ts'], concurrency: 2 });
    await worker.start();
    pyWorker = await startPythonWorker(py, { queues: ['py'] });
  }, 90_000);

  afterAll(async () => {
    await worker?.close({ deadlineMs: 2000 });
    await workerApp?.close();
    await client?.close();
    await pyWorker?.stop();
    await deleteVhost(vhost);
  }, 60_000);

  it('a TypeScript client gets the result of a chain the worker continues', async () => {
    const add = client.lookup('ts.add')!;
    const r = await chain(add.s(1, 1), add.s(2), add.s(3)).applyAsync();
    expect(await r.get({ timeoutMs: 20_000 })).toBe(7);
    expect(client.replyTo).not.toBe(workerApp.replyTo);
  }, 30_000);

  it('a Python client gets the result of a chain the Celeriac worker continues', async () => {
    const out = await runPython(py, `${PY_CLIENT}
from celery import chain
r = chain(app.signature('ts.add', args=(1, 2), queue='ts'), app.signature('ts.add', args=(3,), queue='ts')).apply_async()
print(json.dumps(r.get(timeout=20)))`);
    expect(out.trim()).toBe('6');
  }, 40_000);

  it('a chain alternating between a Celeriac and a Python worker returns to either client', async () => {
    const out = await runPython(py, `${PY_CLIENT}
from celery import chain
r = chain(app.signature('ts.add', args=(1, 1), queue='ts'), app.signature('py.add', args=(10,), queue='py'),
          app.signature('ts.add', args=(100,), queue='ts')).apply_async()
print(json.dumps(r.get(timeout=20)))`);
    expect(out.trim()).toBe('112');
    // Queues in the signatures: a Python worker sending the next step does not know ts.add's queue.
    const step = (name: string, args: number[], queue: string) => signature(name, args, {}, { queue }, client);
    const r = await chain(step('ts.add', [1, 1], 'ts'), step('py.add', [10], 'py'), step('ts.add', [100], 'ts')).applyAsync();
    expect(await r.get({ timeoutMs: 20_000 })).toBe(112);
  }, 60_000);
}, ready);
