/**
 * BullMQ, producer side (the worker runs in peers/bullmq-worker.ts). `queue.add` one by one,
 * `queue.addBulk` of 1,000 for batched, `job.waitUntilFinished(queueEvents)` for the round
 * trip. Default job options: completed jobs and their return values are kept.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Queue, QueueEvents } from 'bullmq';
import { ENQUEUE_WARMUP, runDrain, runRoundTrip, thenCleanUp, timeBatched, timeOneByOne } from '../lib/flow.js';
import { startNodeWorker } from '../lib/proc.js';
import { adminClient, deleteByPrefix } from '../lib/redis.js';
import type { BenchContext, DrainResult, EnqueueResult, Peer, RoundTripResult, WorkerConfig } from '../lib/types.js';

const QUEUE = 'bench';
const BATCH = 1000;

/** BullMQ on the bench's Redis. */
export class BullmqPeer implements Peer {
  readonly name = 'bullmq' as const;
  readonly #prefix: string;
  readonly #queue: Queue;
  readonly #redis;

  constructor(readonly ctx: BenchContext) {
    this.#prefix = `${ctx.runPrefix}bullmq:`;
    this.#queue = new Queue(QUEUE, { connection: this.#connection(), prefix: this.#prefix.replace(/:$/, '') });
    this.#redis = adminClient(ctx);
  }

  #connection() {
    return { host: this.ctx.redisHost, port: this.ctx.redisPort, db: this.ctx.redisDb, maxRetriesPerRequest: null };
  }

  async version(): Promise<string> {
    const require = createRequire(import.meta.url);
    const main = require.resolve('bullmq');
    const pkgPath = main.slice(0, main.lastIndexOf('/node_modules/bullmq/') + '/node_modules/bullmq/'.length) + 'package.json';
    return (JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string }).version;
  }

  drainConfigs(concurrencies: readonly number[]): WorkerConfig[] {
    return concurrencies.map((c) => ({ concurrency: c, label: `concurrency ${c}` }));
  }

  async #batched(n: number, warmup = 0): Promise<EnqueueResult> {
    await this.#queue.waitUntilReady();
    return timeBatched(n, BATCH, (count) => this.#queue.addBulk(Array.from({ length: count }, () => ({ name: 'noop', data: {} }))), warmup);
  }

  async enqueueOneByOne(n: number): Promise<EnqueueResult> {
    await this.#queue.waitUntilReady();
    return thenCleanUp(() => timeOneByOne(n, () => this.#queue.add('noop', {})), () => this.#cleanup());
  }

  async enqueueBatched(n: number): Promise<EnqueueResult> {
    return thenCleanUp(() => this.#batched(n, ENQUEUE_WARMUP), () => this.#cleanup());
  }

  drain(n: number, config: WorkerConfig): Promise<DrainResult> {
    const completedKey = `${this.#prefix}${QUEUE}:completed`;
    return runDrain(this.ctx, n, config, {
      enqueue: (count) => this.#batched(count),
      startWorker: (cfg) => this.#startWorker(cfg.concurrency),
      remaining: async () => n - (await this.#redis.zcard(completedKey)),
      cleanup: () => this.#cleanup(),
    });
  }

  roundTrip(n: number): Promise<RoundTripResult> {
    let events: QueueEvents | undefined;
    return runRoundTrip(this.ctx, n, {
      startWorker: async () => {
        await this.#queue.waitUntilReady();
        events = new QueueEvents(QUEUE, { connection: this.#connection(), prefix: this.#prefix.replace(/:$/, '') });
        await events.waitUntilReady();
        return this.#startWorker(10);
      },
      call: async () => {
        const job = await this.#queue.add('noop', {});
        await job.waitUntilFinished(events as QueueEvents, 10_000);
      },
      cleanup: async () => {
        await events?.close();
        await this.#cleanup();
      },
    });
  }

  #startWorker(concurrency: number) {
    const { redisHost: host, redisPort: port, redisDb: db } = this.ctx;
    return startNodeWorker('bullmq', { host, port, db, prefix: this.#prefix, queue: QUEUE, concurrency });
  }

  async #cleanup(): Promise<void> {
    await deleteByPrefix(this.#redis, this.#prefix);
  }

  async close(): Promise<void> {
    await this.#queue.close();
    await this.#cleanup();
    this.#redis.disconnect();
  }
}
