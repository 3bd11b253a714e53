/**
 * @module bench/peers/amqp-peers
 * The two sides of the RabbitMQ bench (bench/amqp.ts), each worker in a process of its own:
 * Celeriac's (`bench/dist/amqp-worker.js`, the built package under plain node) and Python
 * Celery's (`peers/celery/amqp_bench.py`): Debian's 5.2.6 on classic queues, the 5.6.3 oracle
 * (../shared/oracles/celery-5.6, or `$CELERY_56_PATH`) on quorum queues, which 5.2 cannot
 * consume. Celery's round trips run its own client (`amqp_bench.py round-trip`).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { createApp, type App } from 'celeriac';
import type { CeleryConfig, QueueType } from '../lib/amqp-args.js';
import { cpuSeconds, RssSampler, stopChild } from '../lib/proc.js';

const run = promisify(execFile);
const BENCH_DIR = fileURLToPath(new URL('../', import.meta.url));
const CELERY_DIR = join(BENCH_DIR, 'peers', 'celery');
const ORACLE_56 = process.env['CELERY_56_PATH'] ?? fileURLToPath(new URL('../../../shared/oracles/celery-5.6', import.meta.url));

/** A worker child of either side, measured from /proc. */
export interface AmqpWorker {
  readonly pid: number;
  /** CPU seconds (user + system) so far: the process, or Celery's process tree (prefork). */
  cpu(): number;
  /** Peak resident set so far, MiB (stops sampling). */
  peakRssMb(): number;
  stop(): Promise<void>;
}

/** The environment Python Celery runs with for a queue type: 5.6.3 ahead of Debian's 5.2.6 for quorum queues. */
function celeryEnv(queueType: QueueType): NodeJS.ProcessEnv {
  if (queueType === 'classic') return { ...process.env };
  if (!existsSync(join(ORACLE_56, 'celery'))) throw new Error(`quorum queues need the Celery 5.6 oracle, not found at ${ORACLE_56} (set CELERY_56_PATH)`);
  return { ...process.env, PYTHONPATH: [ORACLE_56, process.env['PYTHONPATH']].filter(Boolean).join(':') };
}

/** The Celery version a queue type runs (`5.2.6`, `5.6.3`), as Python reports it. */
export async function celeryVersion(queueType: QueueType): Promise<string> {
  const { stdout } = await run('/usr/bin/python3', ['-c', 'import celery; print(celery.__version__)'], { env: celeryEnv(queueType), timeout: 30_000 });
  return stdout.trim();
}

/** A Celeriac client on the run's vhost: rpc:// results, queues of `queueType`. */
export function celeriacApp(url: string, queueType: QueueType): App {
  return createApp({ broker: url, backend: 'rpc://', ...queueSettings(queueType, BENCH_QUEUES) }, { env: {}, logger: pino({ level: 'warn' }) });
}

/** The task queue of each side for a queue type (kept for the run: a drain leaves it empty, so a run declares two quorum task queues). */
export const queueOf = (side: 'celeriac' | 'celery', queueType: QueueType) => `bench-${side}-${queueType}`;
const BENCH_QUEUES = (queueType: QueueType) => [queueOf('celeriac', queueType), queueOf('celery', queueType)];

/**
 * Celeriac's settings for the bench's queues of a type. `taskDefaultQueueType` covers the
 * default queue only (and picks the quorum delay ladder), so the named queues are declared
 * quorum through `taskQueues`, as Celery 5.6 declares every queue it creates under
 * `task_default_queue_type`.
 */
export function queueSettings(queueType: QueueType, queues: (t: QueueType) => string[]) {
  if (queueType === 'classic') return { taskDefaultQueueType: 'classic' as const };
  return { taskDefaultQueueType: 'quorum' as const, taskQueues: Object.fromEntries(queues(queueType).map((q) => [q, { queueArguments: { 'x-queue-type': 'quorum' } }])) };
}

/** Resolves once the child printed BENCH-READY; rejects on exit or after 60 s, with what it printed. */
function whenReady(child: ChildProcess, what: string): Promise<void> {
  let out = '';
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} not ready within 60 s:\n${out}`));
    }, 60_000);
    const on = (d: Buffer) => {
      out = (out + d.toString()).slice(-20_000);
      if (out.includes('BENCH-READY')) {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve();
      }
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}) before it was ready:\n${out}`));
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.once('exit', onExit);
  });
}

function measured(child: ChildProcess, tree: boolean): AmqpWorker {
  const pid = child.pid as number;
  const sampler = new RssSampler(pid, tree);
  let peak: number | undefined;
  const peakRssMb = () => (peak ??= sampler.stop().peakMb);
  return {
    pid,
    cpu: () => cpuSeconds(pid, tree),
    peakRssMb,
    async stop() {
      peakRssMb();
      await stopChild(child, 10_000);
    },
  };
}

/** Starts Celeriac's worker child on `queue` at `concurrency`; resolves once it consumes. */
export async function startCeleriacWorker(url: string, queue: string, queueType: QueueType, concurrency: number): Promise<AmqpWorker> {
  const prof = process.env['BENCH_CPU_PROF'];
  const child = spawn(process.execPath, [...(prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : []), join(BENCH_DIR, 'dist', 'amqp-worker.js'), url, String(concurrency), queue, queueType], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await whenReady(child, `celeriac worker -c ${concurrency}`);
  return measured(child, false);
}

function pythonEnv(url: string, queue: string, queueType: QueueType): NodeJS.ProcessEnv {
  return { ...celeryEnv(queueType), BENCH_BROKER: url, BENCH_QUEUE: queue, BENCH_QUEUE_TYPE: queueType, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' };
}

/** Starts Celery's worker (`-P pool -c n`, no mingle, gossip, heartbeat or remote control, log level WARNING); resolves once it consumes. */
export async function startCeleryWorker(url: string, queue: string, queueType: QueueType, config: CeleryConfig): Promise<AmqpWorker> {
  const args = ['-m', 'celery', '-A', 'amqp_bench', 'worker', '-Q', queue, '-P', config.pool, '-c', String(config.concurrency)];
  args.push('--without-mingle', '--without-gossip', '--without-heartbeat', '-l', 'WARNING');
  const child = spawn('/usr/bin/python3', args, { cwd: CELERY_DIR, env: pythonEnv(url, queue, queueType), stdio: ['ignore', 'pipe', 'pipe'] });
  await whenReady(child, `celery worker -P ${config.pool} -c ${config.concurrency}`);
  return measured(child, true);
}

/** Celery's own client: `n` sequential `apply_async().get()` after `warmup`; their latencies in ms. */
export async function celeryRoundTrips(url: string, queue: string, queueType: QueueType, n: number, warmup: number, timeoutMs: number): Promise<number[]> {
  const { stdout } = await run('/usr/bin/python3', ['amqp_bench.py', 'round-trip', String(n), String(warmup)], {
    cwd: CELERY_DIR,
    env: pythonEnv(url, queue, queueType),
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
  return (JSON.parse(stdout) as { samples_ms: number[] }).samples_ms;
}
