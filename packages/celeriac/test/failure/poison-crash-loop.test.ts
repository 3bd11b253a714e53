/**
 * A poison message that kills its worker process (kill -9 of itself) every time it runs: the
 * delivery count lives in Redis (celeriac.deliveries, counted by each lease recovery), so it
 * survives the workers, and the worker that takes the message past workerMaxDeliveries
 * dead-letters it without running it. Before, the count lived in each worker's memory and
 * a crash loop across worker restarts never ended. Every worker here is a real child process
 * (fixtures/worker.ts), started again after each death; leases are short (support.ts FAST).
 */
import { randomUUID } from 'node:crypto';
import type { RedisClientType } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/index.js';
import { parseSetAside } from '../../src/brokers/redis/settlements.js';
import { shouldRunRedisTests } from '../support/redis.js';
import { waitFor } from 'celeriac/testing';
import { counts, killChildren, MARKED, metas, plainClient, spawnWorker, workerConfigs, FAILURE_DB, failureKeys, closeFailureSuite } from './support.js';
import { POISON } from './fixtures/tasks.js';

const ready = await shouldRunRedisTests('failure: poison message crash loop');
const BASE = FAILURE_DB;
const { prefix, brokerUrl } = failureKeys();
const taskIds: string[] = [];
const config = workerConfigs(BASE, prefix);
const MAX = 3;

describe.runIf(ready)('failure: a message that kills its worker every time', () => {
  let raw: RedisClientType;
  let producer: App;

  beforeAll(async () => {
    raw = await plainClient(BASE);
    producer = createApp({ broker: brokerUrl, backend: BASE }, { env: {} });
  });

  afterEach(killChildren, 20_000);

  afterAll(() => closeFailureSuite(producer, raw, prefix, taskIds), 20_000);

  it(`runs ${MAX} times across ${MAX} worker processes, then is dead-lettered by the next with FAILURE stored`, async () => {
    const queue = `poison-${randomUUID().slice(0, 8)}`;
    const id = randomUUID();
    const after = randomUUID();
    taskIds.push(id, after);
    await producer.sendTask(POISON, [id], {}, { queue, taskId: id });
    // A healthy message behind it: the crash loop must not hold it up for good.
    await producer.sendTask(MARKED, [after, 0], {}, { queue, taskId: after });
    const settings = { workerMaxDeliveries: MAX, workerRedeliveryDelaySec: 0.1 };

    for (let run = 1; run <= MAX; run++) {
      const w = spawnWorker(config(queue, `poison-${run}-${process.pid}@failure`, { settings }));
      const died = new Promise<string | null>((resolve) => w.child.once('exit', (_code, signal) => resolve(signal)));
      expect(await died).toBe('SIGKILL');
      expect((await counts(raw, prefix, id)).attempts).toBe(run);
      // The dead holder's lease lapses and a sweep (the next worker's) gives the message back,
      // counted in Redis.
    }

    const last = spawnWorker(config(queue, `poison-last-${process.pid}@failure`, { settings }));
    await last.ready;
    await waitFor(async () => parseSetAside(await raw.lRange(`${prefix}celeriac.deadletters`, 0, -1)).some((r) => r.raw.includes(id)), 'the dead letter', 20_000);
    await waitFor(async () => (await metas(raw, [after]))[0]?.status === 'SUCCESS', 'the healthy task to succeed', 20_000);
    // In the dead letters' own part of the store, where garbage cannot evict it.
    const [record] = parseSetAside(await raw.lRange(`${prefix}celeriac.deadletters`, 0, -1)).filter((r) => r.raw.includes(id));
    expect(record?.category).toBe('dead-letter');
    expect(record?.reason).toMatch(new RegExp(`^delivered ${MAX + 1} times \\(workerMaxDeliveries ${MAX}\\) without being settled`));
    expect(record?.queue).toBe(queue);
    expect((await counts(raw, prefix, id)).attempts).toBe(MAX);
    expect((await metas(raw, [id]))[0]).toMatchObject({ status: 'FAILURE', result: { exc_type: 'DeliveryLimitExceeded' } });
    // Settled for good: nothing held, its count dropped, and the last worker is alive. The
    // healthy task's late ack follows its stored result, so it may still be on its way.
    await waitFor(async () => (await raw.hLen(`${prefix}unacked`)) === 0, 'nothing held', 10_000);
    expect(await raw.exists(`${prefix}celeriac.deliveries`)).toBe(0);
    expect(last.child.exitCode).toBeNull();
  }, 90_000);

  it('dead-letters only the poison, not the 20 tasks queued behind it that never ran beside it', async () => {
    const queue = `poison-n-${randomUUID().slice(0, 8)}`;
    const id = randomUUID();
    const innocent = Array.from({ length: 20 }, () => randomUUID());
    taskIds.push(id, ...innocent);
    await producer.sendTask(POISON, [id], {}, { queue, taskId: id });
    for (const t of innocent) await producer.sendTask(MARKED, [t, 0], {}, { queue, taskId: t });
    // One slot and Celery's default prefetch of 4: three innocent messages wait in the
    // worker's prefetch each time the poison kills it (before, each such death counted
    // against them too, and they were dead-lettered beside the poison).
    const settings = { workerMaxDeliveries: MAX, workerRedeliveryDelaySec: 0.1 };
    const over = { settings, prefetchMultiplier: 4 };
    const deadLetters = async (): Promise<string[]> => parseSetAside(await raw.lRange(`${prefix}celeriac.deadletters`, 0, -1)).filter((r) => r.raw.includes(queue)).map((r) => r.raw);
    for (let run = 1; (await deadLetters()).length === 0; run++) {
      expect(run, 'the poison is dead-lettered after its limit').toBeLessThanOrEqual(MAX + 2);
      const w = spawnWorker(config(queue, `poison-n-${run}-${process.pid}@failure`, over));
      // Dies by the poison, or lives once the poison was dead-lettered.
      const died = new Promise<boolean>((resolve) => w.child.once('exit', () => resolve(true)));
      const settled = waitFor(async () => (await deadLetters()).length > 0, 'the dead letter', 60_000).then(() => false);
      if (!(await Promise.race([died, settled]))) break;
    }
    await waitFor(async () => (await metas(raw, innocent)).every((m) => m?.status === 'SUCCESS'), 'the 20 innocent tasks to succeed', 60_000);
    const letters = await deadLetters();
    expect(letters).toHaveLength(1);
    expect(letters[0]).toContain(id);
    expect((await counts(raw, prefix, id)).attempts).toBe(MAX);
    // Each ran, and none was dead-lettered (above). At least once, not exactly once: a worker
    // whose restored queue put an innocent task just before the poison starts the poison while
    // that task's result and late ack are still on their way (finishing permits, worker/executor.ts),
    // and the poison's kill -9 loses them, so that one task runs again (seen once in CI: success
    // 2). With one slot, a death costs at most that one task.
    const successes = await Promise.all(innocent.map(async (t) => (await counts(raw, prefix, t)).success));
    expect(successes.filter((n) => n < 1)).toEqual([]);
    expect(successes.reduce((a, b) => a + b, 0) - innocent.length).toBeLessThanOrEqual(MAX);
    // Every start mark is dropped by its task's ack, which follows the stored result: the last
    // ack may still be on its way when the last SUCCESS is read (failed once so, on a loaded host).
    await waitFor(async () => (await raw.exists(`${prefix}celeriac.started`)) === 0, 'the start marks dropped', 10_000);
  }, 180_000);
});
