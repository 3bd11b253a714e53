/**
 * A Sentinel-managed master away for longer than `connectTimeoutMs`, with no failover (a
 * restart, or no replica to promote): the worker and the producer come back when it does.
 * node-redis's RedisSentinel emits no 'ready', so the reconnect policy (redis/client.ts) took
 * its clients for never connected and gave up after `connectTimeoutMs`: every node client
 * stopped reconnecting, and the worker ran nothing after the master came back (a 15 s restart
 * with the default 10 s, tried by hand on 2026-11-29).
 */
import { pino } from 'pino';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, Worker, type App } from '../../src/index.js';
import { shouldRunRedisTests } from '../support/redis.js';
import { SentinelCluster } from '../support/sentinel-cluster.js';
import { waitFor } from 'celeriac/testing';

const MASTER = 'celeriac-outage';
/** How long a connection may fail before start-up gives up: the outage below lasts longer. */
const CONNECT_TIMEOUT_MS = 1000;

const ready = await shouldRunRedisTests('failure: a Sentinel master away for longer than connectTimeoutMs');

describe.runIf(ready)('Redis Sentinel: a master away for longer than connectTimeoutMs, then back', () => {
  let cluster: SentinelCluster | undefined;
  let app: App;
  let worker: Worker;
  let add: ReturnType<typeof defineAdd>;

  beforeAll(async () => {
    // No replica: the sentinel cannot fail over, the master can only come back. Nor does the
    // sentinel take it for down (a minute): its clients hear of no change and must reconnect
    // by themselves (with 3 s, they were reset on the master's return, and came back anyway).
    cluster = await SentinelCluster.start(MASTER, { replicas: 0, sentinels: 1, durable: false, downAfterMs: 60_000 });
    const url = `redis+sentinel://127.0.0.1:${cluster.sentinel.port}/${MASTER}/0`;
    app = createApp(
      { broker: url, backend: url, brokerTransportOptions: { connectTimeoutMs: CONNECT_TIMEOUT_MS }, resultBackendTransportOptions: { connectTimeoutMs: CONNECT_TIMEOUT_MS } },
      { env: {}, logger: pino({ level: 'silent' }) },
    );
    add = defineAdd(app);
    worker = new Worker(app, { queues: ['celery'], concurrency: 2, hostname: `outage-${process.pid}@test` });
    await worker.start();
  }, 40_000);

  afterAll(async () => {
    await worker?.close({ deadlineMs: 1000 });
    await app?.close();
    await cluster?.dispose();
  }, 20_000);

  it('reconnects every connection of the worker and runs tasks again once the master is back', async () => {
    expect(await (await add.delay(2, 3)).get({ timeoutMs: 10_000 })).toBe(5);
    const master = (cluster as SentinelCluster).master;
    const before = await connectionNames(master.port);
    expect(before).toContain('celeriac-broker-wake');
    await master.stop();
    // The outage itself: three times connectTimeoutMs with nothing to answer.
    await new Promise((resolve) => setTimeout(resolve, 3 * CONNECT_TIMEOUT_MS));
    await master.start();
    // Each connection comes back by itself, with no command sent on it meanwhile: the worker's
    // idle subscribers (wake-ups, broadcasts, results) too, which stayed gone before.
    let now: string[] = [];
    await waitFor(async () => {
      now = await connectionNames(master.port).catch(() => []);
      return before.every((name) => now.includes(name));
    }, () => `the connections ${JSON.stringify(before)} back (now ${JSON.stringify(now)})`, 20_000);
    let value: unknown;
    await waitFor(async () => {
      try {
        value = await (await add.delay(20, 22)).get({ timeoutMs: 3000 });
        return true;
      } catch {
        return false;
      }
    }, 'a task to run after the master came back', 30_000);
    expect(value).toBe(42);
  }, 90_000);
});

/** The names of the clients connected to the server on `port` (the sentinel's own and this one's left out). */
async function connectionNames(port: number): Promise<string[]> {
  const probe = createClient({ url: `redis://127.0.0.1:${port}/0`, socket: { reconnectStrategy: false } });
  probe.on('error', () => undefined);
  await probe.connect();
  try {
    const list = String(await probe.sendCommand(['CLIENT', 'LIST']));
    return [...list.matchAll(/ name=(\S*)/g)].map((m) => m[1] as string).filter((name) => name.startsWith('celeriac-')).sort();
  } finally {
    probe.destroy();
  }
}

function defineAdd(app: App) {
  return app.task('outage.add', (a: number, b: number) => a + b);
}
