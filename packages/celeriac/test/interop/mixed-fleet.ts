/**
 * The "mixed fleet" the interop suites run against: Celeriac apps and workers and Python
 * Celery workers on one Redis db, broker keys isolated by a random kombu `global_keyprefix`,
 * result keys collected by task id. A suite builds its own members (queues, tasks,
 * concurrency, Python extra tasks) through the fleet, and one `close()` in afterAll tears
 * them down and deletes only this run's keys.
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { createApp, Worker, type App, type Settings, type WorkerOptions } from '../../src/index.js';
import type { CeleryOracle } from '../support/oracles.js';
import { shouldRunPythonTests } from '../support/python.js';
import { deleteKeys, deleteResults, shouldRunRedisTests } from '../support/redis.js';
import { startPythonWorker, TEST_RESULT_EXPIRES_SEC, type PyEnv, type PyWorker } from './python.js';

/** Options of a Python worker started by {@link MixedFleet.python}. */
export type PythonWorkerOptions = NonNullable<Parameters<typeof startPythonWorker>[1]>;

/**
 * True when both Redis and Python Celery are there for the suite named `what` (under CI a
 * missing one fails instead, as shouldRunRedisTests / shouldRunPythonTests do).
 */
export async function mixedFleetReady(what: string): Promise<boolean> {
  return (await shouldRunRedisTests(what)) && shouldRunPythonTests(what);
}

/** Celeriac and Python workers on one Redis db under a random key prefix; see the module doc. */
export class MixedFleet {
  /** The kombu `global_keyprefix` of this run, e.g. `ctest-1a2b3c4d:`. */
  readonly prefix: string;
  /** Broker URL with the key prefix, for Celeriac apps and the CLI. */
  readonly brokerUrl: string;
  /** Broker/backend environment for Python processes. */
  readonly py: PyEnv;
  /** Ids of tasks whose result keys `close()` deletes; push every id a test creates. */
  readonly taskIds: string[] = [];
  private readonly workers: Worker[] = [];
  private readonly apps: App[] = [];
  private readonly pyWorkers: PyWorker[] = [];

  /**
   * @param tag - start of the key prefix, naming the suite in `redis-cli --scan` output.
   * @param db - the Redis database. @default 9
   * @param oracle - the Python Celery of the fleet's Python members. @default Debian's 5.2.6
   */
  constructor(tag: string, db = 9, oracle?: CeleryOracle) {
    const url = `redis://127.0.0.1:6379/${db}`;
    this.prefix = `${tag}-${randomUUID().slice(0, 8)}:`;
    this.brokerUrl = `${url}?global_keyprefix=${this.prefix}`;
    this.py = { broker: url, backend: url, keyPrefix: this.prefix, ...(oracle ? { oracle } : {}) };
  }

  /** A Celeriac app on the fleet's broker and backend, silent; not closed by `close()`. */
  newApp(settings: Settings = {}): App {
    return createApp({ broker: this.brokerUrl, backend: this.py.backend, resultExpiresSec: TEST_RESULT_EXPIRES_SEC, ...settings }, { env: {}, logger: pino({ level: 'silent' }) });
  }

  /** A Celeriac app as {@link newApp}, closed by `close()`. */
  app(settings: Settings = {}): App {
    const app = this.newApp(settings);
    this.apps.push(app);
    return app;
  }

  /** Starts a Celeriac worker for `app` (closed by `close()`, with a 2 s deadline). */
  async worker(app: App, options: WorkerOptions): Promise<Worker> {
    const worker = new Worker(app, options);
    this.workers.push(worker);
    await worker.start();
    return worker;
  }

  /** Starts a Python Celery worker (stopped by `close()`) and resolves once it is ready. */
  async python(options: PythonWorkerOptions = {}): Promise<PyWorker> {
    const pyWorker = await startPythonWorker(this.py, options);
    this.pyWorkers.push(pyWorker);
    return pyWorker;
  }

  /** Closes workers, then apps, stops Python workers, and deletes this run's broker and result keys. */
  async close(): Promise<void> {
    for (const worker of this.workers.splice(0)) await worker.close({ deadlineMs: 2000 });
    for (const app of this.apps.splice(0)) await app.close();
    for (const pyWorker of this.pyWorkers.splice(0)) await pyWorker.stop();
    await deleteKeys(this.prefix, this.py.broker);
    await deleteResults(this.taskIds, this.py.backend);
  }
}
