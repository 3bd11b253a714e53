/**
 * An API under test: a runtime on a private memory broker and backend, an in-process
 * worker, the Fastify server (driven with `inject`, no port), and a fake domain clock
 * starting at the real time (so the broker's ETAs, which use real time, stay in the future
 * and domain time moves only when a test says so). The database is a fresh PGlite in a
 * temp directory (seeded from the dashboard store's cached fresh database, so no initdb per
 * test file; main.test.ts starts the app on an empty directory) or a fresh Postgres database.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Worker } from 'celeriac';
import { MemoryBackend, MemoryBroker } from 'celeriac/memory';
import { FakeClock } from 'celeriac/testing';
import { pino } from 'pino';
import { buildServer, type ApiServer } from '../../src/http/server.js';
import { ServiceUnavailableError, type UnreliableService } from '../../src/tasks/demo.js';
import { createRuntime, type Runtime, type RuntimeOverrides } from '../../src/runtime.js';
import { loadSettings } from '../../src/settings.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';

/** One log line, parsed. */
export type LogLine = Record<string, unknown> & { msg?: string };

/** A running API under test. */
export interface TestApi {
  readonly rt: Runtime;
  readonly server: ApiServer;
  readonly clock: FakeClock;
  readonly worker: Worker;
  /** The private broker and backend (concrete: their listing and revocation roles are there). */
  readonly broker: MemoryBroker;
  readonly backend: MemoryBackend;
  readonly logs: LogLine[];
  /** Empties the tables and the cache between tests. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

/** Options of {@link startTestApi}. */
export interface TestApiOptions {
  database: 'pglite' | 'postgres';
  env?: Record<string, string>;
  overrides?: RuntimeOverrides;
  /** Concurrency of the in-process worker. @default 4 */
  workerConcurrency?: number;
  /** Called with the server before it is ready (to add hooks). */
  onServer?: (server: ApiServer) => void;
}

/** Starts an API with an in-process worker on private memory adapters. */
export async function startTestApi(options: TestApiOptions): Promise<TestApi> {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-app-test-'));
  let pgdb: TestDatabase | undefined;
  // On PGlite the app starts its new data directory as a copy of the cached fresh database (db/database.ts).
  if (options.database === 'postgres') pgdb = await createTestDatabase();
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim() !== '') logs.push(JSON.parse(l) as LogLine);
      done();
    },
  });
  const settings = loadSettings({
    DATA_DIR: dir,
    API_BODY_LIMIT: '16384',
    ...(pgdb === undefined ? {} : { DATABASE_URL: pgdb.url }),
    ...options.env,
  });
  const clock = new FakeClock(Date.now());
  const broker = new MemoryBroker();
  const backend = new MemoryBackend();
  const rt = await createRuntime(settings, {
    clock,
    logger: pino({ level: 'info' }, sink),
    broker,
    backend,
    random: () => 0,
    unreliable: failingTimes(2),
    ...options.overrides,
  });
  const worker = new Worker(rt.celery, { concurrency: options.workerConcurrency ?? 4, hostname: 'test@%h' });
  await worker.start();
  const server = await buildServer(rt);
  options.onServer?.(server);
  await server.ready();
  return {
    rt, server, clock, worker, broker, backend, logs,
    async reset() {
      await rt.db.query('TRUNCATE notifications, todos, users RESTART IDENTITY CASCADE');
      const keys = await rt.cache.keys(10_000);
      await rt.cache.del(keys.map((k) => k.key));
    },
    async close() {
      await server.close();
      await worker.close({ deadlineMs: 5000 });
      await rt.close();
      await pgdb?.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A dependency that fails `n` times, then answers. */
export function failingTimes(n: number): UnreliableService {
  let calls = 0;
  return {
    async call(city) {
      calls += 1;
      if (calls <= n) throw new ServiceUnavailableError();
      return { city, celsius: 21.5 };
    },
  };
}
