/**
 * The Celeriac worker of the RabbitMQ bench (bench/amqp.ts), in a process of its own:
 * `node bench/dist/amqp-worker.js <broker url> <concurrency>` (compiled by bench/lib/proc.ts
 * buildWorkers, so it runs the built package with no TypeScript loader). Late acks, rpc://
 * results, the no-op task `bench.noop`; prints BENCH-READY once consuming.
 */
import { pino } from 'pino';
import { createApp, Worker } from 'celeriac';

const [url, concurrency] = process.argv.slice(2) as [string, string];
const app = createApp({ broker: url, backend: 'rpc://', taskAcksLate: true }, { env: {}, logger: pino({ level: 'warn' }) });
app.task('bench.noop', () => null);
const worker = new Worker(app, { queues: ['bench'], concurrency: Number(concurrency) });
await worker.start();
console.log('BENCH-READY');
process.on('SIGTERM', () => {
  void worker.close({ deadlineMs: 2000 }).then(() => app.close()).then(() => process.exit(0));
});
