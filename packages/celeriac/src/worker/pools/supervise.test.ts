import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { buildTaskMessage } from '../../core/producer.js';
import { TimeLimitExceeded } from '../../core/task-errors.js';
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
    expect(result).toEqual({ ok: true, value: 7 });
    expect(clock.pendingTimers).toBe(0);
    expect(job.terminate).toBeUndefined();
    // The body kept its updateState and calls it after returning: the run is over, so it is dropped.
    void update?.('PROGRESS', { step: 2 });
    expect(updates).toEqual([['PROGRESS', { step: 1 }]]);
  });

  it('supervises a body that returned a promise: the hard limit ends it and later updates are dropped', async () => {
    const { clock, job, run, updates, counters } = setUp({ hard: 5, soft: null });
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
    expect(result).toBeInstanceOf(Promise);
    expect(clock.pendingTimers).toBe(1);
    expect(job.terminate).toBeTypeOf('function');
    clock.advance(5000);
    const outcome = await result;
    expect(outcome).toMatchObject({ ok: false, error: expect.any(TimeLimitExceeded) });
    expect(stopped).toBeInstanceOf(TimeLimitExceeded);
    expect(counters.hard).toBe(1);
    void update?.('PROGRESS', { late: true });
    expect(updates).toEqual([]);
  });
});
