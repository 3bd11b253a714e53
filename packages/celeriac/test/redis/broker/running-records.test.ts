/**
 * lost-running.lua through RunningRecords, on a real Redis with explicit times: a record of a
 * live broker is never taken; an orphan is marked, then taken once after the grace; a broker
 * that comes back unmarks its records; an unreadable record is dropped, not reported; and
 * removing a record (the task's end stored) takes it out of the detection.
 */
import type { RedisClientType } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerKeys } from '../../../src/redis/keys.js';
import { RunningRecords } from '../../../src/brokers/redis/running.js';
import { waitFor } from '../../../src/testing/wait-for.js';
import { deletePrefix, newPrefix, rawClient, redisAvailable } from './redis-test-env.js';

const available = await redisAvailable();
const prefix = newPrefix();
const GRACE = 10_000;
const T0 = 1_700_000_000_000;

describe.skipIf(!available)('RunningRecords: lost-task records', () => {
  let raw: RedisClientType;
  const keys = new BrokerKeys(prefix);
  let alive: RunningRecords;
  let dead: RunningRecords;

  beforeAll(async () => {
    raw = await rawClient();
    alive = new RunningRecords((fn) => fn(raw), keys, 'alive', undefined);
    dead = new RunningRecords((fn) => fn(raw), keys, 'dead', undefined);
  });

  afterAll(async () => {
    await deletePrefix(raw, prefix);
    await raw?.close();
  });

  const until = (check: () => Promise<boolean>): Promise<boolean> => waitFor(check, 'the record writes', 15_000);

  it('takes an orphan once, only after the grace, and never a live broker\'s or an ended one', async () => {
    await raw.zAdd(keys.promoters, [
      { score: T0 + 60_000, value: 'alive' },
      { score: T0 - 1, value: 'dead' },
    ]);
    alive.record('t-alive', 'q', '{"a":1}');
    dead.record('t-dead', 'q', '{"d":"x\\"y"}');
    const end = dead.record('t-ended', 'q', '{}');
    await until(async () => (await raw.hLen(keys.running)) === 3);
    end();
    await until(async () => (await raw.hLen(keys.running)) === 2);
    await raw.hSet(keys.running, 't-garbage', 'not json');

    // First sight: the orphan is marked, nothing taken; the garbage record is dropped.
    expect(await alive.takeLost(T0, GRACE)).toEqual([]);
    expect(await raw.hExists(keys.running, 't-garbage')).toBe(0);
    expect(await alive.takeLost(T0 + GRACE - 1, GRACE)).toEqual([]);
    const taken = await Promise.all([alive.takeLost(T0 + GRACE, GRACE), dead.takeLost(T0 + GRACE, GRACE)]);
    expect(taken.flat()).toEqual([{ tag: 't-dead', holder: 'dead', queue: 'q', raw: '{"d":"x\\"y"}' }]);
    expect(await raw.hKeys(keys.running)).toEqual(['t-alive']);
  });

  it('unmarks the records of a broker whose presence comes back', async () => {
    await raw.zAdd(keys.promoters, { score: T0 - 1, value: 'flaky' });
    const flaky = new RunningRecords((fn) => fn(raw), keys, 'flaky', undefined);
    flaky.record('t-flaky', 'q', '{}');
    await until(async () => (await raw.hExists(keys.running, 't-flaky')) === 1);
    expect(await flaky.takeLost(T0, GRACE)).toEqual([]); // marked
    await raw.zAdd(keys.promoters, { score: T0 + 2 * GRACE, value: 'flaky' });
    expect(await flaky.takeLost(T0 + GRACE, GRACE)).toEqual([]); // alive again: unmarked
    await raw.zAdd(keys.promoters, { score: T0, value: 'flaky' });
    expect(await flaky.takeLost(T0 + 2 * GRACE + 1, GRACE)).toEqual([]); // marked anew
    expect((await flaky.takeLost(T0 + 3 * GRACE + 1, GRACE)).map((l) => l.tag)).toEqual(['t-flaky']);
  });
});
