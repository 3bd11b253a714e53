/**
 * The Celeriac app and its tasks. The worker (`npm run worker`), beat (`npm run beat`), the
 * dashboard (`npm run flower`) and every producer import this one module, so all of them know
 * the same tasks. With no broker URL in the environment the app runs on the in-process
 * memory:// broker; set CELERY_BROKER_URL and CELERY_RESULT_BACKEND (redis://...) to share one.
 */
import { createApp } from 'celeriac';
import { beatSchedule } from './schedule.js';

export const app = createApp({
  broker: process.env.CELERY_BROKER_URL,
  backend: process.env.CELERY_RESULT_BACKEND,
  // A task whose worker dies is delivered again instead of lost: tasks must be safe to run twice.
  taskAcksLate: true,
  beatSchedule,
});

/** Argument and return types are inferred: `add.delay('2', 3)` does not compile. */
export const add = app.task('tasks.add', (x: number, y: number) => x + y);

/** A pure function run as a task: easy to test with or without a worker. */
export function slug(title: string): string {
  return title.toLowerCase().normalize('NFKD').replace(/[^\w\s-]/g, '').trim().replace(/[\s_-]+/g, '-');
}
export const slugify = app.task('tasks.slugify', (title: string) => slug(title));

/**
 * With `bind: true` the task context comes first: progress, retries, the abort signal of a time
 * limit. A failed fetch is retried with exponential backoff, at most 5 times.
 */
export const fetchStatus = app.task(
  'tasks.fetch_status',
  { bind: true, autoretryFor: [TypeError], retryBackoff: true, maxRetries: 5, softTimeLimitSec: 30 },
  async (ctx, url: string) => {
    await ctx.updateState('PROGRESS', { url });
    const response = await fetch(url, { signal: ctx.signal });
    return response.status;
  },
);

/** Run by beat every minute (src/schedule.ts). */
export const heartbeat = app.task('tasks.heartbeat', () => new Date().toISOString());
