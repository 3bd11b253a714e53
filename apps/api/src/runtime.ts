/**
 * @module runtime
 * The composition root: builds everything a process needs from the settings (logger,
 * database, cache, the Celeriac app with its tasks and beat schedule, the todo service) and
 * closes it in reverse order. Every role (API, worker, beat) starts from one of these, so
 * they share one set of task definitions. Tests pass `overrides` to swap the clock, the
 * unreliable dependency or the logger.
 */
import { createApp, createLogger, type App } from 'celeriac';
import { crontab, every } from 'celeriac/beat';
import { systemClock, type Broker, type Clock, type ResultBackend } from 'celeriac/spi';
import type { Logger } from 'pino';
import { openCache, type Cache } from './cache/cache.js';
import { openDatabase, type Database } from './db/database.js';
import { traceCache, traceDatabase } from './tracing.js';
import { migrate } from './db/migrations.js';
import type { AppSettings } from './settings.js';
import { randomlyFailingService, registerDemoTasks, type UnreliableService } from './tasks/demo.js';
import { registerMaintenanceTasks } from './tasks/maintenance.js';
import { registerTodoTasks } from './tasks/todo-tasks.js';
import { TodoService, TODO_TASKS } from './todos/service.js';
import { TodoCache } from './todos/todo-cache.js';

/** What tests (and embedders) may replace. */
export interface RuntimeOverrides {
  /** The domain clock (deadlines, overdue, cleanup, cache TTLs in process). @default systemClock */
  clock?: Clock;
  /** Randomness of retry jitter. @default Math.random */
  random?: () => number;
  /** The dependency `demo.flaky` calls. @default fails half the time */
  unreliable?: UnreliableService;
  logger?: Logger;
  /** Broker / backend instances instead of the URLs' (private memory adapters in tests). */
  broker?: Broker;
  backend?: ResultBackend;
  /** Environment the Celeriac app reads its other settings from (`CELERY_*`). @default {} */
  celeryEnv?: NodeJS.ProcessEnv;
}

/** Everything one process runs on. */
export interface Runtime {
  readonly settings: AppSettings;
  readonly log: Logger;
  readonly clock: Clock;
  readonly db: Database;
  readonly cache: Cache;
  readonly celery: App;
  readonly service: TodoService;
  readonly tasks: ReturnType<typeof registerAll>;
  /** Closes the Celeriac app, the cache and the database. */
  close(): Promise<void>;
}

/** The beat schedule: heartbeat, the hourly overdue check and the 02:00 cleanup (app time zone). */
export function beatSchedule(settings: AppSettings) {
  return {
    'maintenance-heartbeat': { task: 'maintenance.heartbeat', schedule: every(settings.heartbeatEverySec), options: { expires: settings.heartbeatEverySec } },
    'todos-check-overdue': { task: TODO_TASKS.checkOverdue, schedule: crontab({ minute: '0' }), options: { expires: 3600 } },
    'todos-daily-cleanup': { task: TODO_TASKS.dailyCleanup, schedule: crontab({ minute: '0', hour: '2' }) },
  };
}

/** Builds the Celeriac app with the app's defaults: late acks, one prefetch per slot, events on. */
export function createCeleryApp(settings: AppSettings, log: Logger, overrides: RuntimeOverrides): App {
  return createApp(
    {
      broker: settings.brokerUrl,
      backend: settings.resultBackend,
      timezone: settings.timezone,
      // A worker killed mid-task gives its message back: nothing is lost (every task here is safe to run twice).
      taskAcksLate: true,
      // Long demo tasks spread evenly over workers instead of piling up in one's prefetch.
      workerPrefetchMultiplier: 1,
      // The live page and the dashboard follow tasks through events.
      workerSendTaskEvents: true,
      taskTrackStarted: true,
      // Results record the worker that ran them (GET /tasks/{id} shows it).
      resultExtended: true,
      logLevel: settings.logLevel,
      beatSchedule: beatSchedule(settings),
    },
    {
      env: overrides.celeryEnv ?? {},
      logger: log,
      ...(overrides.random === undefined ? {} : { random: overrides.random }),
      ...(overrides.broker === undefined ? {} : { broker: overrides.broker }),
      ...(overrides.backend === undefined ? {} : { backend: overrides.backend }),
    },
  );
}

function registerAll(celery: App, service: TodoService, cache: Cache, settings: AppSettings, unreliable: UnreliableService) {
  return {
    demo: registerDemoTasks(celery, { unreliable }),
    maintenance: registerMaintenanceTasks(celery, { cache }),
    todos: registerTodoTasks(celery, { service, exportDir: settings.exportDir }),
  };
}

/** Opens the database (migrating it), the cache and the Celeriac app. */
export async function createRuntime(settings: AppSettings, overrides: RuntimeOverrides = {}): Promise<Runtime> {
  const log = overrides.logger ?? createLogger({ level: settings.logLevel, format: settings.logFormat });
  const clock = overrides.clock ?? systemClock;
  const db = traceDatabase(await openDatabase({ url: settings.databaseUrl, dataDir: settings.dataDir }));
  try {
    const applied = await migrate(db);
    if (applied.length > 0) log.info({ migrations: applied, database: db.kind }, 'database migrated');
  } catch (err) {
    await db.close();
    throw err;
  }
  const cache = traceCache(openCache({ url: settings.redisUrl, prefix: settings.cachePrefix, clock }));
  const celery = createCeleryApp(settings, log, overrides);
  const service = new TodoService({ db, cache: new TodoCache(cache, log), celery, clock, log });
  const tasks = registerAll(celery, service, cache, settings, overrides.unreliable ?? randomlyFailingService());
  let closing: Promise<void> | undefined;
  return {
    settings, log, clock, db, cache, celery, service, tasks,
    close() {
      closing ??= (async () => {
        await celery.close();
        await Promise.allSettled([cache.close(), db.close()]);
      })();
      return closing;
    },
  };
}
