/**
 * A reconnect whose handshake goes into a dead path. The connection drops (a Redis restart),
 * node-redis reconnects, and the new TCP connection is accepted but never carries data (the
 * network stalls at that moment, or a frozen server accepts TCP and never answers). node-redis
 * bounds only the TCP connect, not the handshake after it, so that client stays "reconnecting"
 * forever, and every command sent through it failed after the offline-queue timeout, for
 * good: the result backend of a worker could never store a result again, and the chaos suite
 * (seed 1852927173: a Redis restart, then a stall) left tasks cycling between held and
 * delayed past its 90 s bound. The command client must give such a connection up and open a
 * new one once the path works again. The subscriber connections (the result backend's, the
 * broker's fanout one that carries events and remote control) must reconnect too, and keep
 * their subscriptions: they are bounded by their idle timeout (a few PING intervals), which
 * covers the handshake as well as a subscribed connection that stalls.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/redis-backend.js';
import { RedisBroker } from '../../src/brokers/redis/redis-broker.js';
import { GuardedRedisClient } from '../../src/redis/guarded-client.js';
import type { ResultMeta } from '../../src/protocol/types.js';
import { parseRedisUrl } from '../../src/redis/url.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { freePort, RedisServerProcess, shouldRunRedisTests } from '../support/redis.js';

const ready = await shouldRunRedisTests('failure: reconnect into a stalled path');

describe.runIf(ready)('failure: a reconnect whose handshake is never answered', () => {
  let server: RedisServerProcess;
  let proxy: FaultProxy;
  let client: GuardedRedisClient;

  beforeAll(async () => {
    server = new RedisServerProcess(await freePort());
    await server.start();
    proxy = new FaultProxy(server.port);
    await proxy.start();
    client = new GuardedRedisClient(parseRedisUrl(`redis://127.0.0.1:${proxy.port}/0`), {
      name: 'reconnect-into-stall',
      connectTimeoutMs: 500,
      commandTimeoutMs: 1000,
      offlineQueueTimeoutMs: 300,
    });
  }, 30_000);

  afterAll(async () => {
    await client?.close(0);
    await proxy?.close();
    await server?.kill();
  }, 30_000);

  it('gives up the stuck reconnect and answers again once the path works', async () => {
    expect(await client.run('ping', (c) => c.ping())).toBe('PONG');
    const accepted = proxy.stats.accepted;
    proxy.cut(); // the connection drops: node-redis starts reconnecting
    proxy.stall(); // its next connection is accepted but never carries data
    await waitFor(() => proxy.stats.accepted > accepted, 'the reconnect to reach the stalled proxy', 10_000);
    proxy.heal(); // the path works again; the stalled connection stays dead
    const failures: string[] = [];
    const reply = await waitFor(async () => {
      try {
        return await client.run('ping', (c) => c.ping());
      } catch (err) {
        failures.push(err instanceof Error ? err.message : String(err));
        return null;
      }
    }, 'a command to be answered after the path healed', { timeoutMs: 15_000, maxIntervalMs: 100 });
    expect(reply).toBe('PONG');
    // It did go through the stuck reconnect: commands failed while it lasted.
    expect(failures.length).toBeGreaterThan(0);
  }, 30_000);

  /** Cuts every connection, lets the reconnects run into a stall, then heals the path. */
  async function reconnectIntoStall(): Promise<void> {
    const accepted = proxy.stats.accepted;
    proxy.cut();
    proxy.stall();
    await waitFor(() => proxy.stats.accepted > accepted, 'a reconnect to reach the stalled proxy', 10_000);
    proxy.heal();
  }

  it('the result subscriber reconnects, keeps its subscription and gets the result', async () => {
    const options = { connectTimeoutMs: 500, commandTimeoutMs: 1000, offlineQueueTimeoutMs: 300, pingIntervalMs: 200 };
    const waiting = new RedisBackend({ url: `redis://127.0.0.1:${proxy.port}/0`, ...options });
    const direct = new RedisBackend({ url: `redis://127.0.0.1:${server.port}/0` });
    try {
      const got: ResultMeta[] = [];
      await waiting.subscribe('stalled-sub', (meta) => got.push(meta));
      await reconnectIntoStall();
      await direct.store({ task_id: 'stalled-sub', status: 'SUCCESS', result: 1, traceback: null, children: [], date_done: null }, { expiresSec: 60 });
      await waitFor(() => got.some((m) => m.status === 'SUCCESS'), 'the result through the subscriber', 15_000);
    } finally {
      await waiting.close();
      await direct.close();
    }
  }, 30_000);

  it('the fanout subscriber (events, remote control) reconnects and keeps its subscription', async () => {
    const listening = new RedisBroker(`redis://127.0.0.1:${proxy.port}/0`, { connectTimeoutMs: 500, commandTimeoutMs: 1000, pingIntervalMs: 200 });
    const direct = new RedisBroker(`redis://127.0.0.1:${server.port}/0`);
    try {
      const got: string[] = [];
      await listening.subscribeFanout('celeryev', '#', (raw) => got.push(raw));
      await reconnectIntoStall();
      // Pub/sub is fire-and-forget: publish until one arrives.
      await waitFor(async () => {
        await direct.publishFanout('celeryev', 'worker.heartbeat', 'beat');
        return got.length > 0;
      }, 'an event through the fanout subscriber', { timeoutMs: 15_000, maxIntervalMs: 200 });
    } finally {
      await listening.close();
      await direct.close();
    }
  }, 30_000);

  it("a first connect whose handshake is never answered fails naming it, not node-redis's \"The client is closed\"", async () => {
    proxy.stall();
    const fresh = new GuardedRedisClient(parseRedisUrl(`redis://127.0.0.1:${proxy.port}/0`), { name: 'first-into-stall', connectTimeoutMs: 300, commandTimeoutMs: 10_000 });
    try {
      const err = (await fresh.run('ping', (c) => c.ping()).catch((e: unknown) => e)) as Error & { code?: string };
      expect(err.code).toBe('CELERIAC_ERR_TRANSPORT');
      expect(err.message).toMatch(/during ping: no answer to the connection's handshake within 300 ms \(connectTimeoutMs\)/);
    } finally {
      proxy.heal();
      await fresh.close(0);
    }
  }, 30_000);
});
