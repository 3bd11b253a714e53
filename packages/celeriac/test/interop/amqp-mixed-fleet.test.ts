/**
 * One Python Celery worker and one Celeriac worker consume the same RabbitMQ queue: 1,000
 * tasks sent by Celeriac all come back over `rpc://`, each with its own value, and both
 * workers took a share. One vhost for the file.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApp, Worker, type App } from '../../src/index.js';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../support/amqp-env.js';
import { shouldRunPythonTests } from '../support/python.js';
import { describeOracles } from '../support/oracles.js';
import { startPythonWorker, type PyWorker } from './python.js';
import { waitFor } from '../../src/testing/wait-for.js';

const ready = (await amqpAvailable()) && shouldRunPythonTests('amqp mixed fleet');

describeOracles('mixed fleet on RabbitMQ: one Python and one Celeriac worker, one queue', (oracle) => {
  let vhost = '';
  let app: App;
  let worker: Worker;
  let pyWorker: PyWorker;
  let tsRuns = 0;

  beforeAll(async () => {
    vhost = await createVhost('mix');
    app = createApp({ broker: vhostUrl(vhost), backend: 'rpc://' }, { env: {}, logger: pino({ level: 'silent' }) });
    app.task('mix.add', (x: number, y: number) => {
      tsRuns++;
      return x + y;
    });
    worker = new Worker(app, { queues: ['mix'], concurrency: 4, prefetchMultiplier: 1 });
    await worker.start();
    pyWorker = await startPythonWorker({ broker: vhostUrl(vhost), backend: 'rpc://', oracle }, { queues: ['mix'], concurrency: 2 });
  }, 90_000);

  afterAll(async () => {
    await worker?.close({ deadlineMs: 2000 });
    await app?.close();
    await pyWorker?.stop();
    await deleteVhost(vhost);
  }, 60_000);

  it('runs 1,000 tasks, none lost, shared by both workers', async () => {
    const n = 1000;
    const results = await app.sendTasks(Array.from({ length: n }, (_, i) => ({ name: 'mix.add', args: [i, 1000], options: { queue: 'mix' } })));
    const values = await Promise.all(results.map((r) => r.get({ timeoutMs: 120_000 })));
    expect(values).toEqual(Array.from({ length: n }, (_, i) => i + 1000));
    // The Python worker's log reaches us through a pipe, after its results: wait for every line.
    const pythonRuns = () => (pyWorker.log().match(/Task mix\.add\[[^\]]+\] succeeded/g) ?? []).length;
    const pyRuns = await waitFor(() => (tsRuns + pythonRuns() >= n ? pythonRuns() : undefined), 'every run in the Python worker log', 10_000).catch(() => pythonRuns());
    expect(tsRuns).toBeGreaterThan(0);
    expect(tsRuns + pyRuns).toBe(n);
    expect(pyRuns).toBeGreaterThan(0);
  }, 180_000);
}, ready);
