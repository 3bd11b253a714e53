/**
 * Rate limits in the worker on the memory broker, with a fake clock: per-worker limits space
 * runs without holding pool slots, `setRateLimit` changes them at run time, a shutdown gives
 * waiting messages back, and a cluster limit spaces runs across several workers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createApp, ErrorCodes, Worker } from 'celeriac';
import { MemoryBackend, MemoryBroker } from 'celeriac/memory';
import { closeEnvs, flush, makeEnv, waitFor, waitForState } from './helpers.js';

afterEach(closeEnvs);

describe('per-worker rate limits', () => {
  it('spaces runs of a limited task; other tasks keep running meanwhile, even with one slot', async () => {
    const env = makeEnv({}, { fakeClock: true });
    const clock = env.clock!;
    const t0 = clock.now();
    const ranAt: number[] = [];
    const limited = env.app.task('t.limited', { rateLimit: '2/s' }, () => ranAt.push(clock.now() - t0));
    const free = env.app.task('t.free', () => 'free');
    const worker = await env.startWorker({ concurrency: 1 });
    const rs = [];
    for (let i = 0; i < 3; i++) rs.push(await limited.delay());
    await waitFor(() => ranAt.length === 1, 'first run');
    await flush();
    expect(worker.reserved).toBe(2);
    // Waiting for the limit holds no slot: an unlimited task runs at once.
    expect(await (await free.delay()).get({ timeoutMs: 2000 })).toBe('free');
    clock.advance(499);
    await flush();
    expect(ranAt).toEqual([0]);
    clock.advance(1);
    await waitFor(() => ranAt.length === 2, 'second run');
    clock.advance(500);
    await Promise.all(rs.map((r) => r.get({ timeoutMs: 2000 })));
    expect(ranAt).toEqual([0, 500, 1000]);
  });

  it('taskDefaultRateLimit applies to tasks without their own; setRateLimit overrides it at run time', async () => {
    const env = makeEnv({ taskDefaultRateLimit: '1/h' }, { fakeClock: true });
    let runs = 0;
    const t = env.app.task('t.slow', () => ++runs);
    const worker = await env.startWorker();
    const rs = [await t.delay(), await t.delay(), await t.delay()];
    await waitFor(() => runs === 1, 'first run');
    await flush();
    expect(runs).toBe(1);
    expect(worker.setRateLimit('t.slow', 0)).toBe(0);
    await Promise.all(rs.map((r) => r.get({ timeoutMs: 2000 })));
    expect(runs).toBe(3);
    expect(worker.setRateLimit('t.slow', null)).toBeCloseTo(1 / 3600);
    expect(() => worker.setRateLimit('t.nope', '1/s')).toThrow(/unknown task/);
    expect(() => worker.setRateLimit('t.slow', 'fast')).toThrow(/rate limit must be/);
  });

  it('on shutdown, messages waiting for their limit go back to the queue unrun', async () => {
    const env = makeEnv({ taskAcksLate: true }, { fakeClock: true });
    let runs = 0;
    const t = env.app.task('t.hourly', { rateLimit: '1/h' }, () => ++runs);
    const worker = await env.startWorker();
    const first = await t.delay();
    const second = await t.delay();
    await waitForState(env, first.id, 'SUCCESS');
    await waitFor(() => worker.reserved === 1, 'second waiting');
    await worker.close({ deadlineMs: 1000 });
    expect(runs).toBe(1);
    expect(env.broker.settlements(second.id)).toEqual(['restore']);
    expect(await env.broker.queueLength('celery')).toBe(1);
  });
});

describe('cluster rate limit', () => {
  it('spaces runs across three workers sharing one backend', async () => {
    const env = makeEnv({}, { fakeClock: true });
    const clock = env.clock!;
    const t0 = clock.now();
    const ranAt: number[] = [];
    const t = env.app.task('t.shared', { clusterRateLimit: '10/s' }, () => ranAt.push(clock.now() - t0));
    const workers = [await env.startWorker({ hostname: 'a@h' }), await env.startWorker({ hostname: 'b@h' }), await env.startWorker({ hostname: 'c@h' })];
    const rs = [];
    for (let i = 0; i < 6; i++) rs.push(await t.delay());
    await waitFor(() => ranAt.length === 1, 'first run');
    // Every message received and its slot reserved before time moves (a wait counts from when the reservation returns).
    await waitFor(() => workers.reduce((n, w) => n + w.reserved, 0) === 5, 'five waiting');
    await flush();
    for (let i = 1; i < 6; i++) {
      clock.advance(100);
      await waitFor(() => ranAt.length === i + 1, `run ${i + 1} (ran at ${ranAt.join(",")})`);
    }
    await Promise.all(rs.map((r) => r.get({ timeoutMs: 2000 })));
    expect(ranAt).toEqual([0, 100, 200, 300, 400, 500]);
  });
});

describe('a backend without cluster rate limits', () => {
  it('makes a worker with a clusterRateLimit task refuse to start', async () => {
    const backend = new MemoryBackend();
    Object.assign(backend, { acquireRateToken: undefined });
    const app = createApp({}, { broker: new MemoryBroker(), backend, env: {}, logger: pino({ level: 'silent' }) });
    app.task('t.capped', { clusterRateLimit: '1/s' }, () => 1);
    const worker = new Worker(app);
    await expect(worker.start()).rejects.toMatchObject({ code: ErrorCodes.CONFIG });
    expect(worker.state).toBe('idle');
    await app.close();
  });
});
