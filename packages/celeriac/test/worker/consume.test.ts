/**
 * Worker on the memory broker and backend: which queues it consumes, what it stores,
 * how many tasks it runs at once, how many messages it takes ahead, and start().
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CeleriacError, ErrorCodes, Worker } from 'celeriac';
import { Gate, closeEnvs, flush, makeEnv, waitFor, waitForState } from './helpers.js';

afterEach(closeEnvs);

const NAIVE_ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?$/;

describe('queues', () => {
  it('consumes the default queue only when no -Q is given', async () => {
    const env = makeEnv();
    const add = env.app.task('t.add', (x: number, y: number) => x + y);
    const r = await add.delay(2, 3);
    const elsewhere = await add.applyAsync([1, 1], { queue: 'other' });
    const worker = await env.startWorker();
    expect(worker.options.queues).toEqual(['celery']);
    expect(await r.get({ timeoutMs: 2000 })).toBe(5);
    await flush();
    expect(await elsewhere.state()).toBe('PENDING');
    expect(await env.broker.queueLength('other')).toBe(1);
  });

  it('consumes several queues (-Q a,b) and leaves the others alone', async () => {
    const env = makeEnv();
    const echo = env.app.task('t.echo', (v: string) => v);
    const a = await echo.applyAsync(['a'], { queue: 'a' });
    const b = await echo.applyAsync(['b'], { queue: 'b' });
    const c = await echo.applyAsync(['c'], { queue: 'c' });
    await env.startWorker({ queues: ['a', 'b'] });
    expect(await a.get({ timeoutMs: 2000 })).toBe('a');
    expect(await b.get({ timeoutMs: 2000 })).toBe('b');
    await flush();
    expect(await c.state()).toBe('PENDING');
    expect(await env.broker.queueLength('c')).toBe(1);
    const delivered = env.broker.of('deliver').map((e) => e.queue).sort();
    expect(delivered).toEqual(['a', 'b']);
  });
});

describe('stored results', () => {
  it('stores SUCCESS with result, date_done and task_id in Celery field order', async () => {
    const env = makeEnv();
    const add = env.app.task('t.add', (x: number, y: number) => x + y);
    await env.startWorker();
    const r = await add.delay(2, 3);
    expect(await r.get({ timeoutMs: 2000 })).toBe(5);
    const meta = await env.backend.get(r.id);
    expect(meta).toEqual({ status: 'SUCCESS', result: 5, traceback: null, children: [], date_done: expect.stringMatching(NAIVE_ISO), task_id: r.id });
    expect(Object.keys(meta ?? {})).toEqual(['status', 'result', 'traceback', 'children', 'date_done', 'task_id']);
    expect(env.broker.settlements(r.id)).toEqual(['ack']);
  });

  it('stores null for a task returning undefined', async () => {
    const env = makeEnv();
    const noop = env.app.task('t.noop', () => undefined);
    await env.startWorker();
    const r = await noop.delay();
    expect(await r.get({ timeoutMs: 2000 })).toBeNull();
    expect((await env.backend.get(r.id))?.status).toBe('SUCCESS');
  });

  it('with resultExtended adds name, args, kwargs, worker, retries and queue before task_id', async () => {
    const env = makeEnv({ resultExtended: true }, { fakeClock: true });
    const add = env.app.task('t.add', { params: ['x', 'y'] }, (x: number, y: number) => x + y);
    const worker = await env.startWorker({ queues: ['math'], hostname: 'ext@box' });
    const r = await add.applyAsync([2], { queue: 'math', kwargs: { y: 40 } });
    await waitForState(env, r.id, 'SUCCESS');
    const meta = await env.backend.get(r.id);
    expect(meta).toEqual({
      status: 'SUCCESS',
      result: 42,
      traceback: null,
      children: [],
      date_done: '2026-01-01T00:00:00',
      name: 't.add',
      args: [2],
      kwargs: { y: 40 },
      worker: worker.hostname,
      retries: 0,
      queue: 'math',
      task_id: r.id,
    });
    expect(Object.keys(meta ?? {})).toEqual([
      'status', 'result', 'traceback', 'children', 'date_done', 'name', 'args', 'kwargs', 'worker', 'retries', 'queue', 'task_id',
    ]);
  });

  it('stores nothing for ignoreResult, but still runs and acks', async () => {
    const env = makeEnv();
    let ran = 0;
    const t = env.app.task('t.ignored', { ignoreResult: true }, () => ++ran);
    await env.startWorker();
    const r = await t.delay();
    await waitFor(() => env.broker.of('ack', r.id).length === 1, 'ack');
    await flush();
    expect(ran).toBe(1);
    expect(await env.backend.get(r.id)).toBeNull();
  });

  it('counts finished tasks per name in worker.totals', async () => {
    const env = makeEnv();
    const t = env.app.task('t.count', () => 1);
    const worker = await env.startWorker();
    const results = await Promise.all([t.delay(), t.delay(), t.delay()]);
    for (const r of results) await r.get({ timeoutMs: 2000 });
    await waitFor(() => worker.totals.get('t.count') === 3, 'totals');
  });
});

describe('concurrency', () => {
  async function runAll(concurrency: number, tasks: number): Promise<Gate> {
    const env = makeEnv({ taskAcksLate: true });
    const gate = new Gate();
    const block = env.app.task('t.block', () => gate.enter());
    const results = [];
    for (let i = 0; i < tasks; i++) results.push(await block.delay());
    const worker = await env.startWorker({ concurrency, prefetchMultiplier: 0 });
    for (let done = 0; done < tasks; done++) {
      const expected = Math.min(concurrency, tasks - done);
      await waitFor(() => gate.blocked === expected, `${expected} tasks running`);
      await flush();
      expect(gate.running).toBe(expected);
      expect(worker.active).toBe(expected);
      gate.releaseOne();
    }
    for (const r of results) await r.get({ timeoutMs: 2000 });
    return gate;
  }

  it('runs at most N tasks at once and reaches N (N = 3, 10 tasks)', async () => {
    const gate = await runAll(3, 10);
    expect(gate.maxRunning).toBe(3);
    expect(gate.finished).toBe(10);
  });

  it('runs one at a time with concurrency 1', async () => {
    const gate = await runAll(1, 4);
    expect(gate.maxRunning).toBe(1);
  });
});

describe('prefetch', () => {
  async function holdTen(settings: { taskAcksLate: boolean }, prefetchMultiplier: number) {
    const env = makeEnv(settings);
    const gate = new Gate();
    const block = env.app.task('t.block', () => gate.enter());
    for (let i = 0; i < 10; i++) await block.delay();
    const worker = await env.startWorker({ concurrency: 1, prefetchMultiplier });
    await waitFor(() => gate.blocked === 1, 'first task running');
    await flush(10);
    return { env, gate, worker };
  }

  it('concurrency 1 x multiplier 2 with late ack takes exactly 2 messages: 8 stay queued', async () => {
    const { env, gate, worker } = await holdTen({ taskAcksLate: true }, 2);
    expect(worker.prefetchCount).toBe(2);
    expect(await env.broker.queueLength('celery')).toBe(8);
    expect(worker.active).toBe(1);
    expect(worker.reserved).toBe(1);
    expect(env.broker.of('deliver')).toHaveLength(2);
    // Finishing one lets exactly one more in.
    gate.releaseOne();
    await waitFor(() => gate.started === 2 && gate.blocked === 1, 'second task running');
    await flush(10);
    expect(await env.broker.queueLength('celery')).toBe(7);
    gate.releaseAll();
  });

  it('with early ack the running (acked) task leaves the window, as in kombu: 1 running + 2 reserved', async () => {
    const { env, worker, gate } = await holdTen({ taskAcksLate: false }, 2);
    expect(await env.broker.queueLength('celery')).toBe(7);
    expect(worker.active).toBe(1);
    expect(worker.reserved).toBe(2);
    gate.releaseAll();
  });

  it('multiplier 0 means unlimited: every message is taken at once', async () => {
    const { env, worker, gate } = await holdTen({ taskAcksLate: true }, 0);
    expect(worker.prefetchCount).toBe(0);
    expect(await env.broker.queueLength('celery')).toBe(0);
    expect(worker.active).toBe(1);
    expect(worker.reserved).toBe(9);
    gate.releaseAll();
  });
});

describe('start()', () => {
  it('throws CELERIAC_ERR_STATE when called twice', async () => {
    const env = makeEnv();
    const worker = await env.startWorker();
    expect(worker.state).toBe('running');
    const err = await worker.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CeleriacError);
    expect((err as CeleriacError).code).toBe(ErrorCodes.STATE);
    expect(worker.state).toBe('running');
  });

  it('cannot start again once closed', async () => {
    const env = makeEnv();
    const worker = new Worker(env.app, { hostname: 'x@y' });
    expect(worker.state).toBe('idle');
    await worker.close();
    expect(worker.state).toBe('closed');
    await expect(worker.start()).rejects.toMatchObject({ code: ErrorCodes.STATE });
  });

  it('logs "<hostname> ready." with its queues once started', async () => {
    const env = makeEnv();
    const worker = await env.startWorker();
    const line = env.lines.find((l) => l.msg === `${worker.hostname} ready.`);
    expect(line).toMatchObject({ queues: ['celery'], worker: 'w1@testhost' });
  });
});
