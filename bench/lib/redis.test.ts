/**
 * bench/lib/redis.ts against a real redis-server of the test's own (privateRedis starts it):
 * the probes' private server, and missingKeys, which their completion checks use on drains of
 * any size (one EXISTS spreading 150,000 keys overflowed the stack).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from './args.js';
import { freePort, missingKeys, privateRedis, stopPrivateRedis } from './redis.js';

describe('privateRedis and missingKeys', () => {
  let started: Awaited<ReturnType<typeof privateRedis>>;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    started = await privateRedis(port);
  }, 20_000);

  afterAll(() => stopPrivateRedis(started));

  it('starts a server of its own that answers, without persistence', async () => {
    expect(await started.redis.ping()).toBe('PONG');
    expect(await started.redis.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
    expect(await started.redis.config('GET', 'save')).toEqual(['save', '']);
  });

  it('refuses a port that already answers, and starts nothing there', async () => {
    await expect(privateRedis(port)).rejects.toThrow(UsageError);
    await expect(privateRedis(port)).rejects.toThrow(`port ${port} already answers`);
    expect(await started.redis.ping()).toBe('PONG');
  });

  it('says why when redis-server cannot start, at once', async () => {
    const other = await freePort();
    const t0 = Date.now();
    await expect(privateRedis(other, ['--no-such-flag', 'x'])).rejects.toThrow(`redis-server on port ${other} exited (code 1) before answering`);
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await expect(privateRedis(other)).rejects.toThrow(/redis-server could not start: spawn redis-server ENOENT/);
    } finally {
      process.env.PATH = path;
    }
    expect(Date.now() - t0).toBeLessThan(9_000);
  });

  it('finds the missing keys among many more than one EXISTS call takes', async () => {
    const keys = Array.from({ length: 150_000 }, (_, i) => `k${i}`);
    const present = keys.filter((_, i) => i % 997 !== 0);
    for (let i = 0; i < present.length; i += 10_000) await started.redis.mset(...present.slice(i, i + 10_000).flatMap((k) => [k, '1']));
    const missing = await missingKeys(started.redis, keys);
    expect(missing).toEqual(keys.filter((_, i) => i % 997 === 0));
    expect(await missingKeys(started.redis, present)).toEqual([]);
    expect(await missingKeys(started.redis, [])).toEqual([]);
  }, 60_000);
});
