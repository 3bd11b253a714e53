/**
 * The embedded database keeps free space on its disk: PGlite that met "No space left on
 * device" mid-write never recovered (every later statement failed, or it spun in its
 * WebAssembly holding the dashboard's HTTP server), so a write is refused, saying why, while
 * the disk of its data directory has less than the margin free (store/sql-driver.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openPgliteDriver } from '../src/store/sql-driver.js';

describe('the embedded database on a disk without room', () => {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-pglite-room-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a write while its disk has less free than the margin; reads and the data stay', async () => {
    // A margin no disk has: every write finds too little room.
    const db = await openPgliteDriver(join(dir, 'db'), 'room', undefined, true, Number.MAX_SAFE_INTEGER);
    try {
      await db.exec('CREATE TABLE t (n integer); INSERT INTO t VALUES (1)');
      const write = db.transaction(async (tx) => tx.query('INSERT INTO t VALUES (2)'));
      await expect(write).rejects.toThrow(/^the disk of .+ has [\d.]+ MB free, under the \d+ MB the embedded database keeps free; writes wait until there is room$/);
      expect(await db.query<{ n: number }>('SELECT n FROM t ORDER BY n')).toEqual([{ n: 1 }]);
    } finally {
      await db.close();
    }
  }, 60_000);
});
