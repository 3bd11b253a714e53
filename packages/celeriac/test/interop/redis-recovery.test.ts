/**
 * Crash recovery across fleets with real workers (kombu's unacked / unacked_index kept by
 * both sides): Python Celery 5.2.6 workers (solo pool, acks_late, a small visibility_timeout)
 * and Celeriac workers (a child process that can be SIGKILLed, or in-process) on one queue.
 * `py.count(key, seconds, first_seconds)` exists on both sides and counts its runs in Redis,
 * so each test sees who ran what, how often.
 * - a Python worker SIGKILLed mid-task: a Celeriac worker restores the message after the
 *   visibility timeout and runs it, once;
 * - a Celeriac worker SIGKILLed mid-task: Python's restore of unacked messages (at worker
 *   start) brings it back and Python runs it; a Celeriac worker started meanwhile, with a
 *   2 s recoverAfterSec, does not take it back from the live Python worker;
 * - a live Python worker running a task longer than recoverAfterSec (well within the
 *   visibility timeout) keeps it: the Celeriac worker's fast recovery leaves it alone.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClientType } from 'redis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createApp, type App } from '../../src/index.js';
import { PY_COUNT } from '../failure/fixtures/tasks.js';
import { sleep, waitFor } from 'celeriac/testing';
import { FAST, killChildren, plainClient, spawnWorker, startLocalWorker, workerConfigs, type LocalWorker } from '../failure/support.js';
import { shouldRunPythonTests } from '../support/python.js';
import { deleteKeys, deleteResults, randomKeyPrefix, shouldRunRedisTests } from '../support/redis.js';
import { describeOracles } from '../support/oracles.js';
import { startPythonWorker, type PyEnv, type PyWorker } from './python.js';

const BASE = 'redis://127.0.0.1:6379/9';
const ready = (await shouldRunRedisTests('interop: cross-fleet recovery')) && shouldRunPythonTests('interop: cross-fleet recovery');
const prefix = randomKeyPrefix();
const brokerUrl = `${BASE}?global_keyprefix=${encodeURIComponent(prefix)}`;
/** Python's visibility_timeout here, and Celeriac's (the same on both sides, as the docs ask). */
const VISIBILITY_SEC = 8;
const pyBase: PyEnv = { broker: BASE, backend: BASE, keyPrefix: prefix, acksLate: true, visibilityTimeout: VISIBILITY_SEC };

const config = workerConfigs(BASE, prefix, { ...FAST, visibilityTimeoutSec: VISIBILITY_SEC });

describeOracles('crash recovery between Python and Celeriac workers', (oracle) => {
  const py: PyEnv = { ...pyBase, oracle };
  let raw: RedisClientType;
  let producer: App;
  const taskIds: string[] = [];
  const pyWorkers: PyWorker[] = [];
  const locals: LocalWorker[] = [];

  const runs = async (key: string) => Number((await raw.get(key)) ?? 0);

  /** Sends py.count to `queue`; returns the result handle and the run counter key. */
  async function send(queue: string, seconds: number, firstSeconds: number) {
    const key = `${prefix}runs:${randomUUID()}`;
    const r = await producer.sendTask(PY_COUNT, [key, seconds, firstSeconds], {}, { queue });
    taskIds.push(r.id);
    return { r, key };
  }

  async function python(queue: string, name: string): Promise<PyWorker> {
    const w = await startPythonWorker(py, { queues: [queue], name: `${name}-${process.pid}@%h`, concurrency: 1, pool: 'solo' });
    pyWorkers.push(w);
    return w;
  }

  beforeAll(async () => {
    raw = await plainClient(BASE);
    producer = createApp({ broker: brokerUrl, backend: BASE }, { env: {} });
  });

  afterEach(async () => {
    await killChildren();
    await Promise.all(locals.splice(0).map((w) => w.stop()));
    await Promise.all(pyWorkers.splice(0).map((w) => w.stop('SIGKILL')));
  }, 30_000);

  afterAll(async () => {
    await producer?.close();
    const keys = await raw.keys(`${prefix}runs:*`);
    if (keys.length > 0) await raw.del(keys);
    await raw?.close();
    await deleteKeys(prefix, BASE);
    await deleteResults(taskIds, BASE);
  }, 30_000);

  it('a Python worker SIGKILLed mid-task: a Celeriac worker runs the message once, after the visibility timeout', async () => {
    const queue = `py-killed-${randomUUID().slice(0, 8)}`;
    const pyWorker = await python(queue, 'py-a');
    const { r, key } = await send(queue, 0, 120);
    await waitFor(async () => (await runs(key)) === 1, 'the task to start on Python', 20_000);
    const takenAt = Date.now();
    await pyWorker.stop('SIGKILL');
    expect(await raw.hLen(`${prefix}unacked`)).toBe(1);
    locals.push(await startLocalWorker(config(queue, `ts-a-${process.pid}@test`), raw));
    expect(await r.get({ timeoutMs: 30_000 })).toBe(2);
    // Not before kombu's visibility timeout, counted from Python's delivery.
    expect(Date.now() - takenAt).toBeGreaterThanOrEqual((VISIBILITY_SEC - 1) * 1000);
    await sleep(1500);
    expect(await runs(key)).toBe(2);
    expect(await raw.hLen(`${prefix}unacked`)).toBe(0);
  }, 60_000);

  it('a Celeriac worker SIGKILLed mid-task: Python restores and runs it; a fast Celeriac sweep does not take it back', async () => {
    const queue = `ts-killed-${randomUUID().slice(0, 8)}`;
    const child = spawnWorker(config(queue, `ts-b-${process.pid}@test`));
    await child.ready;
    const { r, key } = await send(queue, 5, 120);
    await waitFor(async () => (await runs(key)) === 1, 'the task to start on the Celeriac child', 10_000);
    // Held past Python's visibility timeout, but renewed: a Python worker starting now (its
    // sweep runs at start) must leave it alone.
    await sleep((VISIBILITY_SEC + 1) * 1000);
    const first = await python(queue, 'py-b1');
    await sleep(1500);
    expect(await runs(key)).toBe(1);
    await first.stop('SIGTERM');

    await child.kill();
    const killedAt = Date.now();
    await sleep(Math.max(0, killedAt + (VISIBILITY_SEC + 1) * 1000 - Date.now()));
    // Python's restore_visible runs when its consumer starts (and then every 100 s).
    await python(queue, 'py-b2');
    await waitFor(async () => (await runs(key)) === 2, 'Python to run it', 20_000);
    // Python runs it for 5 s; a Celeriac worker with a 2 s recoverAfterSec joins meanwhile.
    locals.push(await startLocalWorker(config(queue, `ts-b2-${process.pid}@test`), raw));
    expect(await r.get({ timeoutMs: 20_000 })).toBe(2);
    await sleep(1500);
    expect(await runs(key)).toBe(2);
    expect(await raw.hLen(`${prefix}unacked`)).toBe(0);
  }, 90_000);

  it('a live Python worker keeps a task that runs longer than recoverAfterSec', async () => {
    const queue = `py-long-${randomUUID().slice(0, 8)}`;
    await python(queue, 'py-c');
    locals.push(await startLocalWorker(config(queue, `ts-c-${process.pid}@test`), raw));
    // Python runs it for 4 s: twice recoverAfterSec (2 s), half the visibility timeout (8 s),
    // counted from Python's fetch. With 6 s, on a loaded machine, the run once ended more than
    // 8 s after the fetch, and the message was given back, as kombu's rule says it should be.
    const { r, key } = await send(queue, 0, 4);
    await waitFor(async () => (await runs(key)) === 1, 'the task to start', 20_000);
    expect(await r.get({ timeoutMs: 20_000 })).toBe(1);
    await sleep(1500);
    expect(await runs(key)).toBe(1);
  }, 60_000);
}, ready);
