/**
 * When a consumer on pub/sub wake-ups may trust them (brokers/redis/wake-subscriber.ts
 * `subscribed`, which lets its poll turn quiet): not before SUBSCRIBED_AFTER_MS after Redis
 * answered its SUBSCRIBE, nor after it subscribed again at a reconnect. A publisher whose
 * wake-up reached nobody skips the next ones of that queue for QUIET_WAKE_MS (publisher.ts):
 * a quiet worker that subscribed in that window missed the messages sent in it until its
 * quiet poll (a minute in redis-sentinel.test.ts: one task in five there waited it out).
 */
import { describe, expect, it } from 'vitest';
import { RETRY_CONNECT_MS, SUBSCRIBED_AFTER_MS, WakeSubscriber } from '../../../src/brokers/redis/wake-subscriber.js';
import { QUIET_WAKE_MS } from '../../../src/brokers/redis/publisher.js';
import { BrokerKeys } from '../../../src/redis/keys.js';
import { parseRedisUrl } from '../../../src/redis/url.js';
import { waitFor } from '../../../src/testing/wait-for.js';
import { freePort, RedisServerProcess, shouldRunRedisTests, usePrivateRedis } from '../../support/redis.js';

const privateServer = await shouldRunRedisTests('the wake-up subscriber on a private redis-server');

describe.skipIf(!privateServer)('WakeSubscriber.subscribed', () => {
  const redis = usePrivateRedis();

  it('is false until SUBSCRIBED_AFTER_MS after the SUBSCRIBE was answered, and again after a reconnect', async () => {
    expect(SUBSCRIBED_AFTER_MS).toBeGreaterThan(QUIET_WAKE_MS);
    const keys = new BrokerKeys('');
    const wake = new WakeSubscriber(parseRedisUrl(redis.server().url), keys, {});
    let woken = 0;
    try {
      // missed(): the break itself; wake(): the 'ready' after it (no message is published here).
      await wake.watch('fresh', { wake: () => void woken++, missed: () => undefined });
      // Answered: the channel is subscribed on the server, but not trusted yet.
      expect(wake.subscribed('fresh')).toBe(false);
      expect(await redis.admin().pubSubNumSub(keys.wakeChannel('fresh'))).toEqual({ [keys.wakeChannel('fresh')]: 1 });
      await waitFor(() => wake.subscribed('fresh'), 'the channel trusted', 5000);
      // The connection killed: node-redis reconnects and subscribes again ('ready').
      const clients = String(await redis.admin().sendCommand(['CLIENT', 'LIST', 'TYPE', 'pubsub']));
      const id = /id=(\d+) [^\n]*name=celeriac-broker-wake/.exec(clients)?.[1];
      expect(id, clients).toBeDefined();
      const before = woken;
      await redis.admin().sendCommand(['CLIENT', 'KILL', 'ID', id as string]);
      // Woken by the 'ready' of the renewed subscription, which is not trusted yet then.
      await waitFor(() => woken > before, 'the consumer woken at the reconnect', 5000);
      expect(wake.subscribed('fresh')).toBe(false);
      await waitFor(() => wake.subscribed('fresh'), 'the channel trusted again', 5000);
    } finally {
      await wake.close();
    }
  });

  it('connects afresh after its first connect failed: by itself a little later, or at the next watch', async () => {
    const server = new RedisServerProcess(await freePort());
    const keys = new BrokerKeys('');
    const wake = new WakeSubscriber(parseRedisUrl(server.url), keys, { connectTimeoutMs: 300 });
    try {
      // Nothing listens yet: the connect gives up.
      await expect(wake.watch('late', { wake: () => undefined })).rejects.toThrow();
      await server.start();
      // Before, the failed connect was kept, and the queue never subscribed.
      await waitFor(() => wake.subscribed('late'), 'the channel subscribed by the retry', 4 * RETRY_CONNECT_MS);
      await wake.watch('later', { wake: () => undefined });
      await waitFor(() => wake.subscribed('later'), 'the channel trusted', 5000);
    } finally {
      await wake.close();
      await server.kill();
    }
  });
});
