/**
 * An app's Redis broker and Redis backend on the same server share one command connection
 * (redis/shared-commands.ts), so a worker's ack and result store go out in one write. On a
 * redis-server of its own, so that CLIENT LIST and the kill below touch this test's
 * connections only.
 */
import { pino } from 'pino';
import type { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { createApp, Worker, type App } from '../../src/index.js';
import { CeleriacError, ErrorCodes } from '../../src/errors.js';
import { RedisServerProcess, freePort, quietClient, shouldRunRedisTests } from '../support/redis.js';

const run = await shouldRunRedisTests('shared command connection');

describe.runIf(run)('one command connection for an app’s Redis broker and backend', () => {
  let server: RedisServerProcess;
  let admin: ReturnType<typeof createClient>;
  const apps: App[] = [];

  beforeAll(async () => {
    server = new RedisServerProcess(await freePort());
    await server.start();
    admin = await quietClient(server.url);
  });

  afterAll(async () => {
    for (const app of apps) await app.close().catch(() => undefined);
    admin?.destroy();
    await server?.kill();
  });

  const url = (db = 0, prefix = '') => `redis://127.0.0.1:${server.port}/${db}${prefix === '' ? '' : `?global_keyprefix=${prefix}`}`;
  const open = (broker: string, backend: string): App => {
    const app = createApp({ broker, backend, taskDefaultQueue: 'shared' }, { env: {}, logger: pino({ level: process.env['ZZ_LOG'] ?? 'silent' }) });
    apps.push(app);
    return app;
  };
  /** The server's command connections of Celeriac, by name (subscribers left out). */
  const commandConnections = async (): Promise<string[]> =>
    (await admin.clientList()).map((c) => c.name).filter((name) => name === 'celeriac-broker' || name === 'celeriac-backend').sort();

  it('runs a task end to end over one command connection when both URLs name the same server and database', async () => {
    const app = open(url(0, 'app1:'), url(0));
    app.task('shared.add', (a: number, b: number) => a + b);
    const worker = new Worker(app, { queues: ['shared'], concurrency: 2, hostname: 'shared@test' });
    await worker.start();
    try {
      const results = await Promise.all([1, 2, 3].map(async (i) => (await app.sendTask('shared.add', [i, i])).get({ timeoutMs: 5000 })));
      expect(results).toEqual([2, 4, 6]);
      // Named by whichever role opened it first.
      expect(await commandConnections()).toHaveLength(1);
    } finally {
      await worker.close({ deadlineMs: 2000 });
      await app.close();
    }
    await waitFor(async () => (await commandConnections()).length === 0, 'the shared connection to close with the app', { timeoutMs: 5000 });
  }, 20_000);

  it('gives a backend on another database a connection of its own', async () => {
    const app = open(url(0, 'app2:'), url(1));
    await app.broker.connect();
    await app.backend.connect();
    expect(await commandConnections()).toEqual(['celeriac-backend', 'celeriac-broker']);
    await app.close();
  });

  it('keeps the connection for the backend when the broker closes first, and closes it with the backend', async () => {
    const app = open(url(0, 'app3:'), url(0));
    await app.broker.connect();
    await app.backend.store({ status: 'SUCCESS', result: 1, traceback: null, children: [], date_done: null, task_id: 'first' }, { expiresSec: 60 });
    await app.broker.close();
    await app.backend.store({ status: 'SUCCESS', result: 2, traceback: null, children: [], date_done: null, task_id: 'after' }, { expiresSec: 60 });
    expect((await app.backend.get('after'))?.result).toBe(2);
    expect(await commandConnections()).toEqual(['celeriac-broker']); // the broker opened it
    await app.backend.close();
    await waitFor(async () => (await commandConnections()).length === 0, 'the connection to close with its last holder', { timeoutMs: 5000 });
  });

  it('both roles fail with TRANSPORT while the server is down and work again on the same connection when it is back', async () => {
    const app = open(url(0, 'app4:'), url(0));
    app.task('shared.echo', (x: string) => x);
    const worker = new Worker(app, { queues: ['shared'], concurrency: 1, hostname: 'shared-down@test' });
    await worker.start();
    try {
      expect(await (await app.sendTask('shared.echo', ['before'])).get({ timeoutMs: 5000 })).toBe('before');
      await server.kill();
      const down = await app.backend.get('nothing').then(
        () => null,
        (err: unknown) => err,
      );
      expect(down).toBeInstanceOf(CeleriacError);
      expect((down as CeleriacError).code).toBe(ErrorCodes.TRANSPORT);
      await server.start();
      admin.destroy();
      admin = await quietClient(server.url);
      // Reconnected by node-redis (or replaced by the watchdog): sends, results and the worker's acks flow again.
      let echoed: unknown;
      await waitFor(async () => {
        try {
          echoed = await (await app.sendTask('shared.echo', ['after'])).get({ timeoutMs: 2000 });
          return true;
        } catch {
          return false;
        }
      }, 'a round trip after the restart', { timeoutMs: 20_000, maxIntervalMs: 200 });
      expect(echoed).toBe('after');
      expect(await commandConnections()).toHaveLength(1);
    } finally {
      await worker.close({ deadlineMs: 2000 });
      await app.close();
    }
  }, 40_000);
});
