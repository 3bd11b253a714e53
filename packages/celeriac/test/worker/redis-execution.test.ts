/**
 * Execution semantics on the real Redis broker and backend, each worker with its own
 * connections (as separate processes would have): retries through the delayed set, Reject
 * with requeue, expiry, revokes that persist for workers started later, terminate across
 * apps, and per-worker and cluster-wide rate limits (three workers together).
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { createApp, Reject, Worker, type App, type Settings } from 'celeriac';
import { RedisBackend, RedisBroker } from 'celeriac/redis';
import { deleteKeys, quietClient, REDIS_URL, randomKeyPrefix, shouldRunRedisTests } from '../support/redis.js';

const ready = await shouldRunRedisTests('redis execution semantics');
const prefix = randomKeyPrefix();
const run = randomUUID().slice(0, 8);
const opened: { app: App; workers: Worker[] }[] = [];

/** A worker-side or producer-side app with its own connections, sending to and consuming its test's own queue. */
function makeApp(queue: string, settings: Settings = {}): App {
  const broker = new RedisBroker(`${REDIS_URL}?global_keyprefix=${prefix}`, { pollIntervalMs: 20, promoteIntervalMs: 50 });
  const backend = new RedisBackend({ url: REDIS_URL, keyPrefix: prefix });
  const app = createApp({ resultExtended: true, taskDefaultQueue: `${queue}-${run}`, ...settings }, { broker, backend, env: {}, logger: pino({ level: 'silent' }) });
  opened.push({ app, workers: [] });
  return app;
}

async function startWorker(app: App, name: string, concurrency = 4): Promise<Worker> {
  const worker = new Worker(app, { hostname: `${name}@${run}`, concurrency, queues: [app.settings.taskDefaultQueue] });
  opened.find((o) => o.app === app)?.workers.push(worker);
  await worker.start();
  return worker;
}

/**
 * Runs limited to one per `intervalMs` can start late but never early: the k-th start (in
 * time order) is at least k intervals after the first task was sent.
 */
function expectSpaced(starts: number[], sent: number, intervalMs: number): void {
  const sorted = [...starts].sort((a, b) => a - b);
  sorted.forEach((t, k) => expect(t - sent, `start ${k}`).toBeGreaterThanOrEqual(k * intervalMs - 5));
}

afterAll(async () => {
  for (const { app, workers } of opened) {
    for (const w of workers) await w.close({ deadlineMs: 1000 });
    await app.close();
  }
  if (ready) await deleteKeys(prefix);
}, 30_000);

describe.runIf(ready)('execution semantics on Redis', () => {
  it("keeps results forever with resultExpiresSec 0, as Celery's result_expires 0 (every store was refused)", async () => {
    const app = makeApp('q-keep', { resultExpiresSec: 0 });
    const kept = app.task(`r.kept-${run}`, () => 'kept');
    await startWorker(app, 'keep');
    const result = await kept.delay();
    expect(await result.get({ timeoutMs: 10_000 })).toBe('kept');
    const client = await quietClient(REDIS_URL);
    try {
      expect(await client.ttl(`${prefix}celery-task-meta-${result.id}`)).toBe(-1);
    } finally {
      client.destroy();
    }
  });

  it('retries through the broker with the same id until success, with RETRY stored between', async () => {
    const app = makeApp('q0');
    const name = `r.flaky-${run}`;
    const states: string[] = [];
    app.task(name, { bind: true, maxRetries: 3 }, async (ctx) => {
      states.push((await app.backend.get(ctx.request.id))?.status ?? 'PENDING');
      if (ctx.request.retries < 2) ctx.retry({ countdown: 0.1, exc: new TypeError('flaky') });
      return ctx.request.retries;
    });
    await startWorker(app, 'retry');
    const r = await app.sendTask(name);
    expect(await r.get({ timeoutMs: 15_000 })).toBe(2);
    expect(states).toEqual(['PENDING', 'RETRY', 'RETRY']);
    expect((await r.meta())?.retries).toBe(2);
  }, 30_000);

  it('Reject with requeue puts the message back, marked redelivered, and it runs again', async () => {
    const app = makeApp('q1');
    const name = `r.reject-${run}`;
    const seen: boolean[] = [];
    app.task(name, { bind: true, acksLate: true }, (ctx) => {
      seen.push(ctx.request.deliveryInfo.redelivered ?? false);
      if (seen.length === 1) throw new Reject({ requeue: true });
      return 'again';
    });
    await startWorker(app, 'reject');
    const r = await app.sendTask(name);
    expect(await r.get({ timeoutMs: 15_000 })).toBe('again');
    expect(seen).toEqual([false, true]);
  }, 30_000);

  it('an expired task is not run: REVOKED "expired"', async () => {
    const app = makeApp('q2');
    const name = `r.expired-${run}`;
    let runs = 0;
    app.task(name, () => ++runs);
    const r = await app.sendTask(name, [], {}, { expires: new Date(Date.now() - 1000) });
    await startWorker(app, 'expiry');
    await expect(r.get({ timeoutMs: 15_000 })).rejects.toMatchObject({ reason: 'expired' });
    expect(runs).toBe(0);
  }, 30_000);

  it('a task revoked by a producer is skipped by a worker started later', async () => {
    const producer = makeApp('q3');
    const name = `r.revoked-${run}`;
    const r = await producer.sendTask(name, [1]);
    await r.revoke();
    const workerApp = makeApp('q3');
    let runs = 0;
    workerApp.task(name, () => ++runs);
    const worker = await startWorker(workerApp, 'late');
    expect(worker.revokedIds()).toContain(r.id);
    await expect(r.get({ timeoutMs: 15_000 })).rejects.toMatchObject({ reason: 'revoked' });
    expect(runs).toBe(0);
  }, 30_000);

  it('a revoke with terminate from another app stops the running task on the worker', async () => {
    const workerApp = makeApp('q4');
    const name = `r.long-${run}`;
    let aborted: unknown = null;
    let started = false;
    workerApp.task(name, { bind: true }, async (ctx) => {
      started = true;
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
      aborted = ctx.signal.reason;
      return 'stopped';
    });
    await startWorker(workerApp, 'term');
    const producer = makeApp('q4');
    const r = await producer.sendTask(name);
    await waitFor(async () => started, 'the task running', 15_000);
    await r.revoke({ terminate: true, signal: 'SIGTERM' });
    await expect(r.get({ timeoutMs: 15_000 })).rejects.toMatchObject({ reason: 'terminated' });
    await waitFor(async () => aborted !== null, 'the signal aborted', 15_000);
    expect(aborted).toMatchObject({ reason: 'terminated' });
  }, 30_000);

  it('a per-worker rate limit spaces runs on one worker', async () => {
    const app = makeApp('q5');
    const name = `r.perworker-${run}`;
    const starts: number[] = [];
    app.task(name, { rateLimit: '10/s' }, () => starts.push(Date.now()));
    await startWorker(app, 'rate', 8);
    const sent = Date.now();
    const rs = [];
    for (let i = 0; i < 6; i++) rs.push(await app.sendTask(name));
    await Promise.all(rs.map((r) => r.get({ timeoutMs: 15_000 })));
    expectSpaced(starts, sent, 100);
  }, 30_000);

  it('a cluster rate limit holds for three workers together', async () => {
    const name = `r.cluster-${run}`;
    const starts: number[] = [];
    const apps = [makeApp('q6'), makeApp('q6'), makeApp('q6')];
    apps.forEach((app, i) => app.task(name, { clusterRateLimit: '20/s' }, () => starts.push(Date.now()) && i));
    for (const [i, app] of apps.entries()) await startWorker(app, `cluster${i}`, 8);
    const producer = makeApp('q6');
    const sent = Date.now();
    const rs = [];
    for (let i = 0; i < 30; i++) rs.push(await producer.sendTask(name));
    const ran = await Promise.all(rs.map((r) => r.get({ timeoutMs: 30_000 })));
    // Spread over the workers, yet together at most 20 runs a second.
    expect(new Set(ran).size).toBeGreaterThan(1);
    expectSpaced(starts, sent, 50);
  }, 60_000);
});
