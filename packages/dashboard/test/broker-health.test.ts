/**
 * The dashboard says when its broker stops answering and when it answers again (the ingest's
 * `onHealth`, which `celeriac flower` writes to stderr): before, a broker it could not reach
 * was said only by `/readyz` and the pages, never in its output. Runs on a redis-server of its
 * own, stopped and started again.
 */
import { createApp } from 'celeriac';
import { waitFor } from 'celeriac/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, RedisServerProcess, shouldRunRedisTests } from '../../celeriac/test/support/redis.js';
import { EventFolder } from '../src/store/fold-events.js';
import type { HistoryStore } from '../src/store/history-store.js';
import { Ingest } from '../src/ingest/ingest.js';

const ready = await shouldRunRedisTests('dashboard: broker health reports');

/** A store that takes every write (the database is not what this file looks at). */
const store = {
  kind: 'pglite',
  newFolder: () => new EventFolder({ payloadCap: 1000, timelineCap: 100 }),
  writeFolded: async () => ({ tasks: 0, workers: 0, ignored: 0 }),
  prune: async () => 0,
  markLost: async () => 0,
} as unknown as HistoryStore;

describe.runIf(ready)('dashboard: the broker stops answering, then answers again', () => {
  let server: RedisServerProcess | undefined;
  afterAll(async () => {
    await server?.stop();
  });

  it('reports the outage once, with why, and the return once', async () => {
    server = new RedisServerProcess(await freePort());
    await server.start();
    const app = createApp({ broker: server.url, backend: server.url, logLevel: 'silent' }, { env: {} });
    const reports: [string, string | null][] = [];
    const ingest = new Ingest(app, store, { queuePollMs: 200, enableEventsMs: 200, inspectIntervalMs: 60_000, onHealth: (part, problem) => void reports.push([part, problem]) });
    try {
      await ingest.start();
      await waitFor(() => ingest.queueDepths.length > 0, 'a first queue poll');
      expect(reports).toEqual([]);
      await server.stop();
      await waitFor(() => reports.length === 1, 'the outage reported', 15_000);
      expect(reports[0]?.[0]).toBe('broker');
      expect(reports[0]?.[1]).toEqual(expect.any(String));
      await server.start();
      await waitFor(() => reports.length === 2, 'the return reported', 15_000);
      expect(reports[1]).toEqual(['broker', null]);
    } finally {
      await ingest.close();
      await app.close();
    }
  }, 45_000);
});
