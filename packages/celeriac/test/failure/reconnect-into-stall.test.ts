/**
 * A reconnect whose handshake goes into a dead path. The connection drops (a Redis restart),
 * node-redis reconnects, and the new TCP connection is accepted but never carries data (the
 * network stalls at that moment, or a frozen server accepts TCP and never answers). node-redis
 * bounds only the TCP connect, not the handshake after it, so that client stays "reconnecting"
 * forever, and every command sent through it failed after the offline-queue timeout, for
 * good: the result backend of a worker could never store a result again, and the chaos suite
 * (seed 1852927173: a Redis restart, then a stall) left tasks cycling between held and
 * delayed past its 90 s bound. The command client must give such a connection up and open a
 * new one once the path works again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GuardedRedisClient } from '../../src/redis/guarded-client.js';
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
});
