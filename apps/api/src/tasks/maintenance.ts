/**
 * @module tasks/maintenance
 * `maintenance.heartbeat`, sent by beat every `HEARTBEAT_EVERY` seconds: it counts its runs
 * in the cache and logs one structured line with the count (ctx.log adds its task id).
 */
import type { App } from 'celeriac';
import type { Cache } from '../cache/cache.js';
import { cacheKeys } from '../todos/todo-cache.js';

/** Registers `maintenance.heartbeat`. */
export function registerMaintenanceTasks(app: App, deps: { cache: Cache }) {
  const heartbeat = app.task('maintenance.heartbeat', { bind: true, ignoreResult: true }, async (ctx) => {
    const count = await deps.cache.incr(cacheKeys.heartbeat);
    ctx.log.info({ heartbeat: count }, 'heartbeat'); // ctx.log carries the task id and name
    return count;
  });
  return { heartbeat };
}
