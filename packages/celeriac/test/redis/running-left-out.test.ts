/**
 * An early-acked task's running record (brokers/redis/running.ts) is left out when its end is
 * stored before its ack, in the same write: the app's Redis backend on the broker's connection
 * (redis/shared-commands.ts), where a turn's result stores go out before its acks. A task still
 * running when its ack goes out is recorded, and the record is removed once its end is stored;
 * with the backend on another connection every early-acked task is recorded, as before; a
 * task whose store Redis refuses (an ACL user denied the result keys) is recorded whole while
 * the worker retries the store, and the record goes once the store goes through. Watched
 * through keyspace events on a redis-server of this test's own (the shared server's
 * configuration is not ours to change).
 */
import { pino } from 'pino';
import type { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { createApp, Worker, type App } from '../../src/index.js';
import { BrokerKeys } from '../../src/redis/keys.js';
import { RedisServerProcess, freePort, quietClient, shouldRunRedisTests } from '../support/redis.js';

const run = await shouldRunRedisTests('running records left out');

describe.runIf(run)('running records of early-acked tasks', () => {
  let server: RedisServerProcess;
  let admin: ReturnType<typeof createClient>;
  let events: ReturnType<typeof createClient>;

  beforeAll(async () => {
    server = new RedisServerProcess(await freePort());
    await server.start();
    admin = await quietClient(server.url);
    // Keyspace events of hash commands (hset, hdel) on every key.
    await admin.configSet('notify-keyspace-events', 'Kh');
    events = await quietClient(server.url);
  });

  afterAll(async () => {
    events?.destroy();
    admin?.destroy();
    await server?.kill();
  });

  const url = (db: number, prefix: string) => `redis://127.0.0.1:${server.port}/${db}?global_keyprefix=${prefix}`;

  /**
   * Runs quick tasks (one at a time, then a burst the worker's finishing permits can take at
   * once: a task that waits for a permit is still recorded, its end not on its way yet), then
   * one that sleeps past its ack; the hash commands seen on the app's celeriac.running.
   */
  async function commandsOnRecords(prefix: string, backendDb: number): Promise<{ quick: string[]; slow: string[] }> {
    const seen: string[] = [];
    const records = new BrokerKeys(prefix).running;
    const channel = `__keyspace@0__:${records}`;
    const listener = (event: string) => seen.push(event);
    await events.subscribe(channel, listener);
    // Redis sends a subscriber its notifications in the order of the commands behind them: once
    // the event of a write made now arrives, every event of the records before it has arrived.
    const marker = `${records}:barrier`;
    let marks = 0;
    const onMark = () => marks++;
    await events.subscribe(`__keyspace@0__:${marker}`, onMark);
    const barrier = async () => {
      const before = marks;
      await admin.hSet(marker, 'at', String(before));
      await waitFor(async () => marks > before, 'the barrier’s keyspace event', { timeoutMs: 5000 });
    };
    const app: App = createApp({ broker: url(0, prefix), backend: url(backendDb, prefix), taskDefaultQueue: 'left-out' }, { env: {}, logger: pino({ level: 'silent' }) });
    app.task('left.quick', (n: number) => n + 1);
    // Runs until its own record is seen in Redis: it is still running when its ack goes out.
    app.task('left.slow', async () => {
      await waitFor(async () => seen.includes('hset'), 'the slow task’s record', { timeoutMs: 5000 });
      return 'ran on';
    });
    const worker = new Worker(app, { queues: ['left-out'], concurrency: 8, hostname: `left-out-${prefix}@test` });
    await worker.start();
    try {
      for (let i = 0; i < 5; i++) expect(await (await app.sendTask('left.quick', [i])).get({ timeoutMs: 5000 })).toBe(i + 1);
      const burst = await Promise.all(Array.from({ length: 20 }, async (_, i) => (await app.sendTask('left.quick', [i])).get({ timeoutMs: 5000 })));
      expect(burst).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      // Records written are removed shortly after their store (with the next ack call, or alone).
      await waitFor(async () => (await admin.hLen(records)) === 0, 'the quick tasks’ records, if any, to be removed', { timeoutMs: 5000 });
      await barrier();
      const quick = [...seen];
      seen.length = 0;
      expect(await (await app.sendTask('left.slow', [])).get({ timeoutMs: 10_000 })).toBe('ran on');
      // Its removal rides on the next ack call, or goes alone shortly after.
      await waitFor(async () => seen.includes('hdel'), 'the slow task’s record to be removed', { timeoutMs: 5000 });
      return { quick, slow: [...seen] };
    } finally {
      await worker.close({ deadlineMs: 2000 });
      await app.close();
      await events.unsubscribe(channel, listener);
      await events.unsubscribe(`__keyspace@0__:${marker}`, onMark);
      await admin.del(marker);
    }
  }

  it('leaves out the records of tasks that end in the turn they start in, and records one that runs on', async () => {
    const { quick, slow } = await commandsOnRecords('same:', 0);
    expect(quick).toEqual([]);
    expect(slow).toEqual(['hset', 'hdel']);
  }, 20_000);

  it('records every early-acked task when the backend stores on another connection', async () => {
    const { quick, slow } = await commandsOnRecords('apart:', 1);
    // Written with the acks (one hset per ack call), removed after the stores.
    expect(quick).toContain('hset');
    expect(quick).toContain('hdel');
    // The quick tasks' events all arrived before the barrier: the slow task's are its own.
    expect(slow).toEqual(['hset', 'hdel']);
  }, 20_000);

  it('records a task whole while Redis refuses its store, and removes the record once the retried store goes through', async () => {
    const prefix = 'refused:';
    // Its own broker keys, the revoked set and any channel; the result keys readable only.
    await admin.sendCommand(['ACL', 'SETUSER', 'storeless', 'on', '>pw', 'resetkeys', `~${prefix}*`, '~celeriac:*', '%R~celery-task-meta-*', 'resetchannels', '&*', '+@all']);
    const auth = `redis://storeless:pw@127.0.0.1:${server.port}/0`;
    const app = createApp(
      { broker: `${auth}?global_keyprefix=${prefix}`, backend: auth, taskDefaultQueue: 'refused', workerRedeliveryDelaySec: 0.2 },
      { env: {}, logger: pino({ level: 'silent' }) },
    );
    app.task('left.refused', (a: number, b: number) => a + b);
    const worker = new Worker(app, { queues: ['refused'], concurrency: 2, hostname: 'refused@test' });
    const records = new BrokerKeys(prefix).running;
    await worker.start();
    try {
      const r = await app.sendTask('left.refused', [20, 22]);
      // Acked (its store went out before its ack, and failed): recorded whole, the envelope in the record.
      await waitFor(async () => Object.values(await admin.hGetAll(records)).some((v) => v.includes(r.id) && v.includes(' [{')), 'a whole record of the task whose store was refused', { timeoutMs: 5000 });
      await admin.sendCommand(['ACL', 'SETUSER', 'storeless', '~celery-task-meta-*']);
      expect(await r.get({ timeoutMs: 10_000 })).toBe(42);
      await waitFor(async () => (await admin.hLen(records)) === 0, 'the record to be removed once the end is stored', { timeoutMs: 5000 });
    } finally {
      await worker.close({ deadlineMs: 2000 });
      await app.close();
    }
  }, 30_000);
});
