/**
 * @module tasks/demo
 * The demo tasks the generic endpoints and the live page send: `demo.add`, `demo.sleep`
 * (progress every second), `demo.flaky` (an unreliable dependency, retried with backoff)
 * and `demo.process` (the live page's task: progress events and the worker's name).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { App, TaskContext } from 'celeriac';

/** Longest `demo.sleep` / `demo.process`, in seconds. */
export const MAX_DEMO_SECONDS = 600;

/** The unreliable dependency of `demo.flaky` failed; the task retries on this error. */
export class ServiceUnavailableError extends Error {
  constructor(message = 'the weather service is unavailable') {
    super(message);
    this.name = 'ServiceUnavailableError';
  }
}

/** A dependency that fails some of the time. */
export interface UnreliableService {
  /** Resolves with a reading, or rejects with {@link ServiceUnavailableError}. */
  call(city: string, signal: AbortSignal): Promise<{ city: string; celsius: number }>;
}

/** An {@link UnreliableService} failing with probability `failureRate`. */
export function randomlyFailingService(failureRate = 0.5, random: () => number = Math.random): UnreliableService {
  return {
    async call(city) {
      if (random() < failureRate) throw new ServiceUnavailableError();
      return { city, celsius: Math.round(random() * 300) / 10 };
    },
  };
}

function seconds(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_DEMO_SECONDS) {
    throw new RangeError(`seconds must be a number from 0 to ${MAX_DEMO_SECONDS}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Reports `current` of `total` steps twice: a PROGRESS state in the result backend (for
 * `GET /tasks/{id}`), and a `task-progress` event (for the live page and monitors, which
 * follow events and so work with any result backend, `rpc://` included).
 */
export async function reportProgress(ctx: TaskContext, current: number, total: number): Promise<void> {
  await Promise.all([ctx.updateState('PROGRESS', { current, total }), ctx.sendEvent('task-progress', { current, total })]);
}

/** Sleeps `total` seconds in one-second steps, reporting progress after each. */
async function steps(ctx: TaskContext, total: number): Promise<void> {
  await reportProgress(ctx, 0, Math.ceil(total));
  for (let done = 0; done < total; done += 1) {
    await sleep(Math.min(1, total - done) * 1000, undefined, { signal: ctx.signal });
    await reportProgress(ctx, done + 1, Math.ceil(total));
  }
}

/** Registers the demo tasks; returns them, typed. */
export function registerDemoTasks(app: App, deps: { unreliable: UnreliableService }) {
  const add = app.task('demo.add', (x: number, y: number) => {
    if (typeof x !== 'number' || typeof y !== 'number') throw new TypeError(`demo.add takes two numbers, got ${JSON.stringify([x, y])}`);
    return x + y;
  });

  const sleepTask = app.task('demo.sleep', { bind: true, params: ['seconds'] }, async (ctx, secs: number) => {
    await steps(ctx, seconds(secs));
    return { slept: secs, worker: ctx.request.hostname };
  });

  const flaky = app.task(
    'demo.flaky',
    // Exponential backoff with full jitter: 1, 2, 4, 8, 16 s at most between tries.
    { bind: true, params: ['city'], autoretryFor: [ServiceUnavailableError], retryBackoff: true, retryBackoffMaxSec: 30, maxRetries: 5 },
    async (ctx, city: string = 'Lisbon') => {
      const reading = await deps.unreliable.call(String(city), ctx.signal);
      ctx.log.info({ attempt: ctx.request.retries + 1, city }, 'weather service answered');
      return { ...reading, attempts: ctx.request.retries + 1 };
    },
  );

  const processTask = app.task('demo.process', { bind: true, params: ['taskNum', 'seconds'] }, async (ctx, taskNum: number, secs: number) => {
    await steps(ctx, seconds(secs));
    return { taskNum, worker: ctx.request.hostname };
  });

  return { add, sleep: sleepTask, flaky, process: processTask };
}
