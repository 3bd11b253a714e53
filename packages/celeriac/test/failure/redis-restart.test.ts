/**
 * Redis restart under load: a worker child and a producer on a private redis-server, which is
 * SIGKILLed while ~300 late-ack tasks flow, then restarted on the same port. The worker is
 * never restarted: it must reconnect by itself, lose no task, and keep fetching afterwards.
 *
 * Why an fsync'ed append-only file (`--appendonly yes --appendfsync always`, temp dir) and not
 * the default no-persistence server or a SIGSTOP stall: a restarted server without
 * persistence comes back empty, so every queued message is gone with it and "no task lost"
 * would be untestable; a SIGSTOP stall keeps the TCP connections, so it never exercises the
 * reconnect path nor the loss of replies in flight. With `appendfsync always` Redis persists
 * every write before it replies, so what a client saw acknowledged survives kill -9, while
 * writes whose replies were cut off (a fetch.lua that popped messages for the worker, an ack,
 * a result store) may or may not have happened: exactly the ambiguity a real crash leaves,
 * which leases (recoverAfterSec) and at-least-once redelivery must cover. A task may run
 * twice; none may be missing.
 *
 * Counters (attempts/success per task) live on the shared Redis under a random prefix, so
 * they survive the private server's crash; result metas are on the private server.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClientType } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBroker } from '../../src/brokers/redis/redis-broker.js';
import { createApp, type App } from '../../src/index.js';
import { deleteKeys, freePort, randomKeyPrefix, REDIS_URL, shouldRunRedisTests, redisServerOnPath } from '../support/redis.js';
import { waitFor } from 'celeriac/testing';
import { counts, DurableRedisServer, FAST, killChildren, MARKED, metas, plainClient, spawnWorker, whereAre, type ChildWorker } from './support.js';

const ready = await shouldRunRedisTests('failure: Redis restart under load');
const hasRedisServer = redisServerOnPath('failure: Redis restart under load');
const base = new URL(REDIS_URL);
base.pathname = '/9';
const SHARED = base.toString();
const prefix = randomKeyPrefix();

describe.runIf(ready && hasRedisServer)('failure: Redis restart under load', () => {
  let server: DurableRedisServer;
  let shared: RedisClientType;
  let priv: RedisClientType;
  let producer: App;
  let worker: ChildWorker;
  let brokerUrl: string;
  const queue = 'restart';

  beforeAll(async () => {
    server = new DurableRedisServer(await freePort());
    await server.start();
    brokerUrl = `${server.url}?global_keyprefix=${encodeURIComponent(prefix)}`;
    shared = await plainClient(SHARED);
    priv = await plainClient(server.url);
    producer = createApp({ broker: brokerUrl, backend: server.url }, { env: {}, broker: new RedisBroker(brokerUrl) });
    worker = spawnWorker({
      brokerUrl,
      broker: FAST,
      backendUrl: server.url,
      backendKeyPrefix: '',
      counterUrl: SHARED,
      counterPrefix: prefix,
      queue,
      concurrency: 16,
      prefetchMultiplier: 4,
      acksLate: true,
      hostname: `restart-${process.pid}@failure`,
    });
    await worker.ready;
  }, 30_000);

  afterAll(async () => {
    await killChildren();
    await producer?.close();
    await priv?.close().catch(() => undefined);
    await shared?.close();
    await server?.dispose();
    await deleteKeys(prefix, SHARED);
  }, 20_000);

  /** True between the kill and the restart; `sentWhileDown` counts publishes tried meanwhile. */
  let down = false;
  let sentWhileDown = 0;

  /** Publishes one task, retrying while Redis is away (same task id: a retry is a duplicate, not a new task). */
  async function send(id: string, runMs: number): Promise<void> {
    let lastError: unknown;
    await waitFor(async () => {
      if (down) sentWhileDown++;
      try {
        await producer.sendTask(MARKED, [id, runMs, runMs], {}, { queue, taskId: id });
        return true;
      } catch (error) {
        lastError = error;
        return false;
      }
    }, `task ${id} published`, 30_000).catch((timeout: unknown) => {
      throw new Error(`${String(timeout)}: ${String(lastError)}`);
    });
  }

  it('the worker reconnects by itself, every late-ack task ends SUCCESS, and it keeps working after', async () => {
    // 100 tasks before the crash; the other 200 are sent while Redis is down (each send
    // retries until it is back) and after.
    const ids = Array.from({ length: 300 }, () => randomUUID());
    for (const id of ids.slice(0, 100)) await send(id, 100);
    const done = async () => (await metas(priv, ids)).filter((m) => m?.status === 'SUCCESS').length;
    await waitFor(async () => (await done()) > 0, 'the first results', 15_000);
    await server.kill();
    down = true;
    const producing = (async () => {
      for (const id of ids.slice(100)) await send(id, 100);
    })();
    // Every connection died with the server; back once a publish was tried against the dead one.
    await waitFor(() => sentWhileDown > 0, 'a publish while Redis is down', 15_000);
    await server.start();
    down = false;
    await producing;

    // Not restarted: the same child, still alive.
    expect(worker.child.exitCode).toBeNull();
    await waitFor(async () => (await done()) === ids.length, 'every task to succeed', 30_000).catch(async (error: unknown) => {
      const missing = (await metas(priv, ids)).map((m, i) => [ids[i], m?.status ?? 'PENDING']).filter(([, s]) => s !== 'SUCCESS');
      const where = await whereAre(priv, shared, prefix, queue, missing.slice(0, 5).map(([id]) => id as string)).catch((e: unknown) => `(not read: ${String(e)})`);
      throw new Error(`${String(error)}; ${missing.length} not SUCCESS, e.g. ${JSON.stringify(missing.slice(0, 5))}\nwhere they are: ${where}\nworker output:\n${worker.output().slice(-4000)}`);
    });
    for (const id of ids) expect((await counts(shared, prefix, id)).success).toBeGreaterThanOrEqual(1);

    // Still fetching after the restart: new tasks run.
    const after = Array.from({ length: 20 }, () => randomUUID());
    for (const id of after) await send(id, 0);
    await waitFor(async () => (await metas(priv, after)).every((m) => m?.status === 'SUCCESS'), 'tasks sent after the restart to succeed', 15_000);
    expect(worker.child.exitCode).toBeNull();
    // Nothing left behind: no message held, none queued.
    await waitFor(async () => (await priv.hLen(`${prefix}unacked`)) === 0, 'unacked to drain', 15_000);
    expect(await priv.lLen(`${prefix}${queue}`)).toBe(0);
  }, 90_000);
});
