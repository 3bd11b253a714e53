import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { buildTaskMessage } from '../../core/producer.js';
import { TaskRevokedError, TimeLimitExceeded, WorkerLostError } from '../../core/task-errors.js';
import type { TraceOutcome } from '../../core/trace.js';
import type { Json, TaskState } from '../../protocol/types.js';
import { createTestApp } from '../../testing/test-app.js';
import { FakeClock } from '../../testing/fake-clock.js';
import { LazyAbortController } from '../lazy-abort.js';
import { supervise, type TimeoutCounters } from './supervise.js';
import type { PoolJob, PoolRun } from './types.js';

function setUp(limits: { hard: number | null; soft: number | null }) {
  const { app } = createTestApp();
  const task = app.task('k.t', () => null);
  const clock = new FakeClock();
  const updates: [TaskState, Json][] = [];
  const job: PoolJob = { message: buildTaskMessage(app, task.name, [], {}, {}).message, task, abort: new LazyAbortController() };
  const run: PoolRun = {
    job,
    limits,
    hostname: 'w@h',
    deliveryInfo: { exchange: '', routing_key: 'celery' },
    log: pino({ level: 'silent' }),
    clock,
    updateState: (state, meta) => {
      updates.push([state, meta]);
      return Promise.resolve();
    },
  };
  const counters: TimeoutCounters = { soft: 0, hard: 0 };
  return { clock, job, run, updates, counters };
}

describe('supervise', () => {
  it('returns the outcome of a body that ended synchronously at once, arms nothing, and drops later updates', () => {
    const { clock, job, run, updates, counters } = setUp({ hard: 5, soft: 2 });
    let update: ((state: TaskState, meta: Json) => Promise<void>) | undefined;
    const result = supervise(
      run,
      (updateState) => {
        update = updateState;
        void updateState('PROGRESS', { step: 1 });
        return { outcome: { ok: true, value: 7 }, softLimit: () => undefined, stop: () => undefined };
      },
      counters,
    );
    expect(result.result).toEqual({ ok: true, value: 7 });
    expect(clock.pendingTimers).toBe(0);
    // Over before anything could reach it: terminate and abandon do nothing.
    result.terminate(new Error('late'));
    result.abandon();
    expect(job.abort.signal.aborted).toBe(false);
    // The body kept its updateState and calls it after returning: the run is over, so it is dropped.
    void update?.('PROGRESS', { step: 2 });
    expect(updates).toEqual([['PROGRESS', { step: 1 }]]);
  });

  it('supervises a body that returned a promise: the hard limit ends it and later updates are dropped', async () => {
    const { clock, run, updates, counters } = setUp({ hard: 5, soft: null });
    let update: ((state: TaskState, meta: Json) => Promise<void>) | undefined;
    let stopped: Error | undefined;
    const result = supervise(
      run,
      (updateState) => {
        update = updateState;
        return { outcome: new Promise<TraceOutcome>(() => undefined), softLimit: () => undefined, stop: (reason) => (stopped = reason) };
      },
      counters,
    );
    expect(result.result).toBeInstanceOf(Promise);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(5000);
    const outcome = await result.result;
    expect(outcome).toMatchObject({ ok: false, error: expect.any(TimeLimitExceeded) });
    expect(stopped).toBeInstanceOf(TimeLimitExceeded);
    expect(counters.hard).toBe(1);
    void update?.('PROGRESS', { late: true });
    expect(updates).toEqual([]);
    // The run is over: a terminate or an abandon after it changes nothing.
    result.abandon();
    expect(await result.result).toBe(outcome);
  });

  it('a body that never started (its pool closed first) ends by its outcome, with no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      for (const limits of [{ hard: null, soft: null }, { hard: 5, soft: 2 }]) {
        const { clock, run, counters } = setUp(limits);
        const closing = new Error('pool is closing');
        const taken = Promise.reject(closing);
        const result = supervise(
          run,
          () => ({ outcome: taken.catch((error: unknown) => ({ ok: false as const, error })), started: taken.then(() => undefined), softLimit: () => undefined, stop: () => undefined }),
          counters,
        );
        expect(await result.result).toEqual({ ok: false, error: closing });
        expect(clock.pendingTimers).toBe(0);
      }
      // Unhandled rejections are reported after a turn of the event loop.
      await new Promise<void>((resolve) => setImmediate(resolve));
      await new Promise<void>((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('terminate ends a running body with the reason; abandon gives it up; each at most once', async () => {
    for (const how of ['terminate', 'abandon'] as const) {
      const { clock, job, run, counters } = setUp({ hard: 5, soft: 2 });
      let stopped: Error | undefined;
      const handle = supervise(run, () => ({ outcome: new Promise<TraceOutcome>(() => undefined), softLimit: () => undefined, stop: (reason) => (stopped = reason) }), counters);
      const reason = new TaskRevokedError('terminated');
      if (how === 'terminate') handle.terminate(reason);
      else handle.abandon();
      const outcome = await handle.result;
      if (how === 'terminate') expect(outcome).toEqual({ ok: false, error: reason });
      else expect(outcome).toBe('abandoned');
      expect(job.abort.signal.aborted).toBe(true);
      expect(stopped).toEqual(how === 'terminate' ? reason : expect.any(WorkerLostError));
      // Its timers were cleared, and a second stop changes nothing.
      expect(clock.pendingTimers).toBe(0);
      handle.terminate(new Error('again'));
      expect(await handle.result).toBe(outcome);
    }
  });
});
