/**
 * Python Celery (Debian's 5.2.6, /usr/bin/python3) on the same Redis: the worker is
 * `celery worker` (prefork or threads) on peers/celery/bench_tasks.py at log level WARNING
 * (no per-task log lines); producers run peers/celery/producer.py, timed inside Python.
 * Isolation: kombu's global_keyprefix for broker keys; result keys deleted by task id.
 */
import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runDrain, thenCleanUp, WARMUP_CALLS } from '../lib/flow.js';
import { nowMs, percentile, mean, StepTimeout } from '../lib/stats.js';
import { cpuSeconds, RssSampler, stopChild, type WorkerHandle } from '../lib/proc.js';
import { adminClient, deleteByPrefix, deleteKeys, resultKeysProbe } from '../lib/redis.js';
import type { BenchContext, DrainResult, EnqueueResult, Peer, RoundTripResult, WorkerConfig } from '../lib/types.js';

const PYTHON = '/usr/bin/python3';
const PY_DIR = fileURLToPath(new URL('./celery/', import.meta.url));
const QUEUE = 'bench';
const resultKey = (id: string) => `celery-task-meta-${id}`;

interface ProducerOutput {
  seconds?: number;
  samples_ms?: number[];
  ids: string[];
}

/** Python Celery on the bench's Redis. */
export class CeleryPeer implements Peer {
  readonly name = 'celery' as const;
  readonly #prefix: string;
  readonly #redis;
  readonly #resultKeys: string[] = [];

  constructor(readonly ctx: BenchContext) {
    this.#prefix = `${ctx.runPrefix}celery:`;
    this.#redis = adminClient(ctx);
  }

  #env(): NodeJS.ProcessEnv {
    const url = `redis://${this.ctx.redisHost}:${this.ctx.redisPort}/${this.ctx.redisDb}`;
    return { ...process.env, BENCH_BROKER: url, BENCH_BACKEND: url, BENCH_KEYPREFIX: this.#prefix, BENCH_QUEUE: QUEUE, PYTHONUNBUFFERED: '1', PYTHONPATH: PY_DIR };
  }

  #python(args: string[], timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(PYTHON, args, { env: this.#env(), cwd: PY_DIR, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err) reject(err.killed ? new StepTimeout(`python ${args.join(' ')} exceeded ${timeoutMs / 1000} s`) : new Error(`python failed: ${err.message}\n${stderr}`));
        else resolve(stdout);
      });
    });
  }

  async #produce(mode: string, n: number, extra: string[] = []): Promise<ProducerOutput> {
    const out = JSON.parse(await this.#python(['producer.py', mode, String(n), ...extra], this.ctx.stepTimeoutMs + 30_000)) as ProducerOutput;
    this.#resultKeys.push(...out.ids.map(resultKey));
    return out;
  }

  async version(): Promise<string> {
    return (await this.#python(['-c', 'import celery, kombu, redis; print(f"{celery.__version__} (kombu {kombu.__version__}, redis-py {redis.__version__})")'], 30_000)).trim();
  }

  /** Celery's own settings: prefork at the core count, and the threads pool higher. */
  drainConfigs(concurrencies: readonly number[]): WorkerConfig[] {
    const configs: WorkerConfig[] = [{ concurrency: 2, pool: 'prefork', label: 'prefork -c 2' }];
    for (const c of concurrencies) if (c >= 10) configs.push({ concurrency: c, pool: 'threads', label: `threads -c ${c}` });
    return configs;
  }

  async #enqueue(mode: string, n: number): Promise<EnqueueResult> {
    const out = await this.#produce(mode, n);
    const seconds = out.seconds as number;
    return { n, seconds, perSec: n / seconds };
  }

  async enqueueOneByOne(n: number): Promise<EnqueueResult> {
    return thenCleanUp(() => this.#enqueue('one-by-one', n), () => this.#cleanup());
  }

  async enqueueBatched(n: number): Promise<EnqueueResult> {
    return thenCleanUp(() => this.#enqueue('batched', n), () => this.#cleanup());
  }

  drain(n: number, config: WorkerConfig): Promise<DrainResult> {
    let remaining: () => Promise<number> = () => Promise.reject(new Error('drain: the queue was not filled'));
    return runDrain(this.ctx, n, config, {
      enqueue: async (count) => {
        const r = await this.#enqueue('batched', count);
        remaining = resultKeysProbe(this.#redis, `${this.#prefix}${QUEUE}`, this.#resultKeys);
        return r;
      },
      startWorker: (cfg) => this.#startWorker(cfg.pool ?? 'prefork', cfg.concurrency),
      remaining: () => remaining(),
      cleanup: () => this.#cleanup(),
    });
  }

  async roundTrip(n: number): Promise<RoundTripResult> {
    let worker: WorkerHandle | undefined;
    try {
      worker = await this.#startWorker('prefork', 2);
      const out = await this.#produce('round-trip', n, [String(WARMUP_CALLS), String(this.ctx.stepTimeoutMs / 1000)]);
      const samples = out.samples_ms ?? [];
      const rss = worker.rss();
      const skipped = samples.length < n ? `exceeded ${this.ctx.stepTimeoutMs / 1000} s after ${samples.length} calls` : undefined;
      return { n: samples.length, p50Ms: percentile(samples, 50), p99Ms: percentile(samples, 99), meanMs: mean(samples), rss, ...(skipped ? { skipped } : {}) };
    } finally {
      await worker?.stop();
      await this.#cleanup();
    }
  }

  /** Starts `celery worker` and resolves once it printed BENCH-READY (consuming from then on). */
  async #startWorker(pool: string, concurrency: number): Promise<WorkerHandle> {
    const args = [
      '-m', 'celery', '--workdir', PY_DIR, '-A', 'bench_tasks', 'worker',
      '-Q', QUEUE, '-n', `bench-${process.pid}@%h`, '-P', pool, '-c', String(concurrency),
      '--without-mingle', '--without-gossip', '--without-heartbeat', '-l', 'WARNING',
    ];
    const child = spawn(PYTHON, args, { env: this.#env(), cwd: PY_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
    const sampler = new RssSampler(child.pid as number, true);
    let out = '';
    let readyAt = 0;
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new StepTimeout(`celery worker not ready in 30 s:\n${out}`)), 30_000);
      const onData = (d: Buffer) => {
        out = (out + d.toString()).slice(-20_000);
        if (readyAt === 0 && out.includes('BENCH-READY')) {
          readyAt = nowMs();
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`celery worker exited (${code}) before ready:\n${out}`));
      });
    });
    try {
      await ready;
    } catch (error) {
      sampler.stop();
      await stopChild(child, 1_000, 'SIGKILL');
      throw error;
    }
    let rss: ReturnType<RssSampler['stop']> | undefined;
    const handle: WorkerHandle = {
      pid: child.pid as number,
      // A Celery worker consumes as soon as it is ready: its clock starts at the ready line.
      go: async () => readyAt,
      rss() {
        rss ??= sampler.stop();
        return rss;
      },
      cpu: () => cpuSeconds(child.pid as number, true),
      async stop() {
        handle.rss();
        await stopChild(child, 10_000, 'SIGTERM');
      },
      output: () => out,
    };
    return handle;
  }

  async #cleanup(): Promise<void> {
    await deleteByPrefix(this.#redis, this.#prefix);
    await deleteKeys(this.#redis, this.#resultKeys.splice(0));
  }

  async close(): Promise<void> {
    await this.#cleanup();
    this.#redis.disconnect();
  }
}
