/**
 * BullMQ's worker for the bench: a no-op processor, default job options (the return value is
 * stored on the job, completed jobs are kept), ioredis connection as BullMQ documents.
 */
import { Worker } from 'bullmq';
import type { CreateWorker } from '../lib/worker-protocol.js';

const create: CreateWorker = async (env) => {
  const worker = new Worker(env.queue, async () => null, {
    connection: { host: env.host, port: env.port, db: env.db, maxRetriesPerRequest: null },
    prefix: env.prefix.replace(/:$/, ''),
    concurrency: env.concurrency,
    autorun: false,
  });
  await worker.waitUntilReady();
  return {
    start: async () => {
      void worker.run().catch((err: unknown) => console.error('bullmq worker run failed', err));
    },
    close: () => worker.close(),
  };
};
export default create;
