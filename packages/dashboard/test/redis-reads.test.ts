/**
 * The dashboard reads a cluster's Redis with the engine's key layout and connections: queue
 * depths per priority bucket and the result backfill work through a Sentinel URL (kombu's
 * `sentinel://...?master_name=` and `redis+sentinel://`) and under a `global_keyprefix`, as the
 * engine's broker and backend do. Before, the dashboard parsed the URL itself and connected
 * to the sentinel as if it were Redis. Private servers on free ports (a master and a sentinel).
 */
import { BackendKeys, BrokerKeys, closeRedisClient, createRedisClient, parseRedisUrl } from 'celeriac/redis';
import { createApp } from 'celeriac';
import { waitFor } from 'celeriac/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, RedisServerProcess, SentinelProcess, shouldRunRedisTests } from '../../celeriac/test/support/redis.js';
import { backfillFromRedis } from '../src/ingest/backfill.js';
import { queueReaderFor, RedisQueueReader } from '../src/ingest/queues.js';
import type { BackfilledResult, HistoryStore } from '../src/store/history-store.js';

const MASTER = 'seams-dashboard';
const ready = await shouldRunRedisTests('dashboard: Redis reads through Sentinel');

describe.runIf(ready)('the dashboard reads Redis as the engine does', () => {
  let master: RedisServerProcess;
  let sentinel: SentinelProcess;

  beforeAll(async () => {
    master = new RedisServerProcess(await freePort());
    await master.start();
    sentinel = new SentinelProcess(await freePort(), MASTER, master.port);
    await sentinel.start();
    const c = createRedisClient(parseRedisUrl(`redis://127.0.0.1:${master.port}/0`), { name: 'seams-fill' });
    await c.connect();
    // Queue "q" under the prefix "pfx:": 2 messages at step 0, 1 at step 3, 3 at step 9.
    const keys = new BrokerKeys('pfx:', 0);
    await c.lPush(keys.bucket('q', 0), ['a', 'b']);
    await c.lPush(keys.bucket('q', 3), ['c']);
    await c.lPush(keys.bucket('q', 9), ['d', 'e', 'f']);
    // Unprefixed, as the reader must not count it.
    await c.lPush(new BrokerKeys('', 0).bucket('q', 0), ['x']);
    // Two results in db 1, and a key that only looks like one.
    // A second connection on db 1 (select() is not on a Sentinel-managed client's type).
    const c1 = createRedisClient(parseRedisUrl(`redis://127.0.0.1:${master.port}/1`), { name: 'seams-fill' });
    await c1.connect();
    const meta = (id: string, status: string, result: unknown) => JSON.stringify({ task_id: id, status, result, traceback: null, children: [], date_done: '2026-11-25T07:00:00.000000', name: 't.add', args: [1, 'a'], kwargs: { k: null } });
    await c1.set(new BackendKeys('', 1).taskMeta('id-1'), meta('id-1', 'SUCCESS', 3));
    await c1.set(new BackendKeys('', 1).taskMeta('id-2'), meta('id-2', 'FAILURE', { exc_type: 'ValueError', exc_message: ['bad'], exc_module: 'builtins' }));
    await c1.set('not-a-celery-task-meta', 'x');
    await closeRedisClient(c);
    await closeRedisClient(c1);
  }, 30_000);

  afterAll(async () => {
    await sentinel?.dispose();
    await master?.kill();
  }, 20_000);

  it('counts each priority bucket of a queue under global_keyprefix, through redis+sentinel://', async () => {
    const url = `redis+sentinel://127.0.0.1:${sentinel.port}/${MASTER}/0?global_keyprefix=pfx:`;
    const reader = queueReaderFor(url, undefined as never);
    expect(reader).toBeInstanceOf(RedisQueueReader);
    try {
      // Read as the dashboard polls: a Sentinel connect (the sentinel, then the master) past
      // the reader's 1 s on a loaded host fails that poll, and the next one tries again.
      let failed: unknown;
      const depths = await waitFor(() => reader.lengths(['q', 'empty']).catch((err: unknown) => void (failed = err)), () => `a read; the last failed with ${String(failed)}`, 15_000);
      expect(depths).toEqual([
        // The fills are not Celeriac messages (no uuid7 tag), so no queue tells its age.
        { name: 'q', messages: 6, priorities: { '0': 2, '3': 1, '6': 0, '9': 3 }, waitingSince: null },
        { name: 'empty', messages: 0, priorities: { '0': 0, '3': 0, '6': 0, '9': 0 }, waitingSince: null },
      ]);
    } finally {
      await reader.close();
    }
  }, 20_000);

  it('reads once Redis is up after a first read found none: the next poll connects afresh', async () => {
    const late = new RedisServerProcess(await freePort());
    const reader = new RedisQueueReader(`redis://127.0.0.1:${late.port}/0`);
    try {
      // Nothing listens yet: the first connect gives up (Flower's 1 s), and its client with it.
      await expect(reader.lengths(['q'])).rejects.toThrow();
      await late.start();
      // Before, the failed connect was kept and failed every later poll.
      expect(await reader.lengths(['q'])).toEqual([{ name: 'q', messages: 0, priorities: { '0': 0, '3': 0, '6': 0, '9': 0 }, waitingSince: null }]);
    } finally {
      await reader.close();
      await late.kill();
    }
  }, 20_000);

  it('backfills stored results through kombu\'s sentinel:// form, with the engine\'s Python repr', async () => {
    const got: BackfilledResult[] = [];
    const store = { backfill: async (rs: readonly BackfilledResult[]) => (got.push(...rs), rs.length) } as unknown as HistoryStore;
    const n = await backfillFromRedis(`sentinel://127.0.0.1:${sentinel.port}/1?master_name=${MASTER}`, store);
    expect(n).toBe(2);
    const byId = Object.fromEntries(got.map((r) => [r.uuid, r]));
    expect(byId['id-1']).toMatchObject({ state: 'SUCCESS', result: '3', args: "[1, 'a']", kwargs: "{'k': None}", name: 't.add' });
    expect(byId['id-2']).toMatchObject({ state: 'FAILURE', result: "ValueError(['bad'])" });
  });

  it("backfills through a sentinel:// URL whose master name is in the app's resultBackendTransportOptions", async () => {
    const app = createApp({ backend: `sentinel://127.0.0.1:${sentinel.port}/1`, resultBackendTransportOptions: { master_name: MASTER } }, { env: {} });
    const store = { backfill: async (rs: readonly BackfilledResult[]) => rs.length } as unknown as HistoryStore;
    expect(await backfillFromRedis(app.settings.backend, store, 10, app.settings.resultBackendTransportOptions)).toBe(2);
  });

  it('stops at the limit', async () => {
    const store = { backfill: async (rs: readonly BackfilledResult[]) => rs.length } as unknown as HistoryStore;
    expect(await backfillFromRedis(`redis://127.0.0.1:${master.port}/1`, store, 1)).toBe(1);
  });

  it('fails, not hangs, when the backend is not there', async () => {
    const store = { backfill: async () => 0 } as unknown as HistoryStore;
    const port = await freePort();
    await expect(backfillFromRedis(`redis://127.0.0.1:${port}/1`, store)).rejects.toThrow();
  }, 15_000);
});
