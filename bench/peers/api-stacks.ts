/**
 * The two services of the API bench (bench/api.ts), each as processes of its own:
 * - the reference app (apps/api): `main.ts api` and `main.ts worker`, as apps/api/README.md runs
 *   them one process per role (with tsx), on Redis (broker, results, cache, under the run's
 *   prefix) and a Postgres database made for the run;
 * - a minimal Fastify + BullMQ service (api-bullmq-service.ts) and its worker (api-bullmq-worker.ts).
 * Both log at `warn` (no line per request) and run `demo.add` with the same worker concurrency.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { readUntilFinal } from '../lib/api-load.js';
import type { ApiStack } from '../lib/api-args.js';
import { cpuSeconds, stopChild } from '../lib/proc.js';
import { deleteByPrefix, deleteKeys } from '../lib/redis.js';
import { sleep } from '../lib/stats.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
/** Longest one call (POST and the whole event stream) may take. */
const CALL_TIMEOUT_MS = 15_000;

/** Where a stack runs. */
export interface StackEnv {
  readonly redisHost: string;
  readonly redisPort: number;
  readonly db: number;
  /** Unique per run and stack; every Redis key of the stack lives under it (result keys aside). */
  readonly prefix: string;
  readonly workerConcurrency: number;
  readonly postgresUrl: string;
  readonly log: (line: string) => void;
}

/** A started service: its processes, and the bench's call. */
export interface Stack {
  readonly name: ApiStack;
  /** POST /tasks/demo.add [i, 1], then its events until final; throws unless SUCCESS with i + 1. */
  call(i: number): Promise<void>;
  /** CPU seconds its processes (API and worker) used so far. */
  cpu(): number;
  /** Stops its processes and deletes what it left in Redis and Postgres. */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== 'object' || address === null) throw new Error('no free port');
  return address.port;
}

/** A child process with its output kept (the last 20,000 characters) for error reports. */
function start(name: string, args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, args, { cwd: REPO, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-20_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.once('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM' && signal !== 'SIGKILL') process.stderr.write(`[api] ${name} exited (${code ?? signal}):\n${out.slice(-2000)}\n`);
  });
  return { child, output: () => out };
}

/** Polls `ready` every 100 ms until it is true; throws with the processes' output after ms. */
async function until(what: string, ms: number, ready: () => Promise<boolean> | boolean, output: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await ready()) return;
    await sleep(100);
  }
  throw new Error(`${what} not ready within ${ms / 1000} s:\n${output().slice(-3000)}`);
}

/** One call through `base`: the same client code for both services. */
async function callThrough(base: string, i: number, onId?: (id: string) => void): Promise<void> {
  const signal = AbortSignal.timeout(CALL_TIMEOUT_MS);
  const sent = await fetch(`${base}/tasks/demo.add`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ args: [i, 1] }), signal });
  if (sent.status !== 202) throw new Error(`POST /tasks/demo.add answered ${sent.status}: ${(await sent.text()).slice(0, 300)}`);
  const { taskId } = (await sent.json()) as { taskId: string };
  onId?.(taskId);
  const stream = await fetch(`${base}/tasks/${taskId}/events`, { signal });
  if (stream.status !== 200 || stream.body === null) throw new Error(`GET /tasks/${taskId}/events answered ${stream.status}`);
  const final = await readUntilFinal(stream.body);
  // The reference app's feed sends the result's repr ('3'), its stored record the value (3).
  if (final.state !== 'SUCCESS' || String(final.result) !== String(i + 1)) throw new Error(`task ${taskId}: ${JSON.stringify(final)}, expected SUCCESS with ${i + 1}`);
}

/** The reference app: API and worker roles as two processes. */
export async function startReferenceApp(env: StackEnv, redis: Redis): Promise<Stack> {
  const dbName = `celeriac_bench_api_${randomBytes(6).toString('hex')}`;
  const admin = new URL(env.postgresUrl);
  const psql = (sql: string) => execFileSync('psql', [admin.toString(), '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql], { stdio: ['ignore', 'ignore', 'pipe'] });
  psql(`CREATE DATABASE ${dbName}`);
  const dbUrl = new URL(admin);
  dbUrl.pathname = `/${dbName}`;
  const dataDir = join(tmpdir(), `celeriac-bench-api-${randomBytes(4).toString('hex')}`);
  const port = await freePort();
  const redisBase = `redis://${env.redisHost}:${env.redisPort}/${env.db}`;
  const appEnv = {
    CELERY_BROKER_URL: `${redisBase}?global_keyprefix=${encodeURIComponent(env.prefix)}`,
    REDIS_URL: redisBase,
    CACHE_PREFIX: `${env.prefix}cache:`,
    DATABASE_URL: dbUrl.toString(),
    API_HOST: '127.0.0.1',
    API_PORT: String(port),
    WORKER_CONCURRENCY: String(env.workerConcurrency),
    WORKER_NAME: `bench-${randomBytes(3).toString('hex')}@%h`,
    LOG_LEVEL: 'warn',
    DATA_DIR: dataDir,
  };
  const main = join(REPO, 'apps/api/src/main.ts');
  const taskIds: string[] = [];
  const api = start('reference app api', ['--import', 'tsx', main, 'api'], appEnv);
  let worker: ReturnType<typeof start> | undefined;
  const base = `http://127.0.0.1:${port}`;
  const output = () => `${api.output()}\n${worker?.output() ?? ''}`;
  const stop = async () => {
    await Promise.all([stopChild(api.child, 10_000), worker === undefined ? undefined : stopChild(worker.child, 10_000)]);
    await deleteByPrefix(redis, env.prefix);
    await deleteKeys(redis, taskIds.splice(0).map((id) => `celery-task-meta-${id}`));
    try {
      psql(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    } catch (err) {
      env.log(`could not drop database ${dbName}: ${String(err)}`);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    // The API first: it migrates the database, which the worker then finds ready.
    await until('the reference app API (/health)', 90_000, async () => (await fetch(`${base}/health`).catch(() => null))?.status === 200, output);
    worker = start('reference app worker', ['--import', 'tsx', main, 'worker'], appEnv);
  } catch (err) {
    await stop();
    throw err;
  }
  const w = worker;
  return {
    name: 'celeriac',
    call: (i) => callThrough(base, i, (id) => taskIds.push(id)),
    cpu: () => cpuSeconds(api.child.pid as number, false) + cpuSeconds(w.child.pid as number, false),
    stop,
  };
}

/** The minimal Fastify + BullMQ service and its worker. */
export async function startBullmqService(env: StackEnv, redis: Redis): Promise<Stack> {
  const common = { BENCH_REDIS_HOST: env.redisHost, BENCH_REDIS_PORT: String(env.redisPort), BENCH_REDIS_DB: String(env.db), BENCH_PREFIX: `${env.prefix}bull`, BENCH_QUEUE: 'tasks' };
  const peers = fileURLToPath(new URL('./', import.meta.url));
  const worker = start('BullMQ worker', ['--import', 'tsx', join(peers, 'api-bullmq-worker.ts')], { ...common, BENCH_CONCURRENCY: String(env.workerConcurrency) });
  const service = start('Fastify + BullMQ service', ['--import', 'tsx', join(peers, 'api-bullmq-service.ts')], { ...common, BENCH_HTTP_PORT: '0' });
  const output = () => `${service.output()}\n${worker.output()}`;
  const stop = async () => {
    await Promise.all([stopChild(service.child, 10_000), stopChild(worker.child, 10_000)]);
    await deleteByPrefix(redis, env.prefix);
  };
  let port = 0;
  try {
    await until('the BullMQ worker', 60_000, () => worker.output().includes('READY'), output);
    await until('the Fastify + BullMQ service', 60_000, () => {
      port = Number(/READY (\d+)/.exec(service.output())?.[1] ?? 0);
      return port > 0;
    }, output);
  } catch (err) {
    await stop();
    throw err;
  }
  const base = `http://127.0.0.1:${port}`;
  return {
    name: 'bullmq',
    call: (i) => callThrough(base, i),
    cpu: () => cpuSeconds(service.child.pid as number, false) + cpuSeconds(worker.child.pid as number, false),
    stop,
  };
}
