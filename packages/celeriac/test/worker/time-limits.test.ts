/**
 * Time limits on the async pool (docs/time-limits.md, docs/protocol.md §8.2), driven by a
 * fake clock: the soft limit aborts ctx.signal with SoftTimeLimitExceeded; the hard limit
 * fails the task with TimeLimitExceeded and frees its slot even though it still hangs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SoftTimeLimitExceeded, TimeLimitExceeded } from 'celeriac';
import { closeEnvs, deferred, flush, makeEnv, waitFor, waitForState } from './helpers.js';

afterEach(closeEnvs);

/** Resolves with the signal's reason once it aborts. */
const aborted = (signal: AbortSignal) =>
  new Promise<unknown>((resolve) => signal.addEventListener('abort', () => resolve(signal.reason), { once: true }));

describe('soft time limit', () => {
  it('aborts ctx.signal with SoftTimeLimitExceeded at the limit, not before; the task may clean up', async () => {
    const env = makeEnv({}, { fakeClock: true });
    const started = deferred();
    let reason: unknown = null;
    const t = env.app.task('t.soft', { bind: true, softTimeLimitSec: 5 }, async (ctx) => {
      started.resolve();
      reason = await aborted(ctx.signal);
      return 'cleaned up';
    });
    await env.startWorker();
    const r = await t.delay();
    await started.promise;
    env.clock!.advance(4_999);
    await flush();
    expect(reason).toBeNull();
    expect(await r.state()).toBe('PENDING');
    env.clock!.advance(1);
    expect(await r.get({ timeoutMs: 2000 })).toBe('cleaned up');
    expect(reason).toBeInstanceOf(SoftTimeLimitExceeded);
    expect((reason as SoftTimeLimitExceeded).limitSec).toBe(5);
  });

  it('a task that lets it propagate fails with SoftTimeLimitExceeded (billiard.exceptions)', async () => {
    const env = makeEnv({}, { fakeClock: true });
    const started = deferred();
    const t = env.app.task('t.soft_throw', { bind: true }, async (ctx) => {
      started.resolve();
      throw await aborted(ctx.signal);
    });
    await env.startWorker();
    const r = await t.applyAsync([], { softTimeLimitSec: 2 });
    await started.promise;
    env.clock!.advance(2_000);
    const meta = await waitForState(env, r.id, 'FAILURE');
    expect(meta.result).toEqual({ exc_type: 'SoftTimeLimitExceeded', exc_message: [2], exc_module: 'billiard.exceptions' });
  });

  it('taskSoftTimeLimitSec from settings applies when the task sets none', async () => {
    const env = makeEnv({ taskSoftTimeLimitSec: 3 }, { fakeClock: true });
    const started = deferred();
    let reason: unknown = null;
    const t = env.app.task('t.soft_setting', { bind: true }, async (ctx) => {
      started.resolve();
      reason = await aborted(ctx.signal);
    });
    await env.startWorker();
    const r = await t.delay();
    await started.promise;
    env.clock!.advance(3_000);
    await r.get({ timeoutMs: 2000 });
    expect(reason).toBeInstanceOf(SoftTimeLimitExceeded);
  });
});

describe('hard time limit', () => {
  it('fails the task with TimeLimitExceeded and frees the slot: with concurrency 1 the next task runs while the first still hangs', async () => {
    const env = makeEnv({}, { fakeClock: true });
    const started = deferred();
    let signalReason: unknown = null;
    let hangFinished = false;
    const hang = env.app.task('t.hang', { bind: true, timeLimitSec: 2 }, async (ctx) => {
      ctx.signal.addEventListener('abort', () => (signalReason = ctx.signal.reason));
      started.resolve();
      await new Promise(() => undefined);
      hangFinished = true;
    });
    const next = env.app.task('t.next', () => 'next ran');
    const worker = await env.startWorker({ concurrency: 1 });
    const r1 = await hang.delay();
    const r2 = await next.delay();
    await started.promise;
    await flush();
    expect(await r2.state()).toBe('PENDING');
    expect(worker.reserved).toBe(1);
    env.clock!.advance(1_999);
    await flush();
    expect(await r1.state()).toBe('PENDING');
    env.clock!.advance(1);
    const meta = await waitForState(env, r1.id, 'FAILURE');
    expect(meta.result).toEqual({ exc_type: 'TimeLimitExceeded', exc_message: [2], exc_module: 'billiard.exceptions' });
    expect(await r2.get({ timeoutMs: 2000 })).toBe('next ran');
    expect(hangFinished).toBe(false);
    expect(signalReason).toBeInstanceOf(TimeLimitExceeded);
    await expect(r1.get({ timeoutMs: 2000 })).rejects.toMatchObject({ excType: 'TimeLimitExceeded' });
    expect(env.lines.some((l) => l.level === 50 && l.taskId === r1.id && String(l.msg).includes('hard time limit'))).toBe(true);
  });

  it('a body that computes past its hard limit without awaiting (it blocks the timers too) ends TimeLimitExceeded, not SUCCESS', async () => {
    const env = makeEnv({}, { fakeClock: true });
    // The clock moved on while the body ran: what a 5 s busy loop is to the event loop.
    const spin = env.app.task('t.spin', { timeLimitSec: 2 }, () => {
      env.clock!.advance(5_000);
      return 'done';
    });
    const quick = env.app.task('t.quick', { timeLimitSec: 2 }, () => {
      env.clock!.advance(1_999);
      return 'in time';
    });
    await env.startWorker();
    const r = await spin.delay();
    const meta = await waitForState(env, r.id, 'FAILURE');
    expect(meta.result).toEqual({ exc_type: 'TimeLimitExceeded', exc_message: [2], exc_module: 'billiard.exceptions' });
    expect(env.lines.some((l) => l.level === 50 && l.taskId === r.id && String(l.msg).includes('hard time limit'))).toBe(true);
    expect(await (await quick.delay()).get({ timeoutMs: 2000 })).toBe('in time');
  });

  it('the limits count the time a body ran before its first await', async () => {
    const env = makeEnv({}, { fakeClock: true });
    const slowStart = env.app.task('t.slow-start', { timeLimitSec: 2 }, async () => {
      env.clock!.advance(1_500);
      await new Promise(() => undefined);
    });
    await env.startWorker();
    const r = await slowStart.delay();
    await waitFor(() => env.timeline.some((e) => e.startsWith('ack:')), 'the task to start');
    await flush();
    env.clock!.advance(499);
    await flush();
    expect(await r.state()).toBe('PENDING');
    env.clock!.advance(1);
    const meta = await waitForState(env, r.id, 'FAILURE');
    expect(meta.result).toMatchObject({ exc_type: 'TimeLimitExceeded' });
  });

  it('with late ack a timed-out task is acked (acksOnFailureOrTimeout) or rejected when that is off', async () => {
    for (const acksOnFailureOrTimeout of [true, false]) {
      const env = makeEnv({ taskAcksLate: true, taskAcksOnFailureOrTimeout: acksOnFailureOrTimeout }, { fakeClock: true });
      const started = deferred();
      const hang = env.app.task('t.hang', async () => {
        started.resolve();
        await new Promise(() => undefined);
      });
      await env.startWorker();
      const r = await hang.applyAsync([], { timeLimitSec: 1 });
      await started.promise;
      env.clock!.advance(1_000);
      await waitForState(env, r.id, 'FAILURE');
      await flush();
      expect(env.broker.settlements(r.id)).toEqual([acksOnFailureOrTimeout ? 'ack' : 'reject']);
    }
  });

  it('the call option wins over the task option and taskTimeLimitSec', async () => {
    const env = makeEnv({ taskTimeLimitSec: 100 }, { fakeClock: true });
    const started = deferred();
    const hang = env.app.task('t.hang', { timeLimitSec: 50 }, async () => {
      started.resolve();
      await new Promise(() => undefined);
    });
    await env.startWorker();
    const r = await hang.applyAsync([], { timeLimitSec: 7 });
    await started.promise;
    env.clock!.advance(7_000);
    const meta = await waitForState(env, r.id, 'FAILURE');
    expect(meta.result).toMatchObject({ exc_message: [7] });
  });

  it('a task finishing in time clears its timers', async () => {
    const env = makeEnv({}, { fakeClock: true });
    const t = env.app.task('t.quick', { timeLimitSec: 10, softTimeLimitSec: 5 }, () => 'quick');
    await env.startWorker();
    // The worker's own timers (the periodic re-read of revokes) are not the task's.
    const before = env.clock!.pendingTimers;
    expect(await (await t.delay()).get({ timeoutMs: 2000 })).toBe('quick');
    await flush();
    expect(env.clock!.pendingTimers).toBe(before);
  });

  it('a task that wakes up after its hard limit cannot overwrite its FAILURE with updateState', async () => {
    const env = makeEnv({}, { fakeClock: true });
    const started = deferred();
    const wake = deferred();
    const woke = deferred();
    const zombie = env.app.task('t.zombie', { bind: true, timeLimitSec: 1 }, async (ctx) => {
      started.resolve();
      await wake.promise;
      await ctx.updateState('PROGRESS', { late: true });
      woke.resolve();
      return 'too late';
    });
    await env.startWorker();
    const r = await zombie.delay();
    await started.promise;
    env.clock!.advance(1_000);
    await waitForState(env, r.id, 'FAILURE');
    wake.resolve();
    await woke.promise;
    await flush();
    expect((await env.backend.get(r.id))?.status).toBe('FAILURE');
    expect((await env.backend.get(r.id))?.result).toMatchObject({ exc_type: 'TimeLimitExceeded' });
  });
});

describe('limits that used to overflow the timer or meant "none"', () => {
  // A real clock: the overflow is Node's (a delay over 2^31-1 ms runs after 1 ms). The body
  // takes 30 ms, so an overflowed timer would fire first.
  const body = () => new Promise((resolve) => setTimeout(() => resolve('done'), 30));

  it('a hard and soft limit of 2,147,484 s (about 25 days) do not fire at once', async () => {
    const env = makeEnv();
    const t = env.app.task('t.long_limit', body);
    await env.startWorker();
    const r = await t.applyAsync([], { timeLimitSec: 2_147_484, softTimeLimitSec: 2_147_484 });
    expect(await r.get({ timeoutMs: 5000 })).toBe('done');
  });

  it('timelimit [0, null] from a caller and 0 in the settings mean no limit, as in Celery', async () => {
    const env = makeEnv({ taskTimeLimitSec: 0, taskSoftTimeLimitSec: 0 });
    const t = env.app.task('t.zero_limit', body);
    await env.startWorker();
    const r = await t.applyAsync([], { timeLimitSec: 0 });
    expect(env.broker.published[0]?.message.headers['timelimit']).toEqual([0, null]);
    expect(await r.get({ timeoutMs: 5000 })).toBe('done');
  });
});
