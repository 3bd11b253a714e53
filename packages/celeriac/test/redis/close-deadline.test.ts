/**
 * closeRedisClient (redis/client.ts) waits for replies already due, but at most its deadline,
 * and then really closes the socket. It used node-redis's close() and, past the deadline,
 * destroy(); but destroy() throws once close() ran, before destroying the socket, so a close
 * that missed its deadline (Redis stalled, a reply never coming) left the connection open.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeRedisClient, createRedisClient, type RedisClient } from '../../src/redis/client.js';
import { parseRedisUrl } from '../../src/redis/url.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { REDIS_URL, shouldRunRedisTests } from '../support/redis.js';

const ready = await shouldRunRedisTests('redis: closeRedisClient honours its deadline');

describe.runIf(ready)('redis: closeRedisClient waits for due replies, at most its deadline', () => {
  let proxy: FaultProxy;
  let client: RedisClient;

  beforeEach(async () => {
    proxy = new FaultProxy(Number(new URL(REDIS_URL).port || 6379));
    await proxy.start();
    client = createRedisClient(parseRedisUrl(proxy.redisUrl()), { name: 'close-deadline', offlineQueueTimeoutMs: null });
    await client.connect();
  });

  afterEach(async () => {
    await closeRedisClient(client, 0);
    await proxy.close();
  });

  it('a reply that never comes: the socket is closed after the deadline and the command rejected', async () => {
    expect(await client.echo('before')).toBe('before');
    expect(proxy.openConnections).toBe(1);
    proxy.stall();
    const pending = client.echo('never answered');
    const outcome = pending.then(
      () => 'resolved',
      (err: unknown) => (err instanceof Error ? err.name : String(err)),
    );
    await closeRedisClient(client, 100);
    expect(await outcome).not.toBe('resolved');
    expect(client.isOpen).toBe(false);
    await waitFor(() => proxy.openConnections === 0, 'the stalled connection to be closed by the client');
  });

  it('replies already due are waited for, then the connection is closed', async () => {
    const key = `celeriac-test:close-deadline:${process.pid}`;
    const writes = Array.from({ length: 200 }, (_, i) => client.rPush(key, String(i)));
    await closeRedisClient(client, 10_000);
    expect((await Promise.all(writes)).at(-1)).toBe(200);
    await waitFor(() => proxy.openConnections === 0, 'the connection to be closed');
    const other = createRedisClient(parseRedisUrl(REDIS_URL), { name: 'close-deadline-check' });
    await other.connect();
    try {
      expect(await other.lLen(key)).toBe(200);
      await other.del(key);
    } finally {
      await closeRedisClient(other, 0);
    }
  });

  it("a close while a reconnect's connect is in flight leaves no connection (a closed app's process would never exit)", async () => {
    expect(await client.ping()).toBe('PONG');
    // node-redis emits 'reconnecting' just before it opens the next socket: a close in the
    // microtask after it lands while that socket connects. destroy() ended only the socket the
    // client held, so the new one completed its handshake and stayed, with a PING timer.
    let settled: Promise<string> | undefined;
    const closed = new Promise<void>((resolve) => {
      const onReconnecting = () => {
        if (proxy.mode !== 'pass') return;
        client.off('reconnecting', onReconnecting);
        queueMicrotask(() => {
          settled = new Promise<string>((done) => {
            client.once('ready', () => done('ready'));
            client.once('error', (err: Error) => done(`error: ${err.name}`));
          });
          void closeRedisClient(client, 0).then(resolve);
        });
      };
      client.on('reconnecting', onReconnecting);
    });
    proxy.cut();
    // The first reconnect starts at once; heal once it was refused, while the client waits to retry.
    await waitFor(() => proxy.stats.refused >= 1, 'a reconnect to be refused');
    proxy.heal();
    await closed;
    expect(await settled).toMatch(/^error: /);
    await waitFor(() => proxy.openConnections === 0, 'no connection left open by the closed client');
    expect(client.isReady).toBe(false);
  });

  it('closing twice, or a client that never connected, neither throws nor waits', async () => {
    await closeRedisClient(client, 1000);
    await closeRedisClient(client, 1000);
    const never = createRedisClient(parseRedisUrl(proxy.redisUrl()), { name: 'close-deadline-never' });
    await closeRedisClient(never, 60_000);
    expect(never.isOpen).toBe(false);
  });
});
