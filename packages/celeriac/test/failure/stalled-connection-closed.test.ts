/**
 * A command connection that stopped answering is dropped by its reply watchdog (redis/
 * guarded-client.ts) and its socket must really be closed: node-redis's close() followed by
 * destroy() rejected the pending commands but left the socket open (destroy() throws once
 * close() ran), so every stall leaked a connection, and a reply arriving late on it still
 * reached the dropped client's decoder. The next command runs on a fresh connection and gets
 * its own reply.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GuardedRedisClient } from '../../src/redis/guarded-client.js';
import { parseRedisUrl } from '../../src/redis/url.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { REDIS_URL, shouldRunRedisTests } from '../support/redis.js';

const ready = await shouldRunRedisTests('failure: a stalled command connection is closed');

describe.runIf(ready)('failure: a stalled command connection is closed, not just forgotten', () => {
  let proxy: FaultProxy;
  let client: GuardedRedisClient;

  beforeAll(async () => {
    proxy = new FaultProxy(Number(new URL(REDIS_URL).port || 6379));
    await proxy.start();
    client = new GuardedRedisClient(parseRedisUrl(proxy.redisUrl()), { name: 'stalled-connection-closed', commandTimeoutMs: 300 });
  });

  afterAll(async () => {
    await client?.close(0);
    await proxy?.close();
  });

  it('the watchdog closes the stalled socket; the next command gets its own reply', async () => {
    expect(await client.run('echo', (c) => c.echo('before'))).toBe('before');
    expect(proxy.openConnections).toBe(1);
    proxy.stall();
    await expect(client.run('echo', (c) => c.echo('stalled'))).rejects.toThrow(/no reply within/);
    proxy.heal();
    expect(await client.run('echo', (c) => c.echo('after'))).toBe('after');
    await waitFor(() => proxy.openConnections === 1, 'the stalled connection to be closed');
  });

  // The dropped client's close failed the PINGs waiting on the dead path (node-redis's
  // pingInterval), which node-redis reports as an error event ("Disconnects client"); that
  // marked the connection down although nothing was connecting, so the next command, once
  // `offlineQueueTimeoutMs` had passed, failed at once with "not sent: Redis has been
  // unreachable" (the revoke sync 30 s later in the worker of network-blackhole.test.ts).
  it('a command long after the watchdog dropped a connection opens a new one, not "unreachable"', async () => {
    const quick = new GuardedRedisClient(parseRedisUrl(proxy.redisUrl()), { name: 'stalled-then-idle', commandTimeoutMs: 300, offlineQueueTimeoutMs: 1, pingIntervalMs: 20 });
    try {
      expect(await quick.run('echo', (c) => c.echo('before'))).toBe('before');
      proxy.stall();
      await expect(quick.run('echo', (c) => c.echo('stalled'))).rejects.toThrow(/no reply within/);
      proxy.heal();
      await waitFor(() => proxy.openConnections === 1, 'the stalled connection to be closed');
      expect(quick.failure).toBeNull();
      expect(await quick.run('echo', (c) => c.echo('after'))).toBe('after');
    } finally {
      await quick.close(0);
    }
  });
});
