/**
 * The heartbeat example: a periodic `maintenance.heartbeat` task that increments a Redis
 * counter and logs one structured line per run with the count and the task id.
 *
 *   CELERY_BROKER_URL=redis://localhost:6379/0 npx celeriac -A examples/heartbeat/app.ts worker -B
 *
 * or a worker and any number of beats as separate processes (only one beat sends):
 *
 *   npx celeriac -A examples/heartbeat/app.ts worker
 *   npx celeriac -A examples/heartbeat/app.ts beat
 *   npx celeriac -A examples/heartbeat/app.ts beat     # stands by; takes over if the first dies
 */
import { createApp, type App, type AppOptions } from 'celeriac';
import { createClient } from 'redis';

/** Options of {@link createHeartbeatApp}. */
export interface HeartbeatOptions {
  /** Broker (and counter) Redis URL. @default CELERY_BROKER_URL or redis://localhost:6379/0 */
  redisUrl?: string;
  /** Seconds between heartbeats. @default HEARTBEAT_EVERY or 30 */
  everySec?: number;
  /** Key of the counter. @default 'heartbeat:count' */
  counterKey?: string;
  /** Extra app options (a logger in tests). */
  appOptions?: AppOptions;
}

/** Builds the app; `close()` closes the app and the counter's connection. */
export function createHeartbeatApp(options: HeartbeatOptions = {}): { app: App; close(): Promise<void> } {
  const url = options.redisUrl ?? process.env['CELERY_BROKER_URL'] ?? 'redis://localhost:6379/0';
  const counterKey = options.counterKey ?? 'heartbeat:count';
  const app = createApp(
    {
      broker: url,
      backend: process.env['CELERY_RESULT_BACKEND'] ?? url,
      beatSchedule: {
        heartbeat: { task: 'maintenance.heartbeat', schedule: options.everySec ?? Number(process.env['HEARTBEAT_EVERY'] ?? 30), options: { expires: 60 } },
      },
    },
    options.appOptions,
  );
  // The counter lives in the same Redis; the URL's query (global_keyprefix) is kombu's, not redis's.
  const counter = createClient({ url: url.split('?')[0] });
  let connected: Promise<unknown> | undefined;

  app.task('maintenance.heartbeat', { bind: true, ignoreResult: true }, async (ctx) => {
    connected ??= counter.connect();
    await connected;
    const count = await counter.incr(counterKey);
    ctx.log.info({ heartbeat: count, taskId: ctx.request.id }, 'heartbeat');
    return count;
  });

  return {
    app,
    async close() {
      await app.close();
      if (connected !== undefined) counter.destroy();
    },
  };
}

export const { app } = createHeartbeatApp();
