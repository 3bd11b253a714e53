/**
 * Helpers of the failure tests: worker children (fixtures/worker.ts) that can be SIGKILLed,
 * in-process workers with fast recovery options, a private redis-server with an fsync'ed
 * append-only file (so kill -9 of the server loses nothing it acknowledged), and bounded
 * polling. Every child started here is remembered; `killChildren()` (afterEach) ends them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from 'celeriac/testing';
import { pino } from 'pino';
import { createClient, type RedisClientType } from 'redis';
import { RedisBackend } from '../../src/backends/redis/redis-backend.js';
import { RedisBroker, type RedisBrokerOptions } from '../../src/brokers/redis/redis-broker.js';
import { createApp, Worker, type App, type ResultMeta, type Settings } from '../../src/index.js';
import { deleteKeys, deleteResults, randomKeyPrefix, redisReachable, REDIS_URL } from '../support/redis.js';
import { nodeScriptArgs } from '../support/node-script.js';
import type { ChildWorkerConfig } from './fixtures/worker.js';
import { counterKeys, defineFailureTasks } from './fixtures/tasks.js';

export { counterKeys, MARKED } from './fixtures/tasks.js';
export type { ChildWorkerConfig } from './fixtures/worker.js';

/** The shared Redis on db 9, where the failure suites keep their keys. */
export const FAILURE_DB = ((): string => {
  const url = new URL(REDIS_URL);
  url.pathname = '/9';
  return url.toString();
})();

/** A fresh key prefix on {@link FAILURE_DB}, and the broker URL that uses it. */
export function failureKeys(): { prefix: string; brokerUrl: string } {
  const prefix = randomKeyPrefix();
  return { prefix, brokerUrl: `${FAILURE_DB}?global_keyprefix=${encodeURIComponent(prefix)}` };
}

/**
 * The end of a process-level failure suite (afterAll): ends its worker children, closes its
 * producer and raw client, and deletes its keys and the results of `taskIds` on {@link FAILURE_DB}.
 */
export async function closeFailureSuite(producer: App | undefined, raw: RedisClientType | undefined, prefix: string, taskIds: readonly string[]): Promise<void> {
  await killChildren();
  await producer?.close();
  await raw?.close();
  await deleteKeys(prefix, FAILURE_DB);
  await deleteResults(taskIds, FAILURE_DB);
}

/** Recovery options small enough for tests: a dead holder's messages come back within ~2.5 s. */
export const FAST: RedisBrokerOptions = { recoverAfterSec: 2, leaseRenewMs: 500, sweepIntervalMs: 500, pollIntervalMs: 20 };

/**
 * Builds worker configs on Redis `base` (broker, backend and run counters) under the key
 * prefix `prefix`: one late-ack slot, prefetch 1, `broker` options (FAST unless given);
 * `over` replaces fields for one worker.
 */
export function workerConfigs(base: string, prefix: string, broker: RedisBrokerOptions = FAST) {
  const brokerUrl = `${base}?global_keyprefix=${encodeURIComponent(prefix)}`;
  return (queue: string, hostname: string, over: Partial<ChildWorkerConfig> = {}): ChildWorkerConfig => ({
    brokerUrl,
    broker,
    backendUrl: base,
    backendKeyPrefix: '',
    counterUrl: base,
    counterPrefix: prefix,
    queue,
    concurrency: 1,
    prefetchMultiplier: 1,
    acksLate: true,
    hostname,
    ...over,
  });
}

const HERE = fileURLToPath(new URL('./', import.meta.url));
const WORKER_SCRIPT = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));

/** A connected plain client (errors while a server is down are ignored, commands retry). */
export async function plainClient(url: string): Promise<RedisClientType> {
  const client = createClient({ url }) as RedisClientType;
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** A worker child. */
export interface ChildWorker {
  readonly child: ChildProcess;
  /** Resolves when the child printed READY; rejects if it exits first or after READY_BOUND_MS. */
  readonly ready: Promise<void>;
  /** Everything the child wrote (for failure messages). */
  output(): string;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
}

const children = new Set<ChildProcess>();

/**
 * How long a child may take to print READY before the test fails: a guard against a hang,
 * not a speed check. A child starts in about a second on an idle machine, but a CI run seen
 * at load average 20 on 2 cores left one silent for 15 s (kill-worker, redis-recovery).
 */
const READY_BOUND_MS = 45_000;

/** Starts fixtures/worker.ts with `config`. */
export function spawnWorker(config: ChildWorkerConfig): ChildWorker {
  const child = spawn(process.execPath, nodeScriptArgs(WORKER_SCRIPT), {
    cwd: HERE,
    env: { ...process.env, CELERIAC_FAILURE_WORKER: JSON.stringify(config) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker ${config.hostname} not ready within ${READY_BOUND_MS / 1000} s:\n${out}`)), READY_BOUND_MS);
    child.stdout?.on('data', () => {
      if (/^READY$/m.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`worker ${config.hostname} exited (${String(code ?? signal)}) before READY:\n${out}`));
    });
  });
  ready.catch(() => undefined);
  return { child, ready, output: () => out, kill: () => killChild(child) };
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

/** SIGKILLs every child still running (worker children and redis-servers). */
export async function killChildren(): Promise<void> {
  await Promise.all([...children].map((c) => killChild(c)));
}

/** An in-process worker and the app it runs in. */
export interface LocalWorker {
  app: App;
  worker: Worker;
  /** Its log lines at info and above (JSON), for a failure message: the test output stays quiet. */
  readonly logs: string[];
  stop(): Promise<void>;
}

/** Starts an in-process worker like the child one (same tasks, counters, options, settings). */
export async function startLocalWorker(config: ChildWorkerConfig, counters: RedisClientType): Promise<LocalWorker> {
  const logs: string[] = [];
  const app = createApp(
    { broker: config.brokerUrl, backend: config.backendUrl, taskAcksLate: config.acksLate, taskDefaultQueue: config.queue, ...(config.settings as Settings) },
    {
      env: {},
      logger: pino({ level: 'info' }, { write: (line: string) => void logs.push(line.trimEnd()) }),
      ...(config.brokerUrl.startsWith('amqp') ? {} : { broker: new RedisBroker(config.brokerUrl, config.broker) }),
      backend: new RedisBackend({ ...config.backend, url: config.backendUrl, keyPrefix: config.backendKeyPrefix }),
    },
  );
  defineFailureTasks(app, counters, config.counterPrefix);
  const worker = new Worker(app, { queues: [config.queue], concurrency: config.concurrency, prefetchMultiplier: config.prefetchMultiplier, hostname: config.hostname });
  await worker.start();
  return {
    app,
    worker,
    logs,
    stop: async () => {
      await worker.close({ deadlineMs: 1000 });
      await app.close();
    },
  };
}

/** Attempt and success counts of a task id. */
export async function counts(counters: RedisClientType, prefix: string, id: string): Promise<{ attempts: number; success: number }> {
  const keys = counterKeys(prefix, id);
  const [a, s] = await counters.mGet([keys.attempts, keys.success]);
  return { attempts: Number(a ?? 0), success: Number(s ?? 0) };
}

/** The stored result metas of `ids` (null while PENDING), read raw as Python would. */
export async function metas(client: RedisClientType, ids: readonly string[], keyPrefix = ''): Promise<(ResultMeta | null)[]> {
  if (ids.length === 0) return [];
  const texts = await client.mGet(ids.map((id) => `${keyPrefix}celery-task-meta-${id}`));
  return texts.map((t) => (t === null ? null : (JSON.parse(t) as ResultMeta)));
}

/**
 * Where each of `ids` is on a broker's Redis, for a failure message: waiting in `queue`, held
 * in `unacked` (with its lease expiry, epoch ms, and unacked_index score), and how often it ran
 * (counters on the shared Redis). One line per id.
 */
export async function whereAre(broker: RedisClientType, counters: RedisClientType, prefix: string, queue: string, ids: readonly string[]): Promise<string> {
  const queued = await broker.lRange(`${prefix}${queue}`, 0, -1);
  const unacked = await broker.hGetAll(`${prefix}unacked`);
  const lines: string[] = [];
  for (const id of ids) {
    const inQueue = queued.filter((m) => m.includes(id)).length;
    const tags = Object.entries(unacked).filter(([, m]) => m.includes(id)).map(([tag]) => tag);
    const held = await Promise.all(
      tags.map(async (tag) => `${tag} lease ${String(await broker.zScore(`${prefix}celeriac.leases`, tag))} index ${String(await broker.zScore(`${prefix}unacked_index`, tag))}`),
    );
    const { attempts, success } = await counts(counters, prefix, id);
    lines.push(`${id}: queued ${inQueue}, unacked [${held.join('; ')}], attempts ${attempts}, success ${success}`);
  }
  return `now ${Date.now()}\n${lines.join('\n')}`;
}

/**
 * A private redis-server that persists every write before replying (`appendonly yes`,
 * `appendfsync always`, in a temp dir), so a SIGKILL loses nothing a client saw acknowledged
 * and a restart on the same port brings back the queues, the unacked bookkeeping and results.
 */
export class DurableRedisServer {
  readonly dir = mkdtempSync(join(tmpdir(), 'celeriac-aof-'));
  #child: ChildProcess | undefined;

  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  /**
   * Starts (or restarts) the server and waits until it accepts connections; a no-op while
   * this server's process runs. Refuses a port some other server holds: the test would
   * otherwise talk to that one and "kill" a process that never bound the port.
   */
  async start(timeoutMs = 5000): Promise<void> {
    const running = this.#child;
    if (running !== undefined && running.exitCode === null && running.signalCode === null) return;
    if (await redisReachable(this.url, 200)) throw new Error(`port ${this.port} is already served by another process (a redis-server left running?): stop it first`);
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--daemonize', 'no'];
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    this.#child = child;
    children.add(child);
    child.once('exit', () => children.delete(child));
    // Reachable is not enough: while loading the AOF, Redis answers LOADING.
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}) on port ${this.port}`);
      return (await redisReachable(this.url, 200)) && (await this.#answers());
    }, `redis-server to start on port ${this.port}`, timeoutMs);
  }

  async #answers(): Promise<boolean> {
    const client = createClient({ url: this.url, socket: { reconnectStrategy: false, connectTimeout: 500 } });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.ping();
      return true;
    } catch {
      return false;
    } finally {
      client.destroy();
    }
  }

  /** SIGKILLs the server (a crash: no shutdown, no final rewrite) and waits for the exit. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child !== undefined) await killChild(child);
  }

  /** Kills the server and removes its directory. */
  async dispose(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
