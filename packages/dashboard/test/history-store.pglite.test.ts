/**
 * The HistoryStore suite on the embedded database. Creating a PGlite database runs initdb
 * in WebAssembly (seconds), so the suite shares one in-memory instance, a fresh schema per
 * test; one test restarts a store on a real data directory.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openHistoryStore } from '../src/store/index.js';
import { historyStoreSuite } from './history-store-suite.js';

let shared: PGlite;

beforeAll(async () => {
  shared = await PGlite.create({ extensions: { pg_trgm } });
}, 180_000);

afterAll(async () => {
  await shared?.close();
});

historyStoreSuite('pglite', () => {
  const schema = `dash_test_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  return {
    open: (options) => openHistoryStore({ ...options, pglite: shared, schema }),
    reopen: (options) => openHistoryStore({ ...options, pglite: shared, schema }),
    cleanup: async () => {
      await shared.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    },
  };
});

describe('HistoryStore on a PGlite data directory', () => {
  it('keeps tasks and workers across a restart of the process’s store', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'celeriac-dash-store-'));
    try {
      const first = await openHistoryStore({ dataDir });
      await first.writeEvents([
        { type: 'task-received', uuid: 'persist-1', name: 'proj.add', kwargs: "{'user_id': 9}", timestamp: 1_795_000_000, hostname: 'w@h' },
        { type: 'worker-online', hostname: 'w@h', timestamp: 1_795_000_000 },
      ] as never);
      await first.close();
      const second = await openHistoryStore({ dataDir });
      try {
        expect((await second.getTask('persist-1'))?.task).toMatchObject({ state: 'RECEIVED', name: 'proj.add' });
        expect((await second.queryTasks({ search: 'kwargs.user_id:9' })).total).toBe(1);
        expect((await second.listWorkers()).map((w) => w.hostname)).toEqual(['w@h']);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});
