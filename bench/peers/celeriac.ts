/**
 * Celeriac, producer side (the worker runs in peers/celeriac-worker.ts). Public API only:
 * `task.delay()` to enqueue one by one, `task.applyAsyncMany()` (the bulk publish: one
 * pipelined write per batch) to enqueue in batches, `delay().get()` for the round trip.
 * The top concurrency is drained a second time with task events on (`-E`), with a
 * subscriber on the run's `celeryev` channels, as a dashboard would listen.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
// The built package, as an npm user runs it: 'celeriac' would resolve (tsconfig paths, under tsx)
// to the TypeScript source, compiled by esbuild with a name-keeping helper on every function.
import { createApp, type App, type Task } from '../../packages/celeriac/dist/index.js';
import { ENQUEUE_WARMUP, runDrain, runRoundTrip, thenCleanUp, timeBatched, timeOneByOne } from '../lib/flow.js';
import { startNodeWorker } from '../lib/proc.js';
import { listenForEvents } from '../lib/event-listener.js';
import { adminClient, deleteByPrefix, deleteKeys, globEscape, resultKeysProbe } from '../lib/redis.js';
import type { BenchContext, DrainResult, EnqueueResult, Peer, RoundTripResult, WorkerConfig } from '../lib/types.js';
import { celeriacUrls, NOOP_TASK } from './celeriac-shared.js';

const QUEUE = 'bench';
const BATCH = 1000;
const resultKey = (id: string) => `celery-task-meta-${id}`;

/** Celeriac on the bench's Redis. */
export class CeleriacPeer implements Peer {
  readonly name = 'celeriac' as const;
  readonly #prefix: string;
  readonly #app: App;
  readonly #noop: Task<[], null>;
  readonly #redis;
  /** Result keys this run may have written (deleted by exact name). */
  readonly #resultKeys: string[] = [];

  constructor(readonly ctx: BenchContext, readonly options: { cpuProf?: string; callgrind?: boolean; callgrindFunctions?: boolean } = {}) {
    this.#prefix = `${ctx.runPrefix}celeriac:`;
    const urls = celeriacUrls({ host: ctx.redisHost, port: ctx.redisPort, db: ctx.redisDb, prefix: this.#prefix });
    this.#app = createApp({ broker: urls.broker, backend: urls.backend, logLevel: 'warn', taskDefaultQueue: QUEUE });
    this.#noop = this.#app.task(NOOP_TASK, () => null);
    this.#redis = adminClient(ctx);
  }

  async version(): Promise<string> {
    const require = createRequire(import.meta.url);
    const pkg = JSON.parse(readFileSync(require.resolve('celeriac/package.json'), 'utf8')) as { version: string };
    return pkg.version;
  }

  drainConfigs(concurrencies: readonly number[]): WorkerConfig[] {
    const top = Math.max(...concurrencies);
    return [...concurrencies.map((c) => ({ concurrency: c, label: `-c ${c}` })), { concurrency: top, label: `-c ${top} -E`, events: true }];
  }

  async #connect(): Promise<void> {
    await this.#app.broker.connect();
    await this.#app.backend.connect();
  }

  async #send(): Promise<void> {
    const r = await this.#noop.delay();
    this.#resultKeys.push(resultKey(r.id));
  }

  async #sendBatch(count: number): Promise<void> {
    const results = await this.#noop.applyAsyncMany(Array.from({ length: count }, () => [] as []));
    for (const r of results) this.#resultKeys.push(resultKey(r.id));
  }

  async #batched(n: number, warmup = 0): Promise<EnqueueResult> {
    await this.#connect();
    return timeBatched(n, BATCH, (count) => this.#sendBatch(count), warmup);
  }

  async enqueueOneByOne(n: number): Promise<EnqueueResult> {
    await this.#connect();
    return thenCleanUp(() => timeOneByOne(n, () => this.#send()), () => this.#cleanup());
  }

  async enqueueBatched(n: number): Promise<EnqueueResult> {
    return thenCleanUp(() => this.#batched(n, ENQUEUE_WARMUP), () => this.#cleanup());
  }

  async drain(n: number, config: WorkerConfig): Promise<DrainResult> {
    if (config.events !== true) return this.#drain(n, config);
    // Kombu's fanout channels of this run's prefix: `<prefix>/<db>.celeryev/<routing key>`;
    // the listener stands for a dashboard on another machine (lib/event-listener.ts).
    const listener = await listenForEvents(this.ctx.redisHost, this.ctx.redisPort, `${globEscape(`${this.#prefix}/${this.ctx.redisDb}.celeryev/`)}*`);
    try {
      const d = await this.#drain(n, config);
      return { ...d, eventMessages: listener.counter.messages };
    } finally {
      listener.close();
    }
  }

  #drain(n: number, config: WorkerConfig): Promise<DrainResult> {
    let remaining: () => Promise<number> = () => Promise.reject(new Error('drain: the queue was not filled'));
    return runDrain(this.ctx, n, config, {
      enqueue: async (count) => {
        const r = await this.#batched(count);
        remaining = resultKeysProbe(this.#redis, `${this.#prefix}${QUEUE}`, this.#resultKeys);
        return r;
      },
      startWorker: (cfg) => this.#startWorker(cfg.concurrency, cfg.events === true),
      remaining: () => remaining(),
      cleanup: () => this.#cleanup(),
    });
  }

  roundTrip(n: number): Promise<RoundTripResult> {
    return runRoundTrip(this.ctx, n, {
      startWorker: async () => {
        await this.#connect();
        return this.#startWorker(10);
      },
      // Celery's `add.delay().get()`: the wait chained on the send subscribes in its write (core/early-wait.ts).
      call: async () => {
        const sent = this.#noop.delay();
        await sent.get({ timeoutMs: 10_000 });
        this.#resultKeys.push(resultKey((await sent).id));
      },
      cleanup: () => this.#cleanup(),
    });
  }

  #startWorker(concurrency: number, events = false) {
    const { redisHost: host, redisPort: port, redisDb: db } = this.ctx;
    return startNodeWorker('celeriac', { host, port, db, prefix: this.#prefix, queue: QUEUE, concurrency, events }, this.options);
  }

  async #cleanup(): Promise<void> {
    await deleteByPrefix(this.#redis, this.#prefix);
    await deleteKeys(this.#redis, this.#resultKeys.splice(0));
  }

  async close(): Promise<void> {
    await this.#cleanup();
    await this.#app.close();
    this.#redis.disconnect();
  }
}
