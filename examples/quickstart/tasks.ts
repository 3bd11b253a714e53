/**
 * The quickstart's app and tasks. A worker started with `celeriac -A examples/quickstart/tasks.ts worker`
 * would load this same module: tasks are registered by importing it, nothing is scanned.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createApp } from 'celeriac';

export const app = createApp({
  // Unset, both default to 'memory://': the embedded broker and backend, shared by
  // everything in this process. Point them at a server later without touching the tasks.
  broker: process.env.CELERY_BROKER_URL,
  backend: process.env.CELERY_RESULT_BACKEND,
  // Keep the worker's log lines out of the way of the printed results;
  // run with CELERIAC_LOG_LEVEL=info to see them.
  logLevel: process.env.CELERIAC_LOG_LEVEL ?? 'silent',
});

/** Name + function: argument and return types are inferred. */
export const add = app.task('proj.add', (x: number, y: number) => x + y);

/**
 * Name + options + function. With `bind: true` the task context comes first: it reports
 * progress with `ctx.updateState` and stops early if `ctx.signal` aborts.
 */
export const progress = app.task('proj.progress', { bind: true }, async (ctx, steps: number) => {
  for (let step = 1; step <= steps; step++) {
    await ctx.updateState('PROGRESS', { step, of: steps });
    await sleep(150, undefined, { signal: ctx.signal });
  }
  return { steps, by: ctx.request.hostname };
});

/** A task that always fails: the error is stored and rethrown to whoever calls `get()`. */
export const fail = app.task('proj.fail', (amount: number) => {
  throw new TypeError(`cannot charge ${amount}: amounts must be positive`);
});
