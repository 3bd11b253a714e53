/**
 * `celeriac purge` on real brokers: countdown messages waiting in Redis's `celeriac.delayed`
 * or RabbitMQ's delay queues are purged and counted apart; a broker lost between two queues
 * fails the purge with an error saying what was purged first and what was not. Redis: a
 * private redis-server (killed by the test); RabbitMQ: a vhost of its own.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { purgeQueues } from '../../src/cli/commands/purge.js';
import type { CliContext } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { createApp, Worker, type App } from '../../src/index.js';
import type { Broker } from '../../src/exports/spi.js';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../support/amqp-env.js';
import { freePort, RedisServerProcess, shouldRunRedisTests, waitForPromoter } from '../support/redis.js';

const redisReady = await shouldRunRedisTests('purge on Redis');
const amqpReady = await amqpAvailable();
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
}, 30_000);

async function purgeCli(app: App, ...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = { app, io: { out: (s) => void out.push(s), err: (s) => void err.push(s), cwd: process.cwd(), prompt: async () => null } };
  const code = await main(['node', 'celeriac', 'purge', '-f', ...args], ctx);
  return { code, stdout: out.join(''), stderr: err.join('') };
}

async function fill(app: App, queue: string, ready: number, delayed: number): Promise<void> {
  for (let i = 0; i < ready; i++) await app.sendTask('t.add', [i, i], {}, { queue });
  for (let i = 0; i < delayed; i++) await app.sendTask('t.add', [i, i], {}, { queue, countdown: 600 });
}

const silentApp = (broker: string, brokerTransportOptions: Record<string, unknown> = {}) =>
  createApp({ broker, backend: 'memory://', brokerTransportOptions }, { env: {}, logger: pino({ level: 'silent' }) });

describe.runIf(redisReady)('celeriac purge on Redis', () => {
  async function setup(): Promise<{ server: RedisServerProcess; app: App }> {
    const server = new RedisServerProcess(await freePort());
    await server.start();
    cleanups.push(() => server.kill());
    // A command sent while the client reconnects to the killed server waits at most
    // connectTimeoutMs (10 s by default) before it fails: 2 s keeps the lost-broker case short.
    const app = silentApp(server.url, { connectTimeoutMs: 2000 });
    cleanups.push(() => app.close());
    // A live Celeriac worker (on another queue) makes countdowns wait in celeriac.delayed.
    const worker = new Worker(app, { queues: ['idle'], concurrency: 1 });
    await worker.start();
    cleanups.push(() => worker.close({ deadlineMs: 1000 }));
    await waitForPromoter(server.url);
    return { server, app };
  }

  it('purges and counts the delayed messages apart', async () => {
    const { app } = await setup();
    await fill(app, 'a', 3, 2);
    await fill(app, 'b', 1, 0);
    expect(await app.broker.delayedCount?.()).toBe(2);
    expect(await purgeCli(app, '-Q', 'a,b')).toEqual({ code: 0, stdout: 'Purged 6 messages from 2 known task queues (2 of them delayed: ETA/countdown).\n', stderr: '' });
    expect(await app.broker.delayedCount?.()).toBe(0);
    expect((await purgeCli(app, '-Q', 'a')).stdout).toBe('No messages purged from 1 queue.\n');
  }, 30_000);

  it('a broker lost half-way: the error says what was purged and which queues were not', async () => {
    const { server, app } = await setup();
    await fill(app, 'a', 2, 2);
    await fill(app, 'b', 1, 1);
    // Redis dies right after the first queue's purge.
    const broker = new Proxy(app.broker, {
      get(target, key, receiver) {
        if (key !== 'purgeCounted') return Reflect.get(target, key, receiver) as unknown;
        return async (queue: string) => {
          const counted = await target.purgeCounted!(queue);
          await server.kill();
          return counted;
        };
      },
    }) as Broker;
    const started = Date.now();
    await expect(purgeQueues(broker, ['a', 'b', 'c'])).rejects.toThrow(/^purge of b failed \(purged 4 messages from a first; not purged: b, c\): .*(127\.0\.0\.1|connect|closed|Redis)/i);
    // Failed within the offline wait (plus the watchdog's sampling), not the 30 s command timeout.
    expect(Date.now() - started).toBeLessThan(15_000);
    // Back (empty: no persistence), so the worker and app close at once.
    await server.start();
  }, 60_000);
});

describe.runIf(amqpReady)('celeriac purge on RabbitMQ', () => {
  it('purges the queue and its messages in the delay queues, counted apart', async () => {
    const vhost = await createVhost('cli-purge');
    cleanups.push(() => deleteVhost(vhost));
    const app = silentApp(vhostUrl(vhost));
    cleanups.push(() => app.close());
    await fill(app, 'a', 3, 2);
    await fill(app, 'other', 0, 1);
    expect(await app.broker.delayedCount?.()).toBe(3);
    expect(await purgeCli(app, '-Q', 'a')).toEqual({ code: 0, stdout: 'Purged 5 messages from 1 known task queue (2 of them delayed: ETA/countdown).\n', stderr: '' });
    // The other queue's delayed message is still there.
    expect((await app.broker.delayedMessages!(null, 10)).map((r) => r.queue)).toEqual(['other']);
  }, 60_000);
});
