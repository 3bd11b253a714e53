/**
 * Celery 5.6.3 (the oracle in ../shared/oracles/celery-5.6, kombu 5.6.2) and Celeriac on
 * RabbitMQ quorum queues with native delayed delivery (issue 48 §2), `rpc://` results:
 * - a 5.6 producer's countdown reaches a Celeriac worker through `celery_delayed_*` by the
 *   Celeriac worker's own binding (no 5.6 worker ever ran in the vhost);
 * - a 5.6 worker starts on the topology Celeriac declared (the same arguments, or it would
 *   die of a 406) and runs a Celeriac producer's countdown, which waited in the ladder;
 * - with both fleets' bindings in place, a countdown is delivered once.
 * Celery configured as a 5.6 fleet would be: `task_default_queue_type = 'quorum'` and a topic
 * exchange (Celery uses the ladder only for topic and fanout exchanges). Its own vhost.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amqpAvailable } from '../support/amqp-env.js';
import { quorumVhost, type QuorumVhost } from '../support/quorum-vhost.js';
import { Worker, type App } from '../../src/index.js';
import { waitFor } from 'celeriac/testing';
import { CELERY_5_6, oracleEnv, selectedOracles } from '../support/oracles.js';

// Quorum queues and native delayed delivery are Celery 5.5+: the 5.6 oracle only.
const ready = (await amqpAvailable()) && selectedOracles('quorum interop').includes(CELERY_5_6);

const TASKS = `
import os
from celery import Celery
app = Celery('q56', broker=os.environ['CELERY_BROKER'], backend='rpc://')
app.conf.update(task_default_queue_type='quorum', task_default_exchange_type='topic', worker_hijack_root_logger=False,
                worker_prefetch_multiplier=1, broker_connection_retry_on_startup=True, result_expires=600)

@app.task(name='py.add')
def add(x, y):
    return x + y
`;

describe.runIf(ready)('Celery 5.6 <-> Celeriac on quorum queues with native delayed delivery', () => {
  let q: QuorumVhost;
  let dir = '';
  let app: App;
  let worker: Worker | undefined;
  let py: ChildProcess | undefined;
  let pyLog = '';
  const tsRuns: number[] = [];

  const env = () => ({ ...process.env, PYTHONUNBUFFERED: '1', ...oracleEnv(CELERY_5_6, { PYTHONPATH: dir }), CELERY_BROKER: q.url });
  const runPython = (script: string) =>
    new Promise<string>((res, rej) => {
      execFile('/usr/bin/python3', ['-c', script], { env: env(), cwd: dir, timeout: 60_000 }, (err, stdout, stderr) => (err ? rej(new Error(`${err.message}\n${stderr}`)) : res(stdout)));
    });
  const count = (queue: string) => q.count(queue);
  const startTsWorker = async () => {
    worker = new Worker(app, { queues: ['celery'], concurrency: 2 });
    await worker.start();
  };
  const stopTsWorker = async () => {
    await worker?.close({ deadlineMs: 2000 });
    worker = undefined;
  };

  beforeAll(async () => {
    q = await quorumVhost('q56');
    dir = mkdtempSync(join(tmpdir(), 'celeriac-q56-'));
    writeFileSync(join(dir, 'q56tasks.py'), TASKS);
    app = q.app({ taskDefaultExchangeType: 'topic' }, process.env['QDEBUG']);
    app.task('ts.add', (x: number, y: number) => {
      tsRuns.push(Date.now());
      return x + y;
    });
  }, 60_000);
  afterAll(async () => {
    await stopTsWorker();
    if (py !== undefined && py.exitCode === null) py.kill('SIGKILL');
    await q?.close();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("a 5.6 producer's countdown reaches a Celeriac worker by the worker's binding on celery_delayed_delivery", async () => {
    await startTsWorker();
    // The 5.6 client's rpc wait is not relied on: with kombu 5.6.2 on Debian's py-amqp 5.1.1 it
    // missed replies now and then, Celery's own worker's too. The run is seen here instead.
    const out = await runPython(`
import json, time
from q56tasks import app
t = time.time()
r = app.send_task('ts.add', args=[20, 22], countdown=2)
print(json.dumps({'id': r.id, 'sent': t}))`);
    const sent = (JSON.parse(out) as { sent: number }).sent * 1000;
    await waitFor(() => tsRuns.length === 1, 'the Celeriac run of the 5.6 countdown', 30_000);
    expect((tsRuns[0] as number) - sent).toBeGreaterThanOrEqual(2000 - 50);
    await stopTsWorker();
  }, 60_000);

  it("a 5.6 worker starts on Celeriac's topology and runs a Celeriac countdown that waited in the ladder", async () => {
    py = spawn('/usr/bin/python3', ['-m', 'celery', '-A', 'q56tasks', 'worker', '-Q', 'celery', '-c', '1', '-P', 'solo', '--without-mingle', '--without-gossip', '--without-heartbeat', '-l', 'INFO'], {
      env: env(),
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    py.stdout?.on('data', (d: Buffer) => (pyLog += d.toString()));
    py.stderr?.on('data', (d: Buffer) => (pyLog += d.toString()));
    await waitFor(() => / ready\./.test(pyLog) || py?.exitCode !== null, 'the 5.6 worker ready', 40_000);
    expect(py.exitCode, pyLog).toBe(null);
    const sent = Date.now();
    const r = await app.sendTask('py.add', [2, 3], {}, { countdown: 3 });
    // 3 s = bits 1 and 0: it waits in level 1, then level 0.
    expect(await count('celery_delayed_1')).toBe(1);
    expect(await r.get({ timeoutMs: 20_000 })).toBe(5);
    expect(Date.now() - sent).toBeGreaterThanOrEqual(3000);
    await waitFor(() => /Task py\.add\[[^\]]+\] succeeded/.test(pyLog), 'the 5.6 worker log line', 10_000);
    expect(pyLog).not.toMatch(/PRECONDITION_FAILED|direct exchange|Failed to setup delayed delivery/);
    const exited = new Promise((res) => py?.once('exit', res));
    py.kill('SIGTERM');
    await exited;
  }, 60_000);

  it("with both fleets' bindings in place, a countdown is delivered once", async () => {
    tsRuns.length = 0;
    await startTsWorker();
    const r = await app.sendTask('ts.add', [1, 1], {}, { countdown: 1 });
    expect(await r.get({ timeoutMs: 15_000 })).toBe(2);
    // A second copy would come right behind the first.
    await new Promise((res) => setTimeout(res, 1500));
    expect(tsRuns).toHaveLength(1);
    expect(await count('celery')).toBe(0);
  }, 30_000);
});
