/**
 * Bee-Queue, producer side (the worker runs in peers/bee-queue-worker.ts). `job.save()` one by
 * one, `queue.saveAll` of 1,000 for batched, and for the round trip the job's `succeeded`
 * event (Bee-Queue returns results over pub/sub; it stores no return value, only the job
 * record and the `succeeded` set, which the worker keeps); the producer listens to the queue-wide
 * `job succeeded` event, matched by job id.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import Queue from 'bee-queue';
import { ENQUEUE_WARMUP, runDrain, runRoundTrip, thenCleanUp, timeBatched, timeOneByOne } from '../lib/flow.js';
import { startNodeWorker } from '../lib/proc.js';
import { adminClient, deleteByPrefix } from '../lib/redis.js';
import type { BenchContext, DrainResult, EnqueueResult, Peer, RoundTripResult, WorkerConfig } from '../lib/types.js';

const QUEUE = 'bench';
const BATCH = 1000;

/** Bee-Queue on the bench's Redis. */
export class BeeQueuePeer implements Peer {
  readonly name = 'bee-queue' as const;
  readonly #prefix: string;
  readonly #redis;
  #producer: Queue | undefined;
  #listener: Queue | undefined;

  constructor(readonly ctx: BenchContext) {
    this.#prefix = `${ctx.runPrefix}bq:`;
    this.#redis = adminClient(ctx);
  }

  #queue(events: boolean): Queue {
    return new Queue(QUEUE, {
      prefix: this.#prefix.replace(/:$/, ''),
      redis: { host: this.ctx.redisHost, port: this.ctx.redisPort, db: this.ctx.redisDb },
      isWorker: false,
      getEvents: events,
      sendEvents: false,
      storeJobs: false,
      activateDelayedJobs: false,
    });
  }

  async #ready(): Promise<Queue> {
    this.#producer ??= this.#queue(false);
    return this.#producer.ready();
  }

  async version(): Promise<string> {
    const require = createRequire(import.meta.url);
    return (JSON.parse(readFileSync(require.resolve('bee-queue/package.json'), 'utf8')) as { version: string }).version;
  }

  drainConfigs(concurrencies: readonly number[]): WorkerConfig[] {
    return concurrencies.map((c) => ({ concurrency: c, label: `concurrency ${c}` }));
  }

  async #batched(n: number, warmup = 0): Promise<EnqueueResult> {
    const q = await this.#ready();
    return timeBatched(n, BATCH, (count) => q.saveAll(Array.from({ length: count }, () => q.createJob({}))), warmup);
  }

  async enqueueOneByOne(n: number): Promise<EnqueueResult> {
    const q = await this.#ready();
    return thenCleanUp(() => timeOneByOne(n, () => q.createJob({}).save()), () => this.#cleanup());
  }

  async enqueueBatched(n: number): Promise<EnqueueResult> {
    return thenCleanUp(() => this.#batched(n, ENQUEUE_WARMUP), () => this.#cleanup());
  }

  drain(n: number, config: WorkerConfig): Promise<DrainResult> {
    const succeededKey = `${this.#prefix}${QUEUE}:succeeded`;
    return runDrain(this.ctx, n, config, {
      enqueue: (count) => this.#batched(count),
      startWorker: (cfg) => this.#startWorker(cfg.concurrency),
      remaining: async () => n - (await this.#redis.scard(succeededKey)),
      cleanup: () => this.#cleanup(),
    });
  }

  roundTrip(n: number): Promise<RoundTripResult> {
    const waiting = new Map<string, () => void>();
    const seen = new Set<string>();
    return runRoundTrip(this.ctx, n, {
      startWorker: async () => {
        this.#listener ??= this.#queue(true);
        this.#listener.on('job succeeded', (jobId: string) => {
          const resolve = waiting.get(String(jobId));
          if (resolve === undefined) seen.add(String(jobId));
          else {
            waiting.delete(String(jobId));
            resolve();
          }
        });
        await this.#listener.ready();
        return this.#startWorker(10);
      },
      call: async () => {
        // Keyed by id on the queue's 'job succeeded' event: the event can arrive before
        // save() resolves (so before the job is in the queue's job map).
        const q = this.#listener as Queue;
        const job = await q.createJob({}).save();
        const id = String(job.id);
        if (seen.delete(id)) return;
        await new Promise<void>((resolve) => waiting.set(id, resolve));
      },
      cleanup: () => this.#cleanup(),
    });
  }

  #startWorker(concurrency: number) {
    const { redisHost: host, redisPort: port, redisDb: db } = this.ctx;
    return startNodeWorker('bee-queue', { host, port, db, prefix: this.#prefix, queue: QUEUE, concurrency });
  }

  async #cleanup(): Promise<void> {
    await deleteByPrefix(this.#redis, this.#prefix);
  }

  async close(): Promise<void> {
    await this.#producer?.close();
    await this.#listener?.close();
    await this.#cleanup();
    this.#redis.disconnect();
  }
}
