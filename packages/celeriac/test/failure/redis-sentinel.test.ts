/**
 * Redis Sentinel end to end, on private servers: a master, a replica and one sentinel on free
 * ports (test/support/sentinel-cluster.ts). An app whose broker is a `redis+sentinel://` URL and whose backend is kombu's
 * `sentinel://...?master_name=` form runs tasks on a worker; then SENTINEL FAILOVER promotes
 * the replica, and the same worker and producer go on with the new master, without restart.
 * The worker polls once a minute (`quietPollIntervalMs`): its tasks reach it by pub/sub wake-ups.
 */
import { pino } from 'pino';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, Worker, type App } from '../../src/index.js';
import { shouldRunRedisTests, type RedisServerProcess, type SentinelProcess } from '../support/redis.js';
import { SentinelCluster } from '../support/sentinel-cluster.js';
import { waitFor } from 'celeriac/testing';

const MASTER = 'celeriac-test';

// The shared Redis being up means redis-server is installed (sentinel mode is built in).
const ready = await shouldRunRedisTests('failure: Redis Sentinel');

describe.runIf(ready)('Redis Sentinel: tasks run, and go on after a failover', () => {
  let cluster: SentinelCluster | undefined;
  let master: RedisServerProcess;
  let replica: RedisServerProcess;
  let sentinel: SentinelProcess;
  let app: App;
  let worker: Worker;
  let add: ReturnType<typeof defineAdd>;

  beforeAll(async () => {
    cluster = await SentinelCluster.start(MASTER, { replicas: 1, sentinels: 1, durable: false });
    ({ master, replica, sentinel } = cluster);
    app = createApp(
      {
        broker: `redis+sentinel://127.0.0.1:${sentinel.port}/${MASTER}/0`,
        backend: `sentinel://127.0.0.1:${sentinel.port}/1?master_name=${MASTER}`,
        // A quiet worker from its start, whose poll is a minute away: each task reaches it by its
        // queue's pub/sub wake-up, before the failover and on the new master after it.
        brokerTransportOptions: { recoverAfterSec: 4, leaseRenewMs: 500, sweepIntervalMs: 500, quietAfterMs: 1, quietPollIntervalMs: 60_000 },
      },
      { env: {}, logger: pino({ level: 'silent' }) },
    );
    add = defineAdd(app);
    worker = new Worker(app, { queues: ['celery'], concurrency: 2, hostname: `sentinel-${process.pid}@test` });
    await worker.start();
  }, 40_000);

  afterAll(async () => {
    await worker?.close({ deadlineMs: 1000 });
    await app?.close();
    await cluster?.dispose();
  }, 20_000);

  it('runs a task through a sentinel-discovered master, with its result on the master db 1', async () => {
    const r = await add.delay(2, 3);
    expect(await r.get({ timeoutMs: 10_000 })).toBe(5);
    const direct = createClient({ url: `redis://127.0.0.1:${master.port}/1` });
    await direct.connect();
    try {
      expect(await direct.exists(`celery-task-meta-${r.id}`)).toBe(1);
    } finally {
      direct.destroy();
    }
  });

  it('after SENTINEL FAILOVER, the same producer and worker use the new master', async () => {
    expect(await sentinel.masterPortNow()).toBe(master.port);
    await sentinel.command(['SENTINEL', 'FAILOVER', MASTER]);
    await waitFor(async () => (await sentinel.masterPortNow()) === replica.port, 'the replica to become master', 20_000);
    // The clients notice the switch on their own (sentinel pub/sub or a failed command).
    let value: unknown;
    await waitFor(async () => {
      try {
        const r = await add.delay(20, 22);
        value = await r.get({ timeoutMs: 5000 });
        return true;
      } catch {
        return false;
      }
    }, 'a task to run after the failover', 30_000);
    expect(value).toBe(42);
    const direct = createClient({ url: `redis://127.0.0.1:${replica.port}/0` });
    await direct.connect();
    try {
      expect((await direct.sendCommand(['ROLE'])) as unknown[]).toContain('master');
    } finally {
      direct.destroy();
    }
  }, 60_000);
});

function defineAdd(app: App) {
  return app.task('sentinel.add', (x: number, y: number) => x + y);
}
