/**
 * The HistoryStore suite on the embedded database. Creating a PGlite database runs initdb
 * in WebAssembly (seconds), so the suite shares one in-memory instance (loaded from the cached
 * dump of a fresh database when there is one), a fresh schema per test; one test restarts a
 * store on a real data directory.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openHistoryStore } from '../src/store/index.js';
import { createInMemory, inMemoryDumpPath, seedDataDir, templateCacheRoot } from '../src/store/pglite-template.js';
import { pgliteOptions } from '../src/store/sql-driver.js';
import { historyStorePagesSuite } from './history-store-pages-suite.js';
import { historyStoreSuite, type StoreHarness } from './history-store-suite.js';

// Postgres in WebAssembly only computes: the search test that takes 4 s on an idle 2-core
// machine took 24 s beside the rest of the suite in CI (2026-12-04), past the default 20.
vi.setConfig({ testTimeout: 90_000 });

let shared: PGlite;

beforeAll(async () => {
  shared = await createInMemory({ extensions: { pg_trgm } });
}, 180_000);

afterAll(async () => {
  await shared?.close();
});

function sharedHarness(): StoreHarness {
  const schema = `dash_test_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  return {
    open: (options) => openHistoryStore({ ...options, pglite: shared, schema }),
    reopen: (options) => openHistoryStore({ ...options, pglite: shared, schema }),
    cleanup: async () => {
      await shared.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    },
  };
}

historyStoreSuite('pglite', sharedHarness);
// Every pair of the paging matrix runs on Postgres (history-store.postgres.test.ts), the same SQL.
historyStorePagesSuite('pglite', sharedHarness, { pairs: 'each' });

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

  it('starts a new data directory as a copy of the cached fresh database, and leaves a used one alone', async () => {
    const work = mkdtempSync(join(tmpdir(), 'celeriac-dash-template-'));
    const cache = join(work, 'cache');
    const dir = (name: string) => join(work, name);
    try {
      expect(await seedDataDir(dir('a'), pgliteOptions(), cache)).toBe(true);
      const templates = readdirSync(cache);
      expect(templates).toHaveLength(1);
      expect(templates[0]).toMatch(/^pglite-template-[0-9a-f]{16}$/);
      // The second directory is copied from the same template; nothing new is left in the cache.
      expect(await seedDataDir(dir('b'), pgliteOptions(), cache)).toBe(true);
      expect(readdirSync(cache)).toEqual(templates);
      expect(existsSync(join(dir('b'), 'PG_VERSION'))).toBe(true);
      const store = await openHistoryStore({ dataDir: dir('b') });
      try {
        await store.writeEvents([{ type: 'task-received', uuid: 'seeded-1', name: 'proj.add', kwargs: "{'user_id': 5}", args: "('needle',)", timestamp: 1_795_000_000, hostname: 'w@h' }] as never);
        expect((await store.queryTasks({ search: 'kwargs.user_id:5 needle' })).rows.map((r) => r.uuid)).toEqual(['seeded-1']);
      } finally {
        await store.close();
      }
      // A directory that holds a database (or anything) is never seeded over.
      expect(await seedDataDir(dir('b'), pgliteOptions(), cache)).toBe(false);
      const reopened = await openHistoryStore({ dataDir: dir('b') });
      try {
        expect((await reopened.getTask('seeded-1'))?.task.name).toBe('proj.add');
      } finally {
        await reopened.close();
      }
      // A cache that cannot be made: no seed, the directory stays empty for initdb.
      writeFileSync(join(work, 'not-a-dir'), '');
      expect(await seedDataDir(dir('c'), pgliteOptions(), join(work, 'not-a-dir', 'cache'))).toBe(false);
      expect(existsSync(dir('c')) ? readdirSync(dir('c')) : []).toEqual([]);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 180_000);

  it('starts an in-memory database from the cached dump of a fresh one', async () => {
    // The suite's shared instance (beforeAll) was made the same way: loaded from the dump, or
    // made by initdb and dumped for the next (a fresh cache here would cost one more initdb).
    const dumps = readdirSync(templateCacheRoot()).filter((name) => name.endsWith('.tar'));
    expect(dumps).toContainEqual(expect.stringMatching(/^pglite-template-[0-9a-f]{16}\.tar$/));
    const db = await createInMemory(pgliteOptions());
    try {
      // A database of its own: fresh, none of the shared instance's schemas.
      expect(await db.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'dash_test_%'`)).toMatchObject({ rows: [] });
      const store = await openHistoryStore({ pglite: db, schema: 'dash_from_dump' });
      await store.writeEvents([{ type: 'task-received', uuid: 'dumped-1', name: 'proj.add', kwargs: "{'user_id': 7}", timestamp: 1_795_000_000, hostname: 'w@h' }] as never);
      expect((await store.queryTasks({ search: 'kwargs.user_id:7' })).rows.map((r) => r.uuid)).toEqual(['dumped-1']);
      await store.close();
    } finally {
      await db.close();
    }
  }, 180_000);

  it('an unreadable cached dump costs an initdb, not the database: it is made afresh and the dump written again', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'celeriac-dash-dump-'));
    try {
      const dump = inMemoryDumpPath(pgliteOptions(), cache);
      mkdirSync(cache, { recursive: true });
      writeFileSync(dump, 'not a tar, cut short by a crash');
      const db = await createInMemory(pgliteOptions(), cache);
      try {
        const store = await openHistoryStore({ pglite: db, schema: 'dash_bad_dump' });
        await store.writeEvents([{ type: 'task-received', uuid: 'bad-dump-1', name: 'proj.add', timestamp: 1_795_000_000, hostname: 'w@h' }] as never);
        expect((await store.getTask('bad-dump-1'))?.task.name).toBe('proj.add');
        await store.close();
      } finally {
        await db.close();
      }
      // Replaced by a real dump (megabytes), which the next database loads.
      expect(statSync(dump).size).toBeGreaterThan(1_000_000);
      const next = await createInMemory(pgliteOptions(), cache);
      await next.close();
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }, 180_000);
});
