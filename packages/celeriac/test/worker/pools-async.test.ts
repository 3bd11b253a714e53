/**
 * The async and solo pools on the memory broker, run-time time limits
 * (`worker.setTimeLimit`, Celery's `time_limit` control command) and a run's `terminate`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createApp, ErrorCodes, TaskRevokedError } from 'celeriac';
import { closeEnvs, deferred, flush, Gate, makeEnv, runHandles, waitFor, waitForState, type TestEnv } from './helpers.js';

afterEach(closeEnvs);


/** An app on the same broker and backend that knows no tasks: its messages carry no limits. */
const senderFor = (env: TestEnv) => createApp({}, { broker: env.broker, backend: env.backend });

describe('async pool', () => {
  it('a task that blocks the event loop is named in a warning that points to -P threads or prefork', async () => {
    const env = makeEnv();
    const spin = env.app.task('t.spin', (ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        // CPU-bound
      }
      return ms;
    });
    await env.startWorker({ concurrency: 2, blockWarningSec: 0.1 });
    const r = await spin.delay(300);
    expect(await r.get({ timeoutMs: 5000 })).toBe(300);
    const warning = await waitFor(() => env.lines.find((l) => /blocked the event loop/.test(l.msg)), 'the warning');
    expect(warning.msg).toMatch(new RegExp(`^Task t\\.spin\\[${r.id}\\] blocked the event loop for \\d+\\.\\d\\ds: the async pool .* Run CPU-bound tasks with -P threads or -P prefork\\.$`));
  });

  it('a task that blocks after an await is named alone, not among the well-behaved tasks running beside it', async () => {
    const env = makeEnv();
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    let spun = false;
    const io = env.app.task('t.io', async () => {
      // The task's I/O: it waits for the CPU-bound one to spin, then real time passes.
      while (!spun) await sleep(10);
      await sleep(50);
      return 'io';
    });
    const late = env.app.task('t.late', async (ms: number) => {
      await sleep(30); // real time before it blocks, so it blocks after an await
      const end = Date.now() + ms;
      while (Date.now() < end) {
        // CPU-bound, in a continuation
      }
      spun = true;
      return ms;
    });
    await env.startWorker({ concurrency: 2, blockWarningSec: 0.2 });
    const calm = await io.delay();
    await waitFor(() => env.lines.some((l) => l.msg.includes(`Task t.io[${calm.id}] received`)), 't.io to run');
    const r = await late.delay(600);
    expect(await r.get({ timeoutMs: 5000 })).toBe(600);
    expect(await calm.get({ timeoutMs: 5000 })).toBe('io');
    const warning = await waitFor(() => env.lines.find((l) => /blocked the event loop/.test(l.msg)), 'the warning');
    expect(warning.msg).toMatch(new RegExp(`^Task t\\.late\\[${r.id}\\] blocked the event loop for 0\\.[5-9]\\ds`));
    expect(warning['taskIds']).toEqual([r.id]);
  });

  it('resize lets more tasks run at once', async () => {
    const env = makeEnv();
    const gate = new Gate();
    const t = env.app.task('t.gate', () => gate.enter());
    const worker = await env.startWorker({ concurrency: 1 });
    expect(worker.pool.stats()).toMatchObject({ kind: 'async', maxConcurrency: 1, processes: [process.pid] });
    const results = await Promise.all([t.delay(), t.delay(), t.delay()]);
    await waitFor(() => gate.blocked === 1, 'one task to run');
    worker.pool.resize(3);
    await waitFor(() => gate.blocked === 3, 'three tasks to run');
    expect(worker.pool.size).toBe(3);
    gate.releaseAll();
    await Promise.all(results.map((r) => r.get({ timeoutMs: 2000 })));
    expect(() => worker.pool.resize(0)).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }));
  });

  it('a run\'s terminate fails the running task with the reason, aborts its signal and frees the slot', async () => {
    const env = makeEnv();
    const started = deferred();
    let reason: unknown = null;
    const hang = env.app.task('t.hang', { bind: true }, async (ctx) => {
      ctx.signal.addEventListener('abort', () => (reason = ctx.signal.reason));
      started.resolve();
      await new Promise(() => undefined);
    });
    const next = env.app.task('t.next', () => 'next');
    const worker = await env.startWorker({ concurrency: 1 });
    const r = await hang.delay();
    const r2 = await next.delay();
    await started.promise;
    for (const run of runHandles(worker)) run.terminate(new TaskRevokedError('terminated'));
    const meta = await waitForState(env, r.id, 'FAILURE');
    expect(meta.result).toEqual({ exc_type: 'TaskRevokedError', exc_message: ['terminated'], exc_module: 'celery.exceptions' });
    expect(reason).toBeInstanceOf(TaskRevokedError);
    expect(await r2.get({ timeoutMs: 2000 })).toBe('next');
  });
});

describe('finishing', () => {
  it('a slot goes to the next task once a body ends; results being stored are bounded by four per slot', async () => {
    const env = makeEnv();
    const started: string[] = [];
    const t = env.app.task('t.mark', (name: string) => {
      started.push(name);
      return name;
    });
    // Final results wait here until released, as on a slow backend.
    const held: (() => void)[] = [];
    let slow = true;
    const store = env.backend.store.bind(env.backend);
    env.backend.store = async (meta, options) => {
      if (slow && meta.status === 'SUCCESS') await new Promise<void>((resolve) => held.push(resolve));
      return store(meta, options);
    };
    await env.startWorker({ concurrency: 1 });
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    const results = [];
    for (const name of names) results.push(await t.delay(name));
    // a..d are being stored, one slot, four finishing permits: e runs meanwhile...
    await waitFor(() => started.length === 5, 'e to start while a..d are stored');
    // ...but finds no permit, so it keeps the one slot and f cannot start.
    await flush(20);
    expect(started).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(held).toHaveLength(4);
    slow = false;
    for (const release of held.splice(0)) release();
    expect(await Promise.all(results.map((r) => r.get({ timeoutMs: 2000 })))).toEqual(names);
  });
});

describe('solo pool', () => {
  it('runs one task at a time whatever the concurrency asked for, and cannot be resized', async () => {
    const env = makeEnv();
    const gate = new Gate();
    const t = env.app.task('t.gate', () => gate.enter());
    const worker = await env.startWorker({ pool: 'solo', concurrency: 8 });
    expect(worker.options.concurrency).toBe(1);
    expect(worker.pool.stats()).toMatchObject({ kind: 'solo', maxConcurrency: 1 });
    const results = await Promise.all([t.delay(), t.delay(), t.delay()]);
    for (let i = 0; i < 3; i++) {
      await waitFor(() => gate.blocked === 1, 'the next task to run');
      await flush();
      expect(gate.running).toBe(1);
      gate.releaseOne();
    }
    await Promise.all(results.map((r) => r.get({ timeoutMs: 2000 })));
    expect(gate.maxRunning).toBe(1);
    expect(() => worker.pool.resize(2)).toThrow(expect.objectContaining({ code: ErrorCodes.STATE }));
  });

  it('a hard limit fails the task and the next one runs', async () => {
    const env = makeEnv({}, { fakeClock: true });
    const started = deferred();
    const hang = env.app.task('t.hang', { timeLimitSec: 1 }, async () => {
      started.resolve();
      await new Promise(() => undefined);
    });
    const next = env.app.task('t.next', () => 'next');
    await env.startWorker({ pool: 'solo' });
    const r = await hang.delay();
    const r2 = await next.delay();
    await started.promise;
    env.clock!.advance(1_000);
    expect((await waitForState(env, r.id, 'FAILURE')).result).toMatchObject({ exc_type: 'TimeLimitExceeded' });
    expect(await r2.get({ timeoutMs: 2000 })).toBe('next');
  });
});

describe('time limits set at run time (worker.setTimeLimit)', () => {
  it('replace the task options for runs that start afterwards; the message header still wins', async () => {
    const env = makeEnv({}, { fakeClock: true });
    const started: string[] = [];
    const hang = env.app.task('t.limited', { bind: true, timeLimitSec: 50 }, async (ctx) => {
      started.push(ctx.request.id);
      await new Promise(() => undefined);
    });
    const worker = await env.startWorker({ concurrency: 3 });
    const sender = senderFor(env);
    const before = await sender.sendTask(hang.name);
    await waitFor(() => started.length === 1, 'the first run');
    worker.setTimeLimit(hang.name, { hard: 2 });
    const after = await sender.sendTask(hang.name);
    const header = await sender.sendTask(hang.name, [], {}, { timeLimitSec: 7 });
    await waitFor(() => started.length === 3, 'all runs');
    env.clock!.advance(2_000);
    expect((await waitForState(env, after.id, 'FAILURE')).result).toMatchObject({ exc_type: 'TimeLimitExceeded', exc_message: [2] });
    expect(await before.state()).toBe('PENDING');
    expect(await header.state()).toBe('PENDING');
    env.clock!.advance(5_000);
    expect((await waitForState(env, header.id, 'FAILURE')).result).toMatchObject({ exc_message: [7] });
    env.clock!.advance(43_000);
    expect((await waitForState(env, before.id, 'FAILURE')).result).toMatchObject({ exc_message: [50] });
  });

  it('set a soft limit on a task that had none; null goes back to the task options; unknown tasks are refused', async () => {
    const env = makeEnv({}, { fakeClock: true });
    let reason: unknown = null;
    const t = env.app.task('t.soft', { bind: true }, async (ctx) => {
      reason = await new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(ctx.signal.reason), { once: true }));
      return 'stopped';
    });
    const worker = await env.startWorker();
    worker.setTimeLimit(t.name, { soft: 3, hard: null });
    const r = await senderFor(env).sendTask(t.name);
    await waitFor(() => worker.active === 1, 'the run');
    env.clock!.advance(3_000);
    expect(await r.get({ timeoutMs: 2000 })).toBe('stopped');
    expect(reason).toMatchObject({ excType: 'SoftTimeLimitExceeded', limitSec: 3 });
    worker.setTimeLimit(t.name, null);
    expect(() => worker.setTimeLimit('t.unknown', { hard: 1 })).toThrow(expect.objectContaining({ code: ErrorCodes.NOT_REGISTERED }));
  });
});
