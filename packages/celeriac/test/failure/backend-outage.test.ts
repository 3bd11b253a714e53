/**
 * A result store that fails (Redis connection reset while the store was in flight, as in a
 * Redis restart) must not strand the message: the late-ack delivery is given back and runs
 * again, instead of staying held, its lease renewed for as long as the worker lives, and its
 * prefetch slot taken for good. The backend is a RedisBackend whose store() fails on demand.
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import type { RedisClientType } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/redis-backend.js';
import { RedisBroker } from '../../src/brokers/redis/redis-broker.js';
import { CeleriacError, createApp, ErrorCodes, Worker, type ResultMeta } from '../../src/index.js';
import { type StoreOptions } from '../../src/exports/spi.js';
import { deleteKeys, deleteResults, shouldRunRedisTests } from '../support/redis.js';
import { defineFailureTasks } from './fixtures/tasks.js';
import { waitFor } from 'celeriac/testing';
import { counts, FAST, MARKED, metas, plainClient, FAILURE_DB, failureKeys } from './support.js';

const ready = await shouldRunRedisTests('failure: result store fails');
const BASE = FAILURE_DB;
const { prefix, brokerUrl } = failureKeys();
const taskIds: string[] = [];

/** Fails the next `failures` stores of a final state with a TRANSPORT error. */
class FlakyBackend extends RedisBackend {
  failures = 0;

  override async store(meta: ResultMeta, options: StoreOptions): Promise<void> {
    if (meta.status === 'SUCCESS' && this.failures > 0) {
      this.failures--;
      throw new CeleriacError(ErrorCodes.TRANSPORT, `Redis error during store result of task ${meta.task_id}: read ECONNRESET`);
    }
    return super.store(meta, options);
  }
}

describe.runIf(ready)('failure: result store fails', () => {
  let raw: RedisClientType;

  beforeAll(async () => {
    raw = await plainClient(BASE);
  });

  afterAll(async () => {
    await raw?.close();
    await deleteKeys(prefix, BASE);
    await deleteResults(taskIds, BASE);
  });

  it('a late-ack task whose result could not be stored is given back and runs again', async () => {
    const queue = `store-${randomUUID().slice(0, 8)}`;
    const backend = new FlakyBackend({ url: BASE });
    const app = createApp(
      { broker: brokerUrl, backend: BASE, taskAcksLate: true },
      // A lease far longer than the test: a delivery that comes back was given back, not swept.
      { env: {}, logger: pino({ level: 'silent' }), broker: new RedisBroker(brokerUrl, { ...FAST, recoverAfterSec: 600 }), backend },
    );
    defineFailureTasks(app, raw, prefix);
    // A window of one: a stranded delivery would also block every later message.
    const worker = new Worker(app, { queues: [queue], concurrency: 1, prefetchMultiplier: 1 });
    try {
      await worker.start();
      backend.failures = 1;
      const first = randomUUID();
      const second = randomUUID();
      taskIds.push(first, second);
      await app.sendTask(MARKED, [first, 0], {}, { queue, taskId: first });
      await app.sendTask(MARKED, [second, 0], {}, { queue, taskId: second });
      await waitFor(async () => (await metas(raw, [first, second])).every((m) => m?.status === 'SUCCESS'), 'both tasks to succeed', 15_000);
      expect(await counts(raw, prefix, first)).toEqual({ attempts: 2, success: 2 });
      expect(await counts(raw, prefix, second)).toEqual({ attempts: 1, success: 1 });
      await waitFor(async () => (await raw.hLen(`${prefix}unacked`)) === 0, 'nothing held', 15_000);
    } finally {
      await worker.close({ deadlineMs: 1000 });
      await app.close();
    }
  }, 20_000);
});
