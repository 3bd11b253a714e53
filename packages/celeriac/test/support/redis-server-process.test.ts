/**
 * RedisServerProcess, the private redis-server of the restart and kill tests: it is ready when
 * its own child says so. A server already on the port (one orphaned by a run killed mid-file)
 * answered for a child that could not bind; the test then ran against that server, and its
 * kill() stopped nothing (access-and-outage.browser.test.ts waited for a broker-down banner).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, RedisServerProcess, redisReachable, redisServerOnPath } from './redis.js';

describe.runIf(redisServerOnPath('RedisServerProcess'))('RedisServerProcess', () => {
  const servers: RedisServerProcess[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.kill()));
  });

  it('refuses to start on a port another server holds, and names why; the other server is left alone', async () => {
    const port = await freePort();
    const first = new RedisServerProcess(port);
    const second = new RedisServerProcess(port);
    servers.push(first, second);
    await first.start();
    await expect(second.start()).rejects.toThrow(/redis-server exited \(1\) on port \d+:[\s\S]*(Address already in use|Could not create server TCP listening socket)/);
    await second.kill();
    expect(await redisReachable(first.url, 2000)).toBe(true);
  });

  it('kill() stops its own server: the port refuses afterwards', async () => {
    const server = new RedisServerProcess(await freePort());
    servers.push(server);
    await server.start();
    await server.kill();
    expect(await redisReachable(server.url, 2000)).toBe(false);
  });
});
