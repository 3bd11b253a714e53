/**
 * Delayed (ETA / countdown) tasks in the dashboard, on real Redis and RabbitMQ (issue 43
 * point 4): `/api/broker/delayed` lists what the broker holds (Redis: `celeriac.delayed`;
 * RabbitMQ: the delay queues, browsed) with due time, task name, id and args, and counts them;
 * the broker page's purge removes them and says how many were delayed. Redis: a key prefix of
 * its own, with a Celeriac worker on another queue alive so countdowns wait in the delayed set;
 * RabbitMQ: a vhost of its own. Each dashboard has a Postgres schema of its own.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, Worker, type App } from 'celeriac';
import { waitFor } from 'celeriac/testing';
import { deleteKeys, shouldRunRedisTests, waitForPromoter } from '../../celeriac/test/support/redis.js';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../../celeriac/test/support/amqp-env.js';
import { startDashboard, type RunningDashboard } from '../src/dashboard.js';
import type { DelayedAnswer } from '../src/server/routes-delayed.js';
import { PG_URL, postgresReady } from './support/cluster.js';

const pgReady = await postgresReady('dashboard: delayed tasks');
const redisReady = pgReady && (await shouldRunRedisTests('dashboard: delayed tasks on Redis'));
const amqpReady = pgReady && (await amqpAvailable());

const silent = pino({ level: 'silent' });

function suite(label: string, ready: boolean, brokerUrl: () => Promise<{ url: string; cleanup: () => Promise<unknown>; started?: () => Promise<void> }>): void {
  describe.runIf(ready)(`dashboard delayed tasks on ${label}`, () => {
    const schema = `dash_delay_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    let producer: App;
    let dashApp: App;
    let worker: Worker;
    let dash: RunningDashboard;
    let cleanup: () => Promise<unknown> = async () => undefined;

    beforeAll(async () => {
      const broker = await brokerUrl();
      cleanup = broker.cleanup;
      producer = createApp({ broker: broker.url }, { env: {}, logger: silent });
      // A worker alive on another queue: on Redis, countdowns then wait in celeriac.delayed.
      worker = new Worker(producer, { queues: ['dl-idle'], concurrency: 1 });
      await worker.start();
      await broker.started?.();
      dashApp = createApp({ broker: broker.url }, { env: {}, logger: silent });
      dash = await startDashboard({
        app: dashApp, port: 0, address: '127.0.0.1', dataDir: null, databaseUrl: PG_URL, storeOptions: { schema }, backfill: 0, unauthenticatedApi: true,
        ingest: { inspectIntervalMs: 60_000, queuePollMs: 60_000, enableEventsMs: 0, flushMs: 50, inspectTimeoutMs: 200, queues: ['dl-q'] },
      });
    }, 60_000);

    afterAll(async () => {
      await dash?.close();
      await worker?.close({ deadlineMs: 2000 });
      await Promise.all([producer?.close(), dashApp?.close()]);
      await cleanup();
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => client.end());
    }, 60_000);

    const delayed = async (query = '') => (await (await fetch(`${dash.url}/api/broker/delayed${query}`)).json()) as DelayedAnswer;

    it('lists delayed tasks with due time, name, id and args, earliest first, and counts them', async () => {
      const later = await producer.sendTask('dl.report', [{ id: 1, updated: true }], { note: 'x' }, { queue: 'dl-q', countdown: 600 });
      const sooner = await producer.sendTask('dl.add', [1, 2], {}, { queue: 'dl-q', countdown: 300, priority: 3 });
      await producer.sendTask('dl.add', [3, 4], {}, { queue: 'dl-q' });
      const doc = await delayed();
      expect({ ...doc, tasks: doc.tasks.length }).toMatchObject({ supported: true, total: 2, complete: true, error: null, tasks: 2 });
      expect(doc.tasks.map((t) => [t.uuid, t.name, t.queue])).toEqual([[sooner.id, 'dl.add', 'dl-q'], [later.id, 'dl.report', 'dl-q']]);
      const [first, second] = doc.tasks;
      expect(Math.abs(Date.parse(first!.eta) - (Date.now() + 300_000))).toBeLessThan(30_000);
      expect(Math.round(first!.deliver_at * 1000)).toBe(Date.parse(first!.eta));
      expect(first!.args).toBe('(1, 2)');
      // The arguments as Python prints them, as task events carry them: one rendering.
      expect(second!.args).toBe("({'id': 1, 'updated': True},)");
      expect(second!.kwargs).toBe("{'note': 'x'}");
      expect((await delayed('?limit=1')).tasks.map((t) => t.uuid)).toEqual([sooner.id]);
      expect((await delayed('?limit=1')).complete).toBe(false);
    }, 60_000);

    it('purging the queue removes its delayed tasks too and says how many were delayed', async () => {
      const res = await fetch(`${dash.url}/api/broker/purge/dl-q`, { method: 'POST' });
      expect({ status: res.status, body: await res.json() }).toEqual({ status: 200, body: { message: "Purged 3 message(s) from 'dl-q' (2 of them delayed: ETA/countdown)", purged: 3, delayed: 2 } });
      // A listing is reused for two seconds: the next fresh one is empty.
      await waitFor(async () => (await delayed()).total === 0, 'an empty listing', 10_000);
      expect(await delayed()).toMatchObject({ total: 0, complete: true, tasks: [] });
    }, 60_000);
  });
}

suite('Redis', redisReady, async () => {
  const prefix = `dldash-${randomUUID().slice(0, 8)}:`;
  const redis = 'redis://127.0.0.1:6379/10';
  return { url: `${redis}?global_keyprefix=${prefix}`, cleanup: () => deleteKeys(prefix, redis), started: () => waitForPromoter(redis, prefix) };
});

suite('RabbitMQ', amqpReady, async () => {
  const vhost = await createVhost('dash-delayed');
  return { url: vhostUrl(vhost), cleanup: () => deleteVhost(vhost) };
});
