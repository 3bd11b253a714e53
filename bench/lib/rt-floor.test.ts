/**
 * bench/rt-floor.ts's parts against a real redis-server of the test's own: the layout-floor
 * worker (peers/layout-floor-worker.ts, run here in-process) answers lib/subscribe-first.ts's
 * client, each result pushed as SUCCESS, and leaves the layout as a worker must: every message
 * taken, acked (nothing held, no lease left) and its result stored.
 */
import { createApp, type App } from 'celeriac';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import createFloorWorker from '../peers/layout-floor-worker.js';
import { celeriacUrls, NOOP_TASK } from '../peers/celeriac-shared.js';
import { freePort, privateRedis, stopPrivateRedis } from './redis.js';
import { subscribeFirstClient } from './subscribe-first.js';

describe('the round trip layout floor', () => {
  let started: Awaited<ReturnType<typeof privateRedis>>;
  let port: number;
  let app: App | undefined;
  const prefix = 'floor-test:';

  beforeAll(async () => {
    port = await freePort();
    started = await privateRedis(port);
  }, 20_000);

  afterAll(async () => {
    await app?.close();
    await stopPrivateRedis(started);
  });

  it('answers each subscribe-first call with its SUCCESS, and acks and stores every task', async () => {
    const admin = started.redis;
    const env = { host: '127.0.0.1', port, db: 0, prefix, queue: 'bench', concurrency: 10, events: false };
    const urls = celeriacUrls(env);
    app = createApp({ broker: urls.broker, backend: urls.backend, logLevel: 'warn', taskDefaultQueue: 'bench' });
    await app.broker.connect();
    const client = await subscribeFirstClient({ host: '127.0.0.1', port, prefix, queue: 'bench', task: app.task(NOOP_TASK, () => null), admin });
    const worker = await createFloorWorker(env);
    await worker.start();
    for (let i = 0; i < 50; i++) await client.call();
    await worker.close();
    await client.close();

    expect(client.resultKeys).toHaveLength(50);
    expect(await admin.exists(...client.resultKeys)).toBe(50);
    // Taken from the queue, and nothing left held: kombu's unacked hash and index, our leases.
    expect(await admin.llen(`${prefix}bench`)).toBe(0);
    expect(await admin.hlen(`${prefix}unacked`)).toBe(0);
    expect(await admin.zcard(`${prefix}unacked_index`)).toBe(0);
    expect(await admin.zcard(`${prefix}celeriac.leases`)).toBe(0);
  }, 60_000);
});
