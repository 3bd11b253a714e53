/**
 * kill -9 of a worker (docs/delivery-guarantees.md: with acksLate no message is lost at any crash point
 * between fetch and ack). Worker children run fixtures/worker.ts and are SIGKILLed; the
 * rescuer is an in-process worker with the same tasks. Recovery options are small
 * (support.ts FAST: lease 2 s, renewed every 500 ms, sweep every 500 ms), so a dead holder's
 * messages come back within ~2.5 s. Keys live under a random global_keyprefix (deleted by
 * SCAN afterwards); result keys are deleted by task id.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClientType } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/index.js';
import { shouldRunRedisTests } from '../support/redis.js';
import { sleep, waitFor } from 'celeriac/testing';
import { counts, killChildren, MARKED, metas, plainClient, spawnWorker, startLocalWorker, workerConfigs, type LocalWorker, FAILURE_DB, failureKeys, closeFailureSuite } from './support.js';

const ready = await shouldRunRedisTests('failure: kill -9 of a worker');
const BASE = FAILURE_DB;
const { prefix, brokerUrl } = failureKeys();
const taskIds: string[] = [];

const config = workerConfigs(BASE, prefix);
/** Far below kombu's visibility timeout (1 h), far above the lease's 2 s on any machine. */
const RECOVERY_BOUND_MS = 30_000;

describe.runIf(ready)('failure: kill -9 of a worker', () => {
  let raw: RedisClientType;
  let producer: App;
  const locals: LocalWorker[] = [];

  /** Sends `failure.marked(id, firstRunMs)` to `queue`; returns the task id. */
  async function send(queue: string, firstRunMs: number): Promise<string> {
    const id = randomUUID();
    taskIds.push(id);
    await producer.sendTask(MARKED, [id, firstRunMs], {}, { queue, taskId: id });
    return id;
  }

  // Messages held, as kombu's index counts them (an early-acked task's entry stays in the
  // unacked hash for its running record, out of the index: ack.lua).
  const unacked = () => raw.zCard(`${prefix}unacked_index`);

  beforeAll(async () => {
    raw = await plainClient(BASE);
    producer = createApp({ broker: brokerUrl, backend: BASE }, { env: {} });
  });

  afterEach(async () => {
    await killChildren();
    await Promise.all(locals.splice(0).map((w) => w.stop()));
  }, 20_000);

  afterAll(() => closeFailureSuite(producer, raw, prefix, taskIds), 20_000);

  it('a late-ack task whose worker is SIGKILLed mid-run runs again on another worker and succeeds exactly once', async () => {
    const queue = `mid-run-${randomUUID().slice(0, 8)}`;
    const a = spawnWorker(config(queue, `a-${process.pid}@failure`));
    await a.ready;
    const id = await send(queue, 60_000);
    await waitFor(async () => (await counts(raw, prefix, id)).attempts === 1, 'the task to start on A', 20_000);

    // B consumes the same queue while A is alive and running the task: A renews its lease,
    // so B must not take the task even after more than recoverAfterSec.
    locals.push(await startLocalWorker(config(queue, `b-${process.pid}@failure`, { concurrency: 2 }), raw));
    await sleep(3000);
    expect(await counts(raw, prefix, id)).toEqual({ attempts: 1, success: 0 });
    expect(await unacked()).toBe(1);

    await a.kill();
    // The lease A renewed last expires within recoverAfterSec (2 s); B's sweep then restores
    // it. The bound only tells that from kombu's visibility timeout (1 h here) without
    // depending on the machine's speed; the timing itself is checked on a fake clock in
    // test/redis/broker/redis-recovery.test.ts.
    await waitFor(async () => (await metas(raw, [id]))[0]?.status === 'SUCCESS', 'SUCCESS on B', RECOVERY_BOUND_MS);

    const [meta] = await metas(raw, [id]);
    expect(meta).toMatchObject({ status: 'SUCCESS', result: 2 });
    expect(await counts(raw, prefix, id)).toEqual({ attempts: 2, success: 1 });
    // Settled for good: nothing held, nothing queued, and it does not run a third time.
    await sleep(1500);
    expect(await counts(raw, prefix, id)).toEqual({ attempts: 2, success: 1 });
    expect(await unacked()).toBe(0);
    expect(await raw.lLen(`${prefix}${queue}`)).toBe(0);
  }, 90_000);

  for (const acksLate of [true, false]) {
    it(`messages fetched but not started (prefetch, acksLate=${String(acksLate)}) all run on another worker after kill -9`, async () => {
      const queue = `prefetched-${String(acksLate)}-${randomUUID().slice(0, 8)}`;
      // Window of 4 (1 slot x multiplier 4). Late ack: the running blocker and three held but
      // not started. Early ack: the blocker was acked when it started, freeing its place in
      // the window (as in Celery), so four are held but not started.
      const c = spawnWorker(config(queue, `c-${process.pid}@failure`, { prefetchMultiplier: 4, acksLate }));
      await c.ready;
      const blocker = await send(queue, 60_000);
      await waitFor(async () => (await counts(raw, prefix, blocker)).attempts === 1, 'the blocker to start', 20_000);
      const reserved: string[] = [];
      for (let i = 0; i < 6; i++) reserved.push(await send(queue, 0));
      await waitFor(async () => (await unacked()) === 4, 'the child to hold 4 messages', 20_000);
      expect(await raw.lLen(`${prefix}${queue}`)).toBe(acksLate ? 3 : 2);
      for (const id of reserved) expect((await counts(raw, prefix, id)).attempts).toBe(0);

      await c.kill();
        locals.push(await startLocalWorker(config(queue, `d-${process.pid}@failure`, { concurrency: 4 }), raw));

      // Late ack: the blocker comes back too. Early ack: it was acked when it started, so a
      // crash mid-run loses it (Celery's at-most-once for acks_late=False); the others must not be lost.
      const expected = acksLate ? [blocker, ...reserved] : reserved;
      await waitFor(async () => (await metas(raw, expected)).every((m) => m?.status === 'SUCCESS'), 'every task to succeed on D', RECOVERY_BOUND_MS);
      for (const id of reserved) expect(await counts(raw, prefix, id)).toEqual({ attempts: 1, success: 1 });
      if (acksLate) {
        expect(await counts(raw, prefix, blocker)).toEqual({ attempts: 2, success: 1 });
      } else {
        await sleep(1000);
        expect((await metas(raw, [blocker]))[0]).toBeNull();
        expect(await counts(raw, prefix, blocker)).toEqual({ attempts: 1, success: 0 });
      }
      expect(await unacked()).toBe(0);
    }, 90_000);
  }
});
