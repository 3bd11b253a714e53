/**
 * What a process loads that it never uses: an app on Redis or memory:// loads no AMQP client
 * (amqplib is imported on the first connect to RabbitMQ), one on memory:// no Redis client
 * (node-redis is required by redis/client.ts when a client is made), and a worker with no
 * OpenTelemetry provider registered never loads @opentelemetry/api (core/otel.ts requires it
 * on first use), nor, with the default time zone, ICU's time-zone data.
 * A fresh process, since this one's module cache holds whatever other tests loaded. And a
 * worker on Redis does not start with V8's young generation grown to its maximum, as
 * node-redis's client factory left it (redis/client-class.ts), nor load the module of every
 * Redis command, as node-redis's command index does (redis/command-table.ts).
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { buildDistIfStale } from './support/node-script.js';
import { deleteKeys, randomKeyPrefix, REDIS_URL, shouldRunRedisTests } from './support/redis.js';

const redisReady = await shouldRunRedisTests('footprint: a worker on Redis');

describe('the library\'s footprint', () => {
  it('an app on Redis or memory:// never loads amqplib; one on amqp:// loads it when it connects', () => {
    buildDistIfStale();
    const index = new URL('../dist/index.js', import.meta.url).href;
    const loaded = (broker: string, connect: boolean): number => {
      const code = `
        const { createRequire } = await import('node:module');
        const { createApp } = await import(${JSON.stringify(index)});
        const app = createApp({ broker: ${JSON.stringify(broker)}, backend: 'memory://' });
        const cache = createRequire(import.meta.url).cache;
        const count = () => Object.keys(cache).filter((k) => k.includes('/amqplib/')).length;
        // RabbitMQ's connect retries while nothing listens: look until the client is loaded, or 5 s.
        if (${connect}) {
          void app.broker.connect().catch(() => undefined);
          const deadline = Date.now() + 5000;
          while (count() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        }
        console.log(count());
        process.exit(0);`;
      // The last line: the app may log (a refused connection) before it.
      return Number(execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000 }).trim().split('\n').at(-1));
    };
    expect(loaded('memory://', true)).toBe(0);
    expect(loaded('redis://127.0.0.1:1/0', false)).toBe(0);
    // Port 1: nothing listens; the connect fails fast, but the client was loaded to try.
    expect(loaded('amqp://guest:guest@127.0.0.1:1//', true)).toBeGreaterThan(0);
  }, 60_000);

  it('a worker on memory:// that ran a task loaded neither node-redis nor, with no provider registered, @opentelemetry/api, and made no Intl date formatter', () => {
    buildDistIfStale();
    const index = new URL('../dist/index.js', import.meta.url).href;
    // The first Intl.DateTimeFormat maps ICU's time-zone data: several MB of resident memory.
    const code = `
      let formatters = 0;
      const Original = Intl.DateTimeFormat;
      Intl.DateTimeFormat = new Proxy(Original, { construct: (target, args) => (formatters++, new target(...args)), apply: (target, self, args) => (formatters++, target(...args)) });
      const { createRequire } = await import('node:module');
      const { createApp, Worker } = await import(${JSON.stringify(index)});
      const app = createApp({ broker: 'memory://', backend: 'memory://', logLevel: 'error' });
      const add = app.task('footprint.add', (x, y) => x + y);
      const worker = new Worker(app, { concurrency: 2 });
      await worker.start();
      const result = await (await add.delay(2, 3)).get({ timeoutMs: 10_000 });
      await worker.close({ deadlineMs: 2000 });
      await app.close();
      const cache = createRequire(import.meta.url).cache;
      const count = (part) => Object.keys(cache).filter((k) => k.includes(part)).length;
      console.log(result, count('/@redis/client/'), count('/@opentelemetry/api/'), formatters);
      process.exit(0);`;
    const last = execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000 }).trim().split('\n').at(-1);
    expect(last).toBe('5 0 0 0');
  }, 60_000);

  it.runIf(redisReady)('a worker on Redis that ran tasks has not grown V8\'s young generation to its maximum (two 16 MB semi-spaces), nor loaded every command\'s module', async () => {
    buildDistIfStale();
    const index = new URL('../dist/index.js', import.meta.url).href;
    const prefix = randomKeyPrefix();
    // With node-redis's own client factory this printed 32 (and RSS ~92 MB); since
    // redis/client-class.ts, 16 (RSS ~78 MB).
    const code = `
      const v8 = await import('node:v8');
      const { createApp, Worker } = await import(${JSON.stringify(index)});
      const app = createApp({ broker: ${JSON.stringify(`${REDIS_URL}?global_keyprefix=${prefix}`)}, backend: ${JSON.stringify(REDIS_URL)}, resultBackendTransportOptions: { global_keyprefix: ${JSON.stringify(prefix)} }, logLevel: 'error' });
      const add = app.task('footprint.add', (x, y) => x + y);
      const worker = new Worker(app, { concurrency: 2 });
      await worker.start();
      for (let i = 0; i < 20; i++) await (await add.delay(i, 1)).get({ timeoutMs: 10_000 });
      const newSpace = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
      await worker.close({ deadlineMs: 2000 });
      await app.close();
      const { createRequire } = await import('node:module');
      const commandModules = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('/@redis/client/dist/lib/commands/')).length;
      console.log(newSpace.space_size / 1048576, commandModules);
      process.exit(0);`;
    try {
      const last = execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000 }).trim().split('\n').at(-1) ?? '';
      const [newSpaceMb, commandModules] = last.split(' ').map(Number);
      expect(newSpaceMb).toBeGreaterThan(0);
      expect(newSpaceMb).toBeLessThan(32);
      // node-redis's index loads ~380; the worker uses a dozen or so (with the index itself).
      expect(commandModules).toBeGreaterThan(0);
      expect(commandModules).toBeLessThan(40);
    } finally {
      await deleteKeys(prefix);
    }
  }, 60_000);
});
