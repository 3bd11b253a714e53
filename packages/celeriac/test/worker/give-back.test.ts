/**
 * When handling a message fails unexpectedly (here: the result backend is down while the
 * final state is stored), the worker gives the message back instead of holding it.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { closeEnvs, makeEnv, waitFor, waitForState } from './helpers.js';

afterEach(closeEnvs);

describe('an unexpected failure while handling a message', () => {
  it('gives a late-ack message back, so it runs again once the backend recovers', async () => {
    const env = makeEnv({ taskAcksLate: true, workerRedeliveryDelaySec: 0.01 });
    let runs = 0;
    const task = env.app.task('t.flaky-store', () => {
      runs += 1;
      return runs;
    });
    const store = env.backend.store.bind(env.backend);
    let failures = 0;
    vi.spyOn(env.backend, 'store').mockImplementation(async (meta, options) => {
      if (failures === 0) {
        failures += 1;
        throw new Error('backend down');
      }
      return store(meta, options);
    });
    await env.startWorker();
    const r = await task.applyAsync([], { taskId: 'fs-1' });
    await waitForState(env, r.id, 'SUCCESS');
    // Back through the delayed set (worker/redelivery.ts), not to the front of the queue.
    expect(env.broker.settlements('fs-1')).toEqual(['defer', 'ack']);
    expect(runs).toBe(2);
    expect(env.lines.some((l) => /delivered again in 0.01s/.test(String(l.msg)))).toBe(true);
  });

  it('frees the slot and keeps the worker running when the message was already acked', async () => {
    // Early ack: the message is gone, so the write is tried again with the redelivery backoff
    // (worker/redelivery.ts storeAfterEarlyAck), then given up with an error line.
    const env = makeEnv({ workerRedeliveryDelaySec: 0.01, workerMaxDeliveries: 3 });
    const task = env.app.task('t.ok', (x: number) => x);
    const store = env.backend.store.bind(env.backend);
    let refused = 0;
    vi.spyOn(env.backend, 'store').mockImplementation(async (meta, options) => {
      if (meta.task_id === 'lost-1') {
        refused += 1;
        throw new Error('backend down');
      }
      return store(meta, options);
    });
    const worker = await env.startWorker({ concurrency: 1 });
    await task.applyAsync([1], { taskId: 'lost-1' });
    await waitFor(() => env.lines.some((l) => /its result is lost/.test(String(l.msg))), 'error logged');
    expect(refused).toBe(3);
    const next = await task.applyAsync([2], { taskId: 'next-1' });
    await waitForState(env, next.id, 'SUCCESS');
    expect(env.broker.settlements('lost-1')).toEqual(['ack']);
    // Neither job is held any longer (the failed one included).
    await waitFor(() => worker.active === 0 && worker.reserved === 0, 'no job left');
  });
});
