/**
 * Beat processes on a real Redis, started through the CLI (`celeriac -A fixtures/beat-app.ts
 * beat`): one entry every second, a 2 s lease. What they sent is read back from the queue
 * list, each message naming its entry and slot (the `celeriac_beat` header).
 * - Two beats; the leader is paused (SIGSTOP) past its lease, then resumed, then the new
 *   leader is SIGKILLed: the other takes over each time, and every slot is sent at most once.
 * - A restart in the middle of the schedule: no slot twice, missed slots caught up by one
 *   run, and the stored run count equals what was sent.
 * - A beat whose Redis went away stops at once (in process, on a private redis-server).
 * How soon a takeover comes (within one lease) is timing, checked with a fake clock in
 * src/beat/beat.test.ts; here real processes only show that it happens and nothing repeats.
 * Keys live under a random global_keyprefix, deleted afterwards.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { RedisClientType } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/index.js';
import { Beat } from '../../src/exports/beat.js';
import type { BeatStoreHost } from '../../src/core/spi/beat-store.js';
import { BrokerKeys } from '../../src/redis/keys.js';
import { plainClient } from '../failure/support.js';
import { waitFor } from 'celeriac/testing';
import { deleteKeys, randomKeyPrefix, REDIS_URL, shouldRunRedisTests, usePrivateRedis } from '../support/redis.js';
import { decodeRuns, duplicates, killBeats, spawnBeat, type BeatProcess } from './support.js';

const ready = await shouldRunRedisTests('beat failover');
const INTERVAL_MS = 1000;

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
    await waitFor(async () => (await sent(queueKey)) >= goal, `${n} more runs`, 20_000);
  };

  it('two beats: a paused leader and a killed leader are taken over, and no slot is sent twice', async () => {
    const { broker, queueKey } = target();
    const a = spawnBeat(broker, 'beat-test');
    const b = spawnBeat(broker, 'beat-test');
    await waitFor(() => a.leads() || b.leads(), 'a leader', 40_000);
    let leader: BeatProcess = a.leads() ? a : b;
    let other: BeatProcess = leader === a ? b : a;
    await moreRuns(queueKey, 3);

    // Pause the leader (SIGSTOP) past its lease: the other takes over.
    let mark = other.output().length;
    await leader.signal('SIGSTOP');
    await waitFor(() => other.leads(mark), 'takeover after a pause', 20_000);
    await moreRuns(queueKey, 3);
    // The old leader wakes up: it must notice it lost the lease and send nothing.
    await leader.signal('SIGCONT');
    await moreRuns(queueKey, 2);
    expect(leader.leads(leader.output().length)).toBe(false);

    // Now kill -9 the current leader: the old one takes over.
    [leader, other] = [other, leader];
    mark = other.output().length;
    await leader.signal('SIGKILL');
    await waitFor(() => other.leads(mark), 'takeover after kill -9', 20_000);
    await moreRuns(queueKey, 3);
    await other.signal('SIGTERM');

    const runs = decodeRuns(await raw.lRange(queueKey, 0, -1));
    expect(duplicates(runs)).toEqual([]);
    expect(runs.length).toBeGreaterThanOrEqual(11);
    expect(runs.every((r) => r.entry === 'tick' && r.task === 'beat.tick')).toBe(true);
  }, 120_000);

  it('a restart in the middle of the schedule: no slot twice, missed slots caught up once, run count kept', async () => {
    const { broker, queueKey, prefix } = target();
    const first = spawnBeat(broker, 'beat-test');
    await waitFor(() => first.leads(), 'first leads', 40_000);
    await moreRuns(queueKey, 3);
    await first.signal('SIGTERM');
    const before = decodeRuns(await raw.lRange(queueKey, 0, -1));
    // Down until at least one slot has passed with no beat, so the restart has runs to catch up.
    const lastSlot = before.at(-1)?.slot ?? 0;
    await waitFor(() => Date.now() > lastSlot + 2 * INTERVAL_MS, 'a slot to pass with no beat', 10_000);
    const second = spawnBeat(broker, 'beat-test');
    await waitFor(() => second.leads(), 'second leads', 40_000);
    await moreRuns(queueKey, 3);
    await second.signal('SIGTERM');

    const runs = decodeRuns(await raw.lRange(queueKey, 0, -1));
    expect(duplicates(runs)).toEqual([]);
    const after = runs.slice(before.length);
    const lastBefore = before.at(-1)?.slot ?? 0;
    expect(after[0]?.slot).toBeGreaterThan(lastBefore);
    // The downtime spans at least one slot, more with start-up: they collapse into one run.
    expect(after[0]!.slot - lastBefore).toBeGreaterThan(INTERVAL_MS);
    expect(second.output()).toMatch(/missed runs caught up with one run/);
    const state = JSON.parse((await raw.hGet(new BrokerKeys(prefix).beat.state, 'tick')) ?? '{}') as { totalRunCount: number; lastRunAt: number };
    expect(state.totalRunCount).toBe(runs.length);
    expect(state.lastRunAt).toBe(runs.at(-1)?.slot);
  }, 120_000);
});

describe.runIf(ready)('a beat whose Redis went away (in process, a private redis-server)', () => {
  const redis = usePrivateRedis();

  it('stops at once, leaving the lease to expire, when its lease store knows the server is gone', async () => {
    // A beat with nothing due has opened only its lease store's connection, not the broker's:
    // a check of the broker alone waited out the whole deadline (5 s by default) to release.
    const warnings: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n')) if (l.trim() !== '') warnings.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    const app = createApp({ broker: redis.server().url, backend: 'memory://', beatLeaseTtlSec: 3, beatMaxLoopIntervalSec: 1 }, { env: {}, logger: pino({ level: 'warn' }, sink) });
    const beat = new Beat(app);
    try {
      await beat.start();
      await waitFor(() => beat.isLeader, 'the lease', 10_000);
      await redis.server().kill();
      const store = (app.broker as unknown as BeatStoreHost).beatStore();
      await waitFor(() => store.offline?.() === true, 'the lease store to see the server gone', 10_000);
      // The deadline is longer than this test may take: close() must not wait for it.
      // Before, it waited for the release command to fail (10 s, its reply timeout).
      await beat.close({ deadlineMs: 60_000 });
      expect(beat.state).toBe('closed');
      expect(warnings.filter((l) => String(l['msg']).startsWith('beat: could not release')).map((l) => l['deadlineMs'])).toEqual([0]);
    } finally {
      await beat.close();
      await app.close();
      await redis.server().start();
    }
  });
});
