/**
 * The BullMQ worker of the API bench (bench/api.ts), in a process of its own: runs `demo.add`
 * (x + y, as the reference app's task) with BullMQ's defaults (completed jobs and their return
 * values kept). Same environment as api-bullmq-service.ts plus BENCH_CONCURRENCY; prints
 * `READY` once connected. SIGTERM closes it.
 */
import { Worker } from 'bullmq';

const e = process.env;
const connection = { host: e.BENCH_REDIS_HOST ?? '127.0.0.1', port: Number(e.BENCH_REDIS_PORT ?? 6379), db: Number(e.BENCH_REDIS_DB ?? 0) };
const worker = new Worker(
  e.BENCH_QUEUE ?? 'tasks',
  async (job) => {
    const [x, y] = (job.data as { args: unknown[] }).args;
    if (job.name !== 'demo.add' || typeof x !== 'number' || typeof y !== 'number') throw new TypeError(`unknown task ${job.name} or bad args`);
    return x + y;
  },
  { connection, prefix: e.BENCH_PREFIX ?? 'bench-api', concurrency: Number(e.BENCH_CONCURRENCY ?? 10) },
);
await worker.waitUntilReady();
process.stdout.write('READY\n');
process.on('SIGTERM', () => {
  void worker.close().finally(() => process.exit(0));
});
