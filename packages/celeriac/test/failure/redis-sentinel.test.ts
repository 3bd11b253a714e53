/**
 * Redis Sentinel end to end, on private servers: a master, a replica and one sentinel on free
 * ports (test/support/sentinel-cluster.ts). An app whose broker is a `redis+sentinel://` URL and whose backend is kombu's
 * `sentinel://...?master_name=` form runs tasks on a worker; then SENTINEL FAILOVER promotes
 * the replica, and the same worker and producer go on with the new master, without restart.
 * The worker polls once a minute (`quietPollIntervalMs`): its tasks reach it by pub/sub wake-ups.
 * Its subscribers hold one master connection each, and a result stored while the backend's
 * subscriber was away (killed, or not yet moved to a new master) still reaches its waiter.
 * Then a master that goes away without a failover and comes back.
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, Worker, type App } from '../../src/index.js';
import { closeRedisClient, createRedisClient } from '../../src/redis/client.js';
import { parseRedisUrl } from '../../src/redis/url.js';
import { runPython } from '../interop/python.js';
import { shouldRunPythonTests } from '../support/python.js';
import { freePort, shouldRunRedisTests } from '../support/redis.js';
import { SentinelCluster, type SentinelClusterShape } from '../support/sentinel-cluster.js';
import { waitFor } from 'celeriac/testing';

const MASTER = 'celeriac-test';
/** How long a connection may fail before start-up gives up: the outage below lasts longer. */
const CONNECT_TIMEOUT_MS = 1000;

// The shared Redis being up means redis-server is installed (sentinel mode is built in).
const ready = await shouldRunRedisTests('failure: Redis Sentinel');
const pythonReady = ready && shouldRunPythonTests('failure: Redis Sentinel, Python Celery with sentinel_kwargs');

/**
 * Registers, in the enclosing describe, a cluster of `shape` and an app on it (its broker a
 * `redis+sentinel://` URL, `settings` given the sentinel's port) with a worker, started before
 * the tests and closed after them. Returns their getter.
 */
function useSentinelWorker(name: string, shape: SentinelClusterShape, settings: (sentinelPort: number) => Parameters<typeof createApp>[0]) {
  let cluster: SentinelCluster | undefined;
  let app: App | undefined;
  let worker: Worker | undefined;
  let add: ReturnType<typeof defineAdd> | undefined;

  beforeAll(async () => {
    cluster = await SentinelCluster.start(name, shape);
    app = createApp(settings(cluster.sentinel.port), { env: {}, logger: pino({ level: 'silent' }) });
    add = defineAdd(app);
    worker = new Worker(app, { queues: ['celery'], concurrency: 2, hostname: `${name}-${process.pid}@test` });
    await worker.start();
  }, 40_000);

  afterAll(async () => {
    await worker?.close({ deadlineMs: 1000 });
    await app?.close();
    await cluster?.dispose();
  }, 20_000);

  return () => ({ cluster: cluster as SentinelCluster, app: app as App, add: add as ReturnType<typeof defineAdd> });
}

describe.runIf(ready)('Redis Sentinel: tasks run, and go on after a failover', () => {
  const started = useSentinelWorker(MASTER, { replicas: 1, sentinels: 1, durable: false }, (port) => ({
    broker: `redis+sentinel://127.0.0.1:${port}/${MASTER}/0`,
    backend: `sentinel://127.0.0.1:${port}/1?master_name=${MASTER}`,
    // A quiet worker from its start, whose poll is a minute away: each task reaches it by its
    // queue's pub/sub wake-up, before the failover and on the new master after it.
    brokerTransportOptions: { recoverAfterSec: 4, leaseRenewMs: 500, sweepIntervalMs: 500, quietAfterMs: 1, quietPollIntervalMs: 60_000 },
  }));

  it('runs a task through a sentinel-discovered master, with its result on the master db 1', async () => {
    const { cluster, add } = started();
    const r = await add.delay(2, 3);
    expect(await r.get({ timeoutMs: 10_000 })).toBe(5);
    const direct = createClient({ url: `redis://127.0.0.1:${cluster.master.port}/1` });
    await direct.connect();
    try {
      expect(await direct.exists(`celery-task-meta-${r.id}`)).toBe(1);
    } finally {
      direct.destroy();
    }
  });

  it('holds one master connection per subscriber, and closes one without waiting', async () => {
    const { cluster, app, add } = started();
    expect(await (await add.delay(1, 1)).get({ timeoutMs: 10_000 })).toBe(2);
    // A waiter keeps the result subscriber's connection open (with nothing subscribed, node-redis
    // closes it); the wake-up one opens at the worker's first SUBSCRIBE, not waited for.
    const id = randomUUID();
    const waiting = app.asyncResult(id).get({ timeoutMs: 10_000 });
    const subscribers = ['celeriac-broker-wake', 'celeriac-broker-fanout', 'celeriac-backend-sub'];
    let names: string[] = [];
    await waitFor(async () => {
      names = await connectionNames(cluster.master.port);
      return subscribers.every((name) => names.includes(name));
    }, () => `every subscriber connected (${JSON.stringify(names)})`, 10_000);
    // node-redis's Sentinel client opens a master connection for commands besides the one its
    // pub/sub runs on; a subscriber sends no command.
    for (const name of subscribers) expect(names.filter((n) => n === name), `${name} in ${JSON.stringify(names)}`).toHaveLength(1);
    const master = await openDirect(cluster.master.port, 1);
    try {
      await master.multi().set(`celery-task-meta-${id}`, successMeta(id, 3)).publish(`celery-task-meta-${id}`, successMeta(id, 3)).exec();
    } finally {
      master.destroy();
    }
    expect(await waiting).toBe(3);
    const client = createRedisClient(parseRedisUrl(`redis+sentinel://127.0.0.1:${cluster.sentinel.port}/${MASTER}/0`), { name: 'celeriac-test-sub', subscriberOnly: true });
    await client.connect();
    const heard: string[] = [];
    await client.subscribe('sentinel-test-channel', (m) => heard.push(m));
    const direct = await openDirect(cluster.master.port, 0);
    try {
      await direct.publish('sentinel-test-channel', 'hello');
      await waitFor(() => heard.length === 1, 'the message');
    } finally {
      direct.destroy();
    }
    // A PING on close would wait for a master connection that never comes: a minute here.
    await closeRedisClient(client, 60_000);
  }, 20_000);

  it('a result stored while the result subscriber was away still reaches its waiter', async () => {
    const { cluster, app } = started();
    const master = await openDirect(cluster.master.port, 1);
    try {
      const id = randomUUID();
      const waiting = app.asyncResult(id).get({ timeoutMs: 10_000 });
      await waitFor(async () => (await master.pubSubNumSub(`celery-task-meta-${id}`))[`celery-task-meta-${id}`] === 1, 'the waiter subscribed', 10_000);
      const subscribers = await clientIds(master, 'celeriac-backend-sub');
      expect(subscribers.length).toBeGreaterThan(0);
      // The subscribers killed and the result stored and published in one transaction: the
      // publish reaches nobody, whatever the timing of the reconnect.
      const tx = master.multi();
      for (const sub of subscribers) tx.clientKill({ filter: 'ID', id: Number(sub) });
      const replies = await tx.set(`celery-task-meta-${id}`, successMeta(id, 7)).publish(`celery-task-meta-${id}`, successMeta(id, 7)).exec();
      expect(replies.at(-1)).toBe(0);
      expect(await waiting).toBe(7);
    } finally {
      master.destroy();
    }
  });

  it('after SENTINEL FAILOVER, the same producer and worker use the new master', async () => {
    const { cluster, app, add } = started();
    const { master, replica, sentinel } = cluster;
    expect(await sentinel.masterPortNow()).toBe(master.port);
    // A waiter whose result is stored on the new master as soon as it is one, before its
    // subscriber has moved there: it must get it all the same.
    const id = randomUUID();
    const waiting = app.asyncResult(id).get({ timeoutMs: 20_000 });
    // Reconnecting: the sentinel kills the replica's clients as it promotes it.
    const promoted = await openDirect(replica.port, 1, true);
    try {
      await sentinel.command(['SENTINEL', 'FAILOVER', MASTER]);
      const role = () => promoted.sendCommand(['ROLE']).then((reply) => (Array.isArray(reply) ? (reply[0] as unknown) : undefined), () => undefined);
      await waitFor(async () => (await role()) === 'master', 'the replica promoted', { timeoutMs: 20_000, maxIntervalMs: 5 });
      const meta = successMeta(id, 8);
      await waitFor(() => promoted.multi().set(`celery-task-meta-${id}`, meta).publish(`celery-task-meta-${id}`, meta).exec().then(() => true, () => false), 'the result stored on the new master');
      expect(await waiting).toBe(8);
    } finally {
      promoted.destroy();
    }
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

/**
 * A master away for longer than `connectTimeoutMs`, with no failover (a restart, or no replica
 * to promote): the worker and the producer come back when it does. node-redis's RedisSentinel
 * emits no 'ready', so the reconnect policy (redis/client.ts) took its clients for never
 * connected and gave up after `connectTimeoutMs`: its node clients stopped reconnecting, and the
 * worker ran nothing after the master came back (a 15 s restart with the default 10 s, tried by
 * hand on 2026-11-29).
 */
describe.runIf(ready)('Redis Sentinel: a master away for longer than connectTimeoutMs, then back', () => {
  const OUTAGE_MASTER = 'celeriac-outage';
  // No replica: the sentinel cannot fail over, the master can only come back. Nor does the
  // sentinel take it for down (a minute): its clients hear of no change and must reconnect by
  // themselves (with 3 s, they were reset on the master's return, and came back anyway).
  const started = useSentinelWorker(OUTAGE_MASTER, { replicas: 0, sentinels: 1, durable: false, downAfterMs: 60_000 }, (port) => {
    const url = `redis+sentinel://127.0.0.1:${port}/${OUTAGE_MASTER}/0`;
    const options = { connectTimeoutMs: CONNECT_TIMEOUT_MS };
    return { broker: url, backend: url, brokerTransportOptions: options, resultBackendTransportOptions: options };
  });

  it('reconnects every connection of the worker and runs tasks again once the master is back', async () => {
    const { cluster, add } = started();
    expect(await (await add.delay(2, 3)).get({ timeoutMs: 10_000 })).toBe(5);
    const master = cluster.master;
    // The wake-up subscriber's one master connection is made by its first SUBSCRIBE, which the
    // worker does not wait for before it fetches: it may come after the first task ran.
    let before: string[] = [];
    await waitFor(async () => (before = await connectionNames(master.port)).includes('celeriac-broker-wake'), () => `the wake-up subscription (connections: ${JSON.stringify(before)})`, 10_000);
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

/**
 * Sentinels that require a password of their own (`requirepass`), given as kombu takes it: the
 * `sentinel_kwargs` transport option of the broker and of the result backend. The URL's
 * credentials are the master's (none here).
 */
describe.runIf(ready)('Redis Sentinel: sentinels that require a password', () => {
  const AUTH_MASTER = 'celeriac-sentinel-auth';
  const PASSWORD = 'sentinel-secret';
  const started = useSentinelWorker(AUTH_MASTER, { replicas: 0, sentinels: 1, durable: false, sentinelPassword: PASSWORD }, (port) => {
    const options = { master_name: AUTH_MASTER, sentinel_kwargs: { password: PASSWORD } };
    return { broker: `sentinel://127.0.0.1:${port}/0`, backend: `sentinel://127.0.0.1:${port}/1`, brokerTransportOptions: options, resultBackendTransportOptions: options };
  });

  it('runs a task with sentinel_kwargs, and without them a send fails at once with a CONFIG error', async () => {
    const { cluster, add } = started();
    expect(await (await add.delay(4, 5)).get({ timeoutMs: 10_000 })).toBe(9);
    const bare = createApp(
      { broker: `sentinel://127.0.0.1:${cluster.sentinel.port}/0`, backend: 'memory://', brokerTransportOptions: { master_name: AUTH_MASTER, connectTimeoutMs: 5000 } },
      { env: {}, logger: pino({ level: 'silent' }) },
    );
    try {
      const failed = await bare.sendTask('sentinel.add', [1, 2]).then(() => undefined, (err: unknown) => err);
      expect(failed).toMatchObject({ code: 'CELERIAC_ERR_CONFIG' });
    } finally {
      await bare.close();
    }
  }, 30_000);

  it.runIf(pythonReady)("reads sentinel_kwargs as Python Celery does: a Python producer's task runs on the Celeriac worker, and Python reads its result", async () => {
    const { cluster } = started();
    const port = cluster.sentinel.port;
    const out = await runPython({ broker: `sentinel://127.0.0.1:${port}/0`, backend: `sentinel://127.0.0.1:${port}/1` }, `
import os, json
from celery import Celery
app = Celery(broker=os.environ['CELERY_BROKER'], backend=os.environ['CELERY_BACKEND'])
opts = {'master_name': '${AUTH_MASTER}', 'sentinel_kwargs': {'password': '${PASSWORD}'}}
app.conf.broker_transport_options = opts
app.conf.result_backend_transport_options = opts
print(json.dumps(app.send_task('sentinel.add', args=[20, 22]).get(timeout=20)))`);
    expect(out.trim()).toBe('42');
  }, 60_000);
});

describe.runIf(ready)('Redis Sentinel: no sentinel reachable at the first connect', () => {
  it('fails after connectTimeoutMs, not after node-redis\'s 17 tries a second apart', async () => {
    const client = createRedisClient(parseRedisUrl(`redis+sentinel://127.0.0.1:${await freePort()}/nobody/0`), { name: 'celeriac-test-nowhere', connectTimeoutMs: 500 });
    client.on('error', () => undefined);
    await expect(client.connect()).rejects.toThrow(/no sentinel \(127\.0\.0\.1:\d+\) named master "nobody" that could be reached within 500 ms/);
    await closeRedisClient(client, 0);
  }, 10_000);
});

/** A plain connection to the server on `port`, database `db`, reconnecting or not (destroy() it). */
async function openDirect(port: number, db: number, reconnect = false) {
  const client = createClient({ url: `redis://127.0.0.1:${port}/${db}`, ...(reconnect ? {} : { socket: { reconnectStrategy: false as const } }) });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** The ids of the clients named `name` connected to `client`'s server. */
async function clientIds(client: Awaited<ReturnType<typeof openDirect>>, name: string): Promise<string[]> {
  const list = String(await client.sendCommand(['CLIENT', 'LIST']));
  return [...list.matchAll(/^id=(\d+) .* name=(\S*) /gm)].filter((m) => m[2] === name).map((m) => m[1] as string);
}

/** A SUCCESS meta as Celery stores it. */
function successMeta(id: string, result: unknown): string {
  return JSON.stringify({ status: 'SUCCESS', result, traceback: null, children: [], date_done: new Date().toISOString(), task_id: id });
}

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
  return app.task('sentinel.add', (x: number, y: number) => x + y);
}
