/**
 * The Celeriac worker of the RabbitMQ bench (bench/amqp.ts), in a process of its own:
 * `node bench/dist/amqp-worker.js <broker url> <concurrency> <queue> <classic|quorum>`
 * (compiled by bench/lib/proc.ts buildWorkers, so it runs the built package with no
 * TypeScript loader). Late acks, rpc:// results, the no-op task `bench.noop`, the queue of
 * the given type (quorum: `taskQueues`, as Celery 5.5+'s `task_default_queue_type` declares it);
 * prints BENCH-READY once consuming.
 */
import { pino } from 'pino';
import { createApp, Worker } from 'celeriac';

const [url, concurrency, queue, queueType] = process.argv.slice(2) as [string, string, string, 'classic' | 'quorum'];
// A quorum queue is named in taskQueues: taskDefaultQueueType alone covers only the default queue.
const queues = queueType === 'quorum' ? { taskDefaultQueueType: 'quorum' as const, taskQueues: { [queue]: { queueArguments: { 'x-queue-type': 'quorum' } } } } : {};
const app = createApp({ broker: url, backend: 'rpc://', taskAcksLate: true, ...queues }, { env: {}, logger: pino({ level: 'warn' }) });
app.task('bench.noop', () => null);
const worker = new Worker(app, { queues: [queue], concurrency: Number(concurrency) });
await worker.start();
console.log('BENCH-READY');
process.on('SIGTERM', () => {
  void worker.close({ deadlineMs: 2000 }).then(() => app.close()).then(() => process.exit(0));
});
