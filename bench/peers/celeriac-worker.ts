/**
 * Celeriac's worker for the bench: the public API only (createApp + Worker), a no-op task,
 * results stored in the Redis backend, log level warn (no per-task log lines); task events
 * (`sendTaskEvents`, the CLI's `-E`) when BENCH_EVENTS=1.
 * BENCH_CELERIAC_MODULE, when set, names another build of the engine to load (bench/ab.ts).
 */
import type * as Celeriac from 'celeriac';
import type { CreateWorker } from '../lib/worker-protocol.js';
import { celeriacUrls, NOOP_TASK } from './celeriac-shared.js';

const create: CreateWorker = async (env) => {
  const { createApp, Worker } = (await import(process.env.BENCH_CELERIAC_MODULE ?? 'celeriac')) as typeof Celeriac;
  const urls = celeriacUrls(env);
  const app = createApp({ broker: urls.broker, backend: urls.backend, logLevel: 'warn', taskDefaultQueue: env.queue });
  app.task(NOOP_TASK, () => null);
  await app.broker.connect();
  await app.backend.connect();
  const worker = new Worker(app, { concurrency: env.concurrency, queues: [env.queue], sendTaskEvents: env.events });
  return {
    start: () => worker.start(),
    close: async () => {
      await worker.close({ deadlineMs: 5_000 });
      await app.close();
    },
  };
};
export default create;
