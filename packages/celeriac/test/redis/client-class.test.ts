/**
 * The client class of src/redis/client-class.ts against node-redis's own (`RedisClient.factory`):
 * the same command methods, working on a real Redis, and, in a fresh process, without the
 * young-generation growth node-redis's factory causes.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisClientType } from '@redis/client';
import { newRedisClient } from '../../src/redis/client-class.js';
import { REDIS_URL, shouldRunRedisTests } from '../support/redis.js';

const ready = await shouldRunRedisTests('redis: the client class');
const require = createRequire(import.meta.url);
const NodeRedisClient = (require('@redis/client/dist/lib/client/index.js') as { default: { factory(config: object): (options: object) => object } }).default;

/** Every method's name along an object's prototype chain, up to Object's (a getter counts: ours makes `Multi` on first use). */
function methodNames(object: object): Set<string> {
  const names = new Set<string>();
  for (let o: object | null = object; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const name of Object.getOwnPropertyNames(o)) {
      const d = Object.getOwnPropertyDescriptor(o, name);
      if (d !== undefined && (typeof d.value === 'function' || d.get !== undefined)) names.add(name);
    }
  }
  return names;
}

describe('the client class', () => {
  it('has every command method node-redis\'s own client class has, on the client and on its MULTI', () => {
    const options = { socket: { host: '127.0.0.1', port: 1 } };
    const theirs = NodeRedisClient.factory({})(options) as { multi(): object };
    const ours = newRedisClient(options) as unknown as { multi(): object };
    const theirNames = methodNames(theirs);
    expect(theirNames.size).toBeGreaterThan(700);
    expect([...theirNames].filter((name) => !methodNames(ours).has(name))).toEqual([]);
    const theirMulti = methodNames(theirs.multi());
    expect([...theirMulti].filter((name) => !methodNames(ours.multi()).has(name))).toEqual([]);
    // The same class each time: built once per process.
    expect(Object.getPrototypeOf(Object.getPrototypeOf(ours))).toBe(Object.getPrototypeOf(Object.getPrototypeOf(newRedisClient(options))));
  });

  it('refuses bad options as node-redis\'s own createClient does, at once', () => {
    const theirs = NodeRedisClient.factory({});
    for (const url of ['not a url', 'http://127.0.0.1:6379']) {
      let expected: unknown;
      try {
        theirs({ url });
      } catch (err) {
        expected = err;
      }
      expect(expected).toBeInstanceOf(Error);
      expect(() => newRedisClient({ url })).toThrow((expected as Error).message);
    }
  });

  it('does not grow a fresh process\'s young generation to its maximum, as node-redis\'s factory does', () => {
    // In a fresh process: this one's heap is shaped by whatever ran before. The new space's
    // size after building the class, in MB; node-redis's factory grows it to two 16 MB semi-spaces.
    const newSpaceAfter = (build: string): number => {
      const code = `
        const v8 = await import('node:v8');
        ${build}
        const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
        console.log(s.space_size / 1048576);`;
      return Number(execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000, cwd: new URL('.', import.meta.url).pathname }).trim());
    };
    const module = JSON.stringify(new URL('../../src/redis/client-class.ts', import.meta.url).href);
    const ours = newSpaceAfter(`
      const { register } = await import('tsx/esm/api');
      register();
      const { newRedisClient } = await import(${module});
      newRedisClient({ socket: { host: '127.0.0.1', port: 1 } }).multi();`);
    const theirs = newSpaceAfter(`
      const { createRequire } = await import('node:module');
      const Client = createRequire(import.meta.url)('@redis/client/dist/lib/client/index.js').default;
      Client.factory({})({ socket: { host: '127.0.0.1', port: 1 } });`);
    expect(theirs).toBeGreaterThanOrEqual(32);
    expect(ours).toBeLessThanOrEqual(8);
  }, 60_000);

  describe.runIf(ready)('on a real Redis', () => {
    let client: RedisClientType;
    const key = `celeriac-test:client-class:${randomUUID()}`;

    beforeAll(async () => {
      client = newRedisClient({ url: REDIS_URL });
      client.on('error', () => undefined);
      await client.connect();
    });

    afterAll(async () => {
      await client?.del([key, `${key}:h`]);
      client?.destroy();
    });

    it('runs commands with their argument parsing and reply transforms, and MULTI', async () => {
      expect(await client.set(key, '1', { EX: 60 })).toBe('OK');
      expect(await client.get(key)).toBe('1');
      expect(await client.hSet(`${key}:h`, { a: '1', b: '2' })).toBe(2);
      expect(await client.hGetAll(`${key}:h`)).toEqual({ a: '1', b: '2' });
      expect(await client.multi().incrBy(key, 2).get(key).exec()).toEqual([3, '3']);
      expect(await client.sendCommand(['PING'])).toBe('PONG');
      // A command-options proxy of the client still finds the commands.
      expect(await client.withTypeMapping({}).get(key)).toBe('3');
    });
  });
});
