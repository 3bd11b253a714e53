/**
 * Beat processes on a real Redis, started through the CLI (`celeriac -A fixtures/beat-app.ts
 * beat`): one entry every second, a 2 s lease. What they sent is read back from the queue
 * list, each message naming its entry and slot (the `celeriac_beat` header).
 * - Two beats; the leader is paused (SIGSTOP) past its lease, then resumed, then the new
 *   leader is SIGKILLed: every slot is sent at most once, and the longest gap between sent
 *   slots stays within a lease plus an interval (plus slack for a loaded machine).
 * - A restart in the middle of the schedule: no slot twice, missed slots caught up by one
 *   run, and the stored run count equals what was sent.
 * Keys live under a random global_keyprefix, deleted afterwards.
 */
import type { RedisClientType } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BeatKeys } from '../../src/brokers/redis/beat-keys.js';
import { plainClient, waitFor } from '../failure/support.js';
import { deleteKeys, randomKeyPrefix, REDIS_URL, shouldRunRedisTests } from '../support/redis.js';
import { decodeRuns, duplicates, killBeats, largestGap, sleep, spawnBeat, type BeatProcess } from './support.js';

const ready = await shouldRunRedisTests('beat failover');
const LEASE_MS = 2000;
const INTERVAL_MS = 1000;
/** Process scheduling on a busy 2-core machine: the bound is about correctness, not speed. */
const SLACK_MS = 4000;

describe.runIf(ready)('beat failover on Redis (spawned beat processes)', () => {
  let raw: RedisClientType;
  const prefixes: string[] = [];

  beforeAll(async () => {
    raw = await plainClient(REDIS_URL);
  });
  afterEach(async () => {
    await killBeats();
  }, 20_000);
  afterAll(async () => {
    await killBeats();
    for (const p of prefixes) await deleteKeys(p);
    raw?.destroy();
  }, 20_000);

  function target(): { broker: string; queueKey: string; prefix: string } {
    const prefix = randomKeyPrefix();
    prefixes.push(prefix);
    return { broker: `${REDIS_URL}?global_keyprefix=${encodeURIComponent(prefix)}`, queueKey: `${prefix}beat-test`, prefix };
  }

  const sent = (queueKey: string) => raw.lLen(queueKey);
  const moreRuns = async (queueKey: string, n: number) => {
    const goal = (await sent(queueKey)) + n;
    await waitFor(`${n} more runs`, async () => (await sent(queueKey)) >= goal, 20_000);
  };

  it('two beats: a paused leader and a killed leader neither duplicate a slot nor leave a gap beyond a lease', async () => {
    const { broker, queueKey } = target();
    const a = spawnBeat(broker, 'beat-test');
    const b = spawnBeat(broker, 'beat-test');
    await waitFor('a leader', () => a.leads() || b.leads(), 40_000);
    let leader: BeatProcess = a.leads() ? a : b;
    let other: BeatProcess = leader === a ? b : a;
    await moreRuns(queueKey, 3);

    // Pause the leader (SIGSTOP) past its lease: the other takes over.
    let mark = other.output().length;
    await leader.signal('SIGSTOP');
    await waitFor('takeover after a pause', () => other.leads(mark), 20_000);
    await moreRuns(queueKey, 3);
    // The old leader wakes up: it must notice it lost the lease and send nothing.
    await leader.signal('SIGCONT');
    await moreRuns(queueKey, 2);
    expect(leader.leads(leader.output().length)).toBe(false);

    // Now kill -9 the current leader: the old one takes over.
    [leader, other] = [other, leader];
    mark = other.output().length;
    await leader.signal('SIGKILL');
    await waitFor('takeover after kill -9', () => other.leads(mark), 20_000);
    await moreRuns(queueKey, 3);
    await other.signal('SIGTERM');

    const runs = decodeRuns(await raw.lRange(queueKey, 0, -1));
    expect(duplicates(runs)).toEqual([]);
    expect(runs.length).toBeGreaterThanOrEqual(11);
    expect(largestGap(runs)).toBeLessThanOrEqual(LEASE_MS + INTERVAL_MS + SLACK_MS);
    expect(runs.every((r) => r.entry === 'tick' && r.task === 'beat.tick')).toBe(true);
  }, 120_000);

  it('a restart in the middle of the schedule: no slot twice, missed slots caught up once, run count kept', async () => {
    const { broker, queueKey, prefix } = target();
    const first = spawnBeat(broker, 'beat-test');
    await waitFor('first leads', () => first.leads(), 40_000);
    await moreRuns(queueKey, 3);
    await first.signal('SIGTERM');
    const before = decodeRuns(await raw.lRange(queueKey, 0, -1));
    await sleep(1500);
    const second = spawnBeat(broker, 'beat-test');
    await waitFor('second leads', () => second.leads(), 40_000);
    await moreRuns(queueKey, 3);
    await second.signal('SIGTERM');

    const runs = decodeRuns(await raw.lRange(queueKey, 0, -1));
    expect(duplicates(runs)).toEqual([]);
    const after = runs.slice(before.length);
    const lastBefore = before.at(-1)?.slot ?? 0;
    expect(after[0]?.slot).toBeGreaterThan(lastBefore);
    // The downtime (stop, 1.5 s, start-up) spans several slots: they collapse into one run.
    expect(after[0]!.slot - lastBefore).toBeGreaterThan(INTERVAL_MS);
    expect(second.output()).toMatch(/missed runs caught up with one run/);
    const state = JSON.parse((await raw.hGet(new BeatKeys(prefix).state, 'tick')) ?? '{}') as { totalRunCount: number; lastRunAt: number };
    expect(state.totalRunCount).toBe(runs.length);
    expect(state.lastRunAt).toBe(runs.at(-1)?.slot);
  }, 120_000);
});
