/**
 * A JS peer's worker in its own process (so its memory can be measured alone). Started by
 * lib/proc.ts with BENCH_* variables; loads only `peers/<peer>-worker.ts` and its library.
 * IPC: sends 'ready' once connected, starts consuming on 'go' (then sends 'started'), and on
 * 'stop' closes and sends 'closed'; on 'memory' it answers with its process.memoryUsage().
 */
import type { ChildMessage, CreateWorker, ParentMessage, WorkerEnv } from './lib/worker-protocol.js';

const WORKERS: Record<string, () => Promise<{ default: CreateWorker }>> = {
  celeriac: () => import('./peers/celeriac-worker.js'),
  bullmq: () => import('./peers/bullmq-worker.js'),
  'bee-queue': () => import('./peers/bee-queue-worker.js'),
  // bench/rt-floor.ts: the round trip's floor on Celery's layout, not a peer.
  'layout-floor': () => import('./peers/layout-floor-worker.js'),
};

function send(m: ChildMessage): void {
  process.send?.(m);
}

async function main(): Promise<void> {
  const e = process.env;
  const peer = e.BENCH_PEER ?? '';
  const load = WORKERS[peer];
  if (load === undefined) throw new Error(`unknown BENCH_PEER ${JSON.stringify(peer)}`);
  const env: WorkerEnv = {
    host: e.BENCH_REDIS_HOST ?? '127.0.0.1',
    port: Number(e.BENCH_REDIS_PORT ?? 6379),
    db: Number(e.BENCH_REDIS_DB ?? 0),
    prefix: e.BENCH_PREFIX ?? '',
    queue: e.BENCH_QUEUE ?? 'bench',
    concurrency: Number(e.BENCH_CONCURRENCY ?? 1),
    events: e.BENCH_EVENTS === '1',
  };
  // BENCH_TRACING=100|1: a tracer provider registered first, as `--import ./otel.mjs` would.
  const tracing = e.BENCH_TRACING === undefined || e.BENCH_TRACING === '' ? null : (await import('./tracing-provider.js')).registerBenchTracing(Number(e.BENCH_TRACING));
  const worker = await (await load()).default(env);
  const allocations = e.BENCH_ALLOC_PROF === undefined || e.BENCH_ALLOC_PROF === '' ? null : await allocationSampler(e.BENCH_ALLOC_PROF);
  let stopping = false;
  process.on('message', (m: ParentMessage) => {
    if (m.type === 'go') {
      allocations?.start();
      worker.start().then(
        () => send({ type: 'started' }),
        (err: unknown) => send({ type: 'error', message: String(err) }),
      );
    } else if (m.type === 'memory') {
      const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
      send({ type: 'memory', rss, heapUsed, heapTotal, external });
    } else if (m.type === 'stop') {
      stopping = true;
      (allocations?.stop() ?? Promise.resolve())
        .then(() => worker.close())
        .then(async () => {
          const spans = await tracing?.shutdown();
          if (spans !== undefined) console.error(`tracing: ${spans} spans exported`);
        })
        .catch((err: unknown) => console.error('close failed', err))
        .finally(() => {
          send({ type: 'closed' });
          process.disconnect?.();
          // Let --cpu-prof write its profile on a normal exit.
          setTimeout(() => process.exit(0), 50).unref();
        });
    }
  });
  process.on('SIGTERM', () => process.exit(0));
  // The parent is gone without a 'stop' (killed, or a script that exited on an error): a
  // worker left behind would keep polling its Redis, and take CPU from every later run.
  process.on('disconnect', () => {
    if (!stopping) process.exit(0);
  });
  send({ type: 'ready' });
}

/**
 * BENCH_ALLOC_PROF=<file>: V8's sampling heap profiler from 'go' to 'stop', counting objects
 * collected since (what the worker allocated, not what it kept), written as a .heapprofile.
 */
async function allocationSampler(file: string): Promise<{ start(): void; stop(): Promise<void> }> {
  const { Session } = await import('node:inspector/promises');
  const { writeFile } = await import('node:fs/promises');
  const session = new Session();
  session.connect();
  return {
    start: () => void session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }),
    stop: async () => {
      const { profile } = await session.post('HeapProfiler.stopSampling');
      await writeFile(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

main().catch((err: unknown) => {
  send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exitCode = 1;
});
