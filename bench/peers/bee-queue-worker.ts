/**
 * Bee-Queue's worker for the bench: a no-op handler; finished jobs are kept (removeOnSuccess
 * false: the job record and the `succeeded` set stay) and success events are published, which
 * is how Bee-Queue hands a result back (it stores no return value).
 */
import Queue from 'bee-queue';
import type { CreateWorker } from '../lib/worker-protocol.js';

const create: CreateWorker = async (env) => {
  const queue = new Queue(env.queue, {
    prefix: env.prefix.replace(/:$/, ''),
    redis: { host: env.host, port: env.port, db: env.db },
    isWorker: true,
    getEvents: false,
    sendEvents: true,
    storeJobs: false,
    removeOnSuccess: false,
    activateDelayedJobs: false,
  });
  await queue.ready();
  return {
    start: async () => {
      queue.process(env.concurrency, async () => null);
    },
    close: () => queue.close(5_000),
  };
};
export default create;
