/**
 * @module roles
 * The roles a process can run, each a start function returning its stop function: the API
 * server, a worker, beat. `npm start` runs them all in one process on the embedded broker
 * and database; in production each runs as its own process (`main.ts api|worker|beat`).
 */
import { Worker } from 'celeriac';
import { Beat } from 'celeriac/beat';
import { startDashboard } from '@celeriac/dashboard';
import { join } from 'node:path';
import { buildServer } from './http/server.js';
import type { Runtime } from './runtime.js';

/** A started role. */
export interface RunningRole {
  readonly name: string;
  /** Where it can be reached, for the start-up banner. */
  readonly urls: Readonly<Record<string, string>>;
  /** Stops it gracefully; resolves once it stopped. */
  stop(): Promise<void>;
}

/** Starts the HTTP API. */
export async function startApi(rt: Runtime, options: { dashboardUrl?: string | null } = {}): Promise<RunningRole> {
  const server = await buildServer(rt, options);
  await server.listen({ host: rt.settings.apiHost, port: rt.settings.apiPort });
  const address = server.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : rt.settings.apiPort;
  const host = rt.settings.apiHost === '0.0.0.0' || rt.settings.apiHost === '::' ? 'localhost' : rt.settings.apiHost;
  const base = `http://${host}:${port}`;
  return {
    name: 'api',
    urls: { api: base, docs: `${base}/docs`, openapi: `${base}/openapi.json`, live: `${base}/`, health: `${base}/health` },
    // Stops accepting connections, lets requests in flight finish, then closes the feed.
    stop: () => server.close(),
  };
}

/** Starts a worker consuming the default queue. */
export async function startWorker(rt: Runtime, options: { hostname?: string; concurrency?: number } = {}): Promise<RunningRole> {
  const worker = new Worker(rt.celery, {
    concurrency: options.concurrency ?? rt.settings.workerConcurrency,
    hostname: options.hostname ?? rt.settings.workerName,
  });
  await worker.start();
  rt.log.info({ worker: worker.hostname, concurrency: worker.options.concurrency }, 'worker started');
  return { name: `worker ${worker.hostname}`, urls: {}, stop: () => worker.close() };
}

/**
 * Starts beat (any number may run: one leads and sends). Its store is the broker's own (Redis
 * keys, or on RabbitMQ one document in a queue: docs/brokers-and-backends.md). With `optional`
 * (the `all` role), a broker that cannot host beat's store leaves beat out with a warning
 * instead of stopping the whole process.
 */
export async function startBeat(rt: Runtime, options: { optional?: boolean } = {}): Promise<RunningRole> {
  if (options.optional === true && typeof rt.celery.broker.beatStore !== 'function') {
    rt.log.warn({ broker: rt.celery.broker.kind }, 'beat not started: this broker cannot host its store (the schedule needs a redis://, amqp:// or memory:// broker)');
    return { name: 'beat (not started)', urls: {}, stop: async () => undefined };
  }
  const beat = new Beat(rt.celery);
  await beat.start();
  return { name: 'beat', urls: {}, stop: () => beat.close() };
}

/**
 * Starts the dashboard (`celeriac flower`, embedded) on the app's broker: Flower's API and
 * pages on `FLOWER_PORT`. Its history lives in Postgres when `DATABASE_URL` is set (its own
 * schema), else in an embedded database under `DATA_DIR/dashboard`.
 */
export async function startFlower(rt: Runtime): Promise<RunningRole> {
  const s = rt.settings;
  const dashboard = await startDashboard({
    app: rt.celery,
    port: s.flowerPort,
    address: s.apiHost,
    basicAuth: s.flowerBasicAuth,
    dataDir: join(s.dataDir, 'dashboard'),
    ...(s.databaseUrl === null ? {} : { databaseUrl: s.databaseUrl }),
  });
  rt.log.info({ url: dashboard.url }, 'dashboard started');
  return { name: 'dashboard', urls: { dashboard: dashboard.url }, stop: () => dashboard.close() };
}
