/**
 * The Redis backend's RunningTasks role (backends/redis/running-tasks.ts, running-record.lua,
 * and the one lost-task mechanism, redis/lost-tasks.ts) on a real Redis: a live holder's records are never taken; a silent
 * holder's are taken once each, at most `limit` a call, and the holder is forgotten once they
 * are all taken; an ended task's record is gone; an unreadable record is dropped. Silence is
 * made by moving a holder's last-seen time back in `celeriac:running.holders` (the scripts
 * read the Redis server's clock), not by waiting.
 */
import type { RedisClientType } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../../src/backends/redis/redis-backend.js';
import { deleteKeys, randomKeyPrefix, REDIS_URL, shouldRunRedisTests } from '../../support/redis.js';
import { plainClient } from '../../failure/support.js';

const ready = await shouldRunRedisTests('RedisBackend running tasks');
const prefix = randomKeyPrefix();
const running = `${prefix}celeriac:running`;
const holders = `${prefix}celeriac:running.holders`;
const GRACE = 60_000;

describe.runIf(ready)('RedisBackend: running-task records', () => {
  let raw: RedisClientType;
  let backend: RedisBackend;

  beforeAll(async () => {
    raw = await plainClient(REDIS_URL);
    backend = new RedisBackend({ url: REDIS_URL, keyPrefix: prefix });
  });
  afterAll(async () => {
    await backend?.close();
    await raw?.close();
    await deleteKeys(prefix);
  });

  it('takes a silent holder\'s records once, a batch at a time, and never a live holder\'s or an ended one', async () => {
    const dead = Array.from({ length: 5 }, (_, i) => ({ tag: `d${i}`, queue: 'q', raw: `{"n":${i},"s":"x\\"y"}` }));
    // Recorded in one turn: one script call.
    await Promise.all([...dead.map((t) => backend.recordRunning('dead@h 1', t)), backend.recordRunning('live@h 2', { tag: '1', queue: 'q', raw: '{}' })]);
    await backend.recordRunning('dead@h 1', { tag: 'ended', queue: 'q', raw: '{}' });
    await backend.forgetRunning('dead@h 1', 'ended');
    await raw.hSet(running, 'garbage', 'not json');
    expect(await raw.hLen(running)).toBe(7);
    expect(await backend.takeLostRunning(GRACE, 100)).toEqual([]);

    const seen = Number(await raw.zScore(holders, 'dead@h_1'));
    await raw.zAdd(holders, { score: seen - GRACE, value: 'dead@h_1' });
    await backend.renewPresence('live@h 2');
    const first = await backend.takeLostRunning(GRACE, 3);
    expect(first).toHaveLength(3);
    expect(await raw.zScore(holders, 'dead@h_1')).not.toBeNull();
    const second = await backend.takeLostRunning(GRACE, 3);
    const all = [...first, ...second].sort((a, b) => a.tag.localeCompare(b.tag));
    expect(all).toEqual(dead.map((t) => ({ ...t, holder: 'dead@h_1' })));
    // All taken: the silent holder is forgotten; the live one and its record stay.
    expect(await raw.zScore(holders, 'dead@h_1')).toBeNull();
    expect(await raw.hKeys(running)).toEqual(['live@h_2 1']);
    expect(await backend.takeLostRunning(GRACE, 100)).toEqual([]);
  });
});
