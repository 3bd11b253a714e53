/**
 * The keeper threads a Redis worker starts (leases: brokers/redis/lease-keeper.ts; presence:
 * redis/presence-keeper.ts) never hold the process open: a program that closes its worker and
 * its app ends at once, with nothing of theirs left keeping Node's event loop alive. The lease
 * keeper outlives its last session for a few seconds (another broker may open); its thread is
 * unref'd for that, which a 'message' listener added afterwards used to undo (Node refs a
 * worker's port again then), so such a program waited out the linger before it could exit.
 * Checked in a process of its own (fixtures/close-and-exit.ts): the test runner's own threads
 * are not in its list.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nodeScriptArgs } from '../support/node-script.js';
import { REDIS_URL, deleteKeys, shouldRunRedisTests } from '../support/redis.js';

const run = await shouldRunRedisTests('background threads');
const SCRIPT = fileURLToPath(new URL('./fixtures/close-and-exit.ts', import.meta.url));

describe.runIf(run)('a closed Redis worker', () => {
  it('leaves nothing of its keeper threads keeping the process alive', async () => {
    const prefix = `bg-threads-${randomUUID()}:`;
    try {
      const out = execFileSync(process.execPath, [...nodeScriptArgs(SCRIPT), REDIS_URL, prefix], { encoding: 'utf8', timeout: 30_000 });
      const last = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { sum: number; alive: string[] };
      expect(last.sum).toBe(5);
      // Before: ['MessagePort'], the lease keeper's, until its linger ended.
      expect(last.alive).toEqual([]);
    } finally {
      await deleteKeys(prefix);
    }
  }, 60_000);
});
