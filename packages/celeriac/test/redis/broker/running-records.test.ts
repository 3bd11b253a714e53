/**
 * Running-task records on a real Redis with explicit times. How they are written: the ack of
 * an early-acked task records it (ack.lua writes the broker id and leaves the unacked entry, no
 * command of its own), a delivery acked already by a write of its own (the entry whole), and
 * the removals of one turn go with one ack call, short records' entries with them.
 * How the lost-task mechanism (redis/lost-tasks.ts, take-lost-tasks.lua) reads them: a record
 * of a live broker is never taken; a record of a broker whose presence lapsed is taken once,
 * after the grace; a broker whose presence comes back keeps its records; an unreadable record
 * is dropped, not reported; records in the forms of earlier versions are still read.
 */
import type { RedisClientType } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerKeys } from '../../../src/redis/keys.js';
import { RedisBroker } from '../../../src/brokers/redis/redis-broker.js';
import { RunningRecords } from '../../../src/brokers/redis/running.js';
import { lostTaskRecord } from '../../../src/redis/lost-tasks.js';
import { Transitions, type AckedHeld } from '../../../src/brokers/redis/transitions.js';
import { DelayedSet } from '../../../src/brokers/redis/delayed.js';
import { resolveRedisBrokerOptions } from '../../../src/brokers/redis/options.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { waitFor } from '../../../src/testing/wait-for.js';
import { deletePrefix, newPrefix, prefixedUrl, rawClient, redisAvailable } from './redis-test-env.js';

const available = await redisAvailable();
const prefix = newPrefix();
const GRACE = 10_000;
const T0 = 1_700_000_000_000;

/** A Celery-shaped envelope (properties last, delivery_tag last in them). */
const envelope = (tag: string): string =>
  `{"body": "W10=", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"id": "${tag}", "note": "x\\"y"}, "properties": {"delivery_info": {"exchange": "", "routing_key": "q"}, "priority": 0, "body_encoding": "base64", "delivery_tag": "${tag}"}}`;

/** A delivery as RunningRecords.record sees it. */
type Recordable = AckedHeld & { state: string; queue: string; raw: string };

describe.skipIf(!available)('RunningRecords: lost-task records', () => {
  let raw: RedisClientType;
  const keys = new BrokerKeys(prefix);
  const bucket = keys.bucket('q', 0);

  beforeAll(async () => {
    raw = await rawClient();
  });

  afterAll(async () => {
    await deletePrefix(raw, prefix);
    await raw?.close();
  });

  const until = (check: () => Promise<boolean>): Promise<boolean> => waitFor(check, 'the record writes', 15_000);

  /**
   * A fleet's running records afresh: `live` of broker 'alive' (present until `aliveUntil`) and
   * `lost` of broker 'dead' (silent since `deadAt`); returns the lost ones' tags.
   */
  async function fleetRecords(live: number, lost: number, aliveUntil = T0 + 60_000, deadAt = T0): Promise<string[]> {
    await raw.del([keys.running, keys.runningWalk]);
    await raw.zAdd(keys.promoters, [
      { score: aliveUntil, value: 'alive' },
      { score: deadAt, value: 'dead' },
    ]);
    const records: Record<string, string> = {};
    for (let i = 0; i < live; i++) records[`live-${i}`] = lostTaskRecord('alive', 'q', envelope(`live-${i}`));
    const lostTags = Array.from({ length: lost }, (_, i) => `lost-${i}`);
    for (const tag of lostTags) records[tag] = lostTaskRecord('dead', 'q', envelope(tag));
    await raw.hSet(keys.running, records);
    return lostTags;
  }

  /** Fetches `tags` (pushed first) as `holder`'s broker would, as held deliveries. */
  async function held(t: Transitions, tags: readonly string[]): Promise<Recordable[]> {
    for (const tag of tags) await raw.lPush(bucket, envelope(tag));
    const got = await t.fetch(keys.buckets('q'), ['q'], tags.length, Date.now(), 60_000, `tok-${tags[0]}`);
    return got.map((m) => ({ tag: m.tag, token: m.token, state: 'held', queue: 'q', raw: m.raw }));
  }

  it('the ack writes the record, in the same call; a mark cleared before the ack went out writes none; removals follow', async () => {
    const t = new Transitions((fn) => fn(raw), keys, 'alive');
    const records = new RunningRecords((fn) => fn(raw), t, keys, 'alive', undefined);
    const [a, b, c, late] = await held(t, ['r-a', 'r-b', 'r-c', 'r-late']) as [Recordable, Recordable, Recordable, Recordable];
    const endA = records.record(a);
    const endB = records.record(b);
    endB(); // the task ended before its ack was flushed: nothing to record
    expect(await Promise.all([t.ack(a), t.ack(b), t.ack(c)])).toEqual([true, true, true]);
    // The record is the broker id; the entry stays in unacked, out of kombu's index and our leases.
    expect(await raw.hGetAll(keys.running)).toEqual({ 'r-a': 'alive' });
    expect((await raw.hKeys(keys.unacked)).sort()).toEqual(['r-a', 'r-late']); // r-late: held, not acked yet
    expect(await raw.hGet(keys.unacked, 'r-a')).toBe(`[${envelope('r-a')}, "", "q"]`);
    expect(await raw.zCard(keys.unackedIndex)).toBe(1);
    expect(await raw.zScore(keys.unackedIndex, 'r-a')).toBeNull();
    expect(await raw.zScore(keys.leases, 'r-a')).toBeNull();
    // Acked already: recorded by a write of its own, the entry whole in the record.
    expect(await t.ack(late)).toBe(true);
    const endLate = records.record({ ...late, state: 'settled' });
    await until(async () => (await raw.hExists(keys.running, 'r-late')) === 1);
    expect(await raw.hGet(keys.running, 'r-late')).toBe(`alive [${envelope('r-late')}, "", "q"]`);
    // Another delivery carrying r-late's tag (a producer that reuses tags) is held meanwhile:
    // the removal of a whole record must leave its entry alone.
    await raw.hSet(keys.unacked, 'r-late', 'another delivery');
    // Removals ride on the next ack call: none of their own while acks keep coming.
    endA();
    endLate();
    expect(await raw.hLen(keys.running)).toBe(2);
    const [next] = (await held(t, ['r-next'])) as [Recordable];
    expect(await t.ack(next)).toBe(true);
    expect(await raw.hLen(keys.running)).toBe(0);
    expect(await raw.hGetAll(keys.unacked)).toEqual({ 'r-late': 'another delivery' });
    await raw.hDel(keys.unacked, 'r-late');
    // With no ack to carry it, a removal goes by itself shortly after, the entry with it.
    const [last] = (await held(t, ['r-last'])) as [Recordable];
    const endLast = records.record(last);
    expect(await t.ack(last)).toBe(true);
    expect(await raw.hGet(keys.running, 'r-last')).toBe('alive');
    expect(await raw.hExists(keys.unacked, 'r-last')).toBe(1);
    endLast();
    await until(async () => (await raw.hLen(keys.running)) === 0);
    expect(await raw.hLen(keys.unacked)).toBe(0);
  });

  it('takes a dead broker\'s short record with its unacked entry, once; one without an entry is dropped', async () => {
    await raw.del([keys.running, keys.unacked, keys.unackedIndex]);
    await raw.zAdd(keys.promoters, [
      { score: T0 + 60_000, value: 'alive' },
      { score: T0, value: 'gone' },
    ]);
    const gone = new Transitions((fn) => fn(raw), keys, 'gone');
    const goneRecords = new RunningRecords((fn) => fn(raw), gone, keys, 'gone', undefined);
    const [d, e] = (await held(gone, ['s-lost', 's-empty'])) as [Recordable, Recordable];
    goneRecords.record(d);
    goneRecords.record(e);
    expect(await Promise.all([gone.ack(d), gone.ack(e)])).toEqual([true, true]);
    expect(await raw.hGetAll(keys.running)).toEqual({ 's-lost': 'gone', 's-empty': 'gone' });
    // A Python worker acking a message that reused the tag deletes the entry (kombu's HDEL).
    await raw.hDel(keys.unacked, 's-empty');
    const alive = new RunningRecords((fn) => fn(raw), new Transitions((fn) => fn(raw), keys, 'alive'), keys, 'alive', undefined);
    // Within the grace, the short records stay with their entry.
    expect((await alive.takeLost(T0 + GRACE - 1, GRACE)).lost).toEqual([]);
    expect(await raw.hLen(keys.running)).toBe(2);
    expect((await alive.takeLost(T0 + GRACE, GRACE)).lost).toEqual([{ tag: 's-lost', holder: 'gone', queue: 'q', raw: JSON.stringify(JSON.parse(envelope('s-lost'))) }]);
    expect(await raw.hLen(keys.running)).toBe(0);
    expect(await raw.hLen(keys.unacked)).toBe(0);
    expect((await alive.takeLost(T0 + GRACE, GRACE)).lost).toEqual([]);
  });

  it("a broker's id makes its records a hash table: as a listpack (a UUID's 36 bytes) Redis scanned it on every record, check and removal", async () => {
    const broker = new RedisBroker(prefixedUrl(prefix));
    try {
      const limit = Number((await raw.configGet('hash-max-listpack-value'))['hash-max-listpack-value']);
      expect(broker.id.length).toBeGreaterThan(limit);
      await raw.del(keys.running);
      const t = new Transitions((fn) => fn(raw), keys, broker.id);
      const records = new RunningRecords((fn) => fn(raw), t, keys, broker.id, undefined);
      const [d] = (await held(t, ['enc-a'])) as [Recordable];
      const end = records.record(d);
      expect(await t.ack(d)).toBe(true);
      expect(await raw.hGet(keys.running, 'enc-a')).toBe(broker.id);
      expect(await raw.sendCommand(['OBJECT', 'ENCODING', keys.running])).toBe('hashtable');
      end();
      await t.flushRemovals();
      expect(await raw.exists([keys.running, keys.unacked])).toBe(0);
    } finally {
      await broker.close();
    }
  });

  it('leaves the record out of an ack that follows its task\'s store in the same write, and records the task whole if that store fails', async () => {
    await raw.del([keys.running, keys.unacked, keys.unackedIndex]);
    const t = new Transitions((fn) => fn(raw), keys, 'alive');
    // The result backend stores on this connection, before its acks (redis/shared-commands.ts).
    const records = new RunningRecords((fn) => fn(raw), t, keys, 'alive', undefined, () => true);
    const [ended, refused, running, after] = (await held(t, ['w-ended', 'w-refused', 'w-running', 'w-after'])) as [Recordable, Recordable, Recordable, Recordable];
    const endEnded = records.record(ended);
    records.storing(ended, Promise.resolve());
    const endRefused = records.record(refused);
    let refuse!: (error: Error) => void;
    records.storing(refused, new Promise((_, reject) => (refuse = reject)));
    const endRunning = records.record(running); // its body still runs: no store yet
    const endAfter = records.record(after);
    expect(await Promise.all([t.ack(ended), t.ack(refused), t.ack(running), t.ack(after)])).toEqual([true, true, true, true]);
    // A store handed over once the ack went out changes nothing: the record is in Redis already.
    records.storing(after, Promise.resolve());
    expect(await raw.hGetAll(keys.running)).toEqual({ 'w-running': 'alive', 'w-after': 'alive' });
    // Left out: acked as a late ack is, its unacked entry gone with it.
    expect((await raw.hKeys(keys.unacked)).sort()).toEqual(['w-after', 'w-running']);
    // The store fails (the backend refused it): the task is recorded whole while the worker retries.
    refuse(new Error('NOPERM'));
    await until(async () => (await raw.hExists(keys.running, 'w-refused')) === 1);
    expect(await raw.hGet(keys.running, 'w-refused')).toBe(`alive [${envelope('w-refused')}, "", "q"]`);
    for (const end of [endEnded, endRefused, endRunning, endAfter]) end();
    await until(async () => (await raw.hLen(keys.running)) === 0);
    expect(await raw.hLen(keys.unacked)).toBe(0);
  });

  it('keeps the record when the result backend stores elsewhere: the ack could land without the store', async () => {
    await raw.del([keys.running, keys.unacked, keys.unackedIndex]);
    const t = new Transitions((fn) => fn(raw), keys, 'alive');
    const records = new RunningRecords((fn) => fn(raw), t, keys, 'alive', undefined, () => false);
    const [d] = (await held(t, ['w-apart'])) as [Recordable];
    const end = records.record(d);
    records.storing(d, Promise.resolve());
    expect(await t.ack(d)).toBe(true);
    expect(await raw.hGetAll(keys.running)).toEqual({ 'w-apart': 'alive' });
    end();
    await t.flushRemovals();
    expect(await raw.exists([keys.running, keys.unacked])).toBe(0);
  });

  it('a failed ack retried after the task ended records nothing', async () => {
    const t = new Transitions((fn) => fn(raw), keys, 'alive');
    const records = new RunningRecords((fn) => fn(raw), t, keys, 'alive', undefined);
    const [d] = (await held(t, ['r-retry'])) as [Recordable];
    const end = records.record(d);
    const failing = new Transitions(() => Promise.reject(new Error('connection lost')), keys, 'alive');
    await expect(failing.ack(d)).rejects.toThrow('connection lost');
    expect(d.running).toBe('sent');
    end();
    // The record would be written by the ack call itself, in the same script.
    expect(await t.ack(d)).toBe(true);
    expect(await raw.hExists(keys.running, 'r-retry')).toBe(0);
  });

  it('takes an orphan once, only after the grace, and never a live broker\'s or an ended one', async () => {
    await raw.del(keys.running);
    // 'dead' stopped renewing: its presence expired at T0.
    await raw.zAdd(keys.promoters, [
      { score: T0 + 60_000, value: 'alive' },
      { score: T0, value: 'dead' },
    ]);
    const t = new Transitions((fn) => fn(raw), keys, '');
    const alive = new RunningRecords((fn) => fn(raw), t, keys, 'alive', undefined);
    const dead = new RunningRecords((fn) => fn(raw), t, keys, 'dead', undefined);
    const settled = (tag: string): Recordable => ({ tag, token: 'x', state: 'settled', queue: 'q', raw: envelope(tag) });
    alive.record(settled('t-alive'));
    dead.record(settled('t-dead'));
    const end = dead.record(settled('t-ended'));
    await until(async () => (await raw.hLen(keys.running)) === 3);
    end();
    await until(async () => (await raw.hLen(keys.running)) === 2);
    await raw.hSet(keys.running, 't-garbage', 'not json');
    await raw.hSet(keys.running, 't-garbage2', '[1, 2]');
    await raw.hSet(keys.running, 't-garbage3', 'nospace');

    // Within the grace: nothing taken; the garbage records are dropped.
    expect((await alive.takeLost(T0 + GRACE - 1, GRACE)).lost).toEqual([]);
    for (const g of ['t-garbage', 't-garbage2', 't-garbage3']) expect(await raw.hExists(keys.running, g)).toBe(0);
    expect(await raw.hLen(keys.running)).toBe(2);
    const taken = (await Promise.all([alive.takeLost(T0 + GRACE, GRACE), dead.takeLost(T0 + GRACE, GRACE)])).map((t) => t.lost);
    expect(taken.flat()).toEqual([{ tag: 't-dead', holder: 'dead', queue: 'q', raw: JSON.stringify(JSON.parse(envelope('t-dead'))) }]);
    expect(await raw.hKeys(keys.running)).toEqual(['t-alive']);
  });

  it("walks the fleet's records a stretch per call, going on from where any worker's call stopped, and rests the walk after a pass", async () => {
    const lostTags = await fleetRecords(3000, 30);
    const t = new Transitions((fn) => fn(raw), keys, '');
    const workers = [new RunningRecords((fn) => fn(raw), t, keys, 'a', undefined), new RunningRecords((fn) => fn(raw), t, keys, 'b', undefined)];
    const REST = 5_000;
    /** Two workers' sweeps take turns until the walk rests; what they took, and how many calls. */
    async function pass(now: number): Promise<{ taken: string[]; calls: number; more: boolean[] }> {
      const taken: string[] = [];
      const more: boolean[] = [];
      let calls = 0;
      while (calls < 20 && (await raw.get(keys.runningWalk)) !== `rest:${now + REST}`) {
        const got = await (workers[calls % 2] as RunningRecords).takeLost(now, GRACE, REST);
        taken.push(...got.lost.map((l) => l.tag));
        more.push(got.more);
        calls++;
      }
      return { taken: taken.sort(), calls, more };
    }
    const first = await pass(T0 + GRACE);
    // 3,030 records, about a thousand per call: one call read them all before.
    expect(first.calls).toBeGreaterThanOrEqual(3);
    expect(first.calls).toBeLessThan(20);
    expect(first.taken).toEqual([...lostTags].sort());
    // Each call but the last says the pass goes on (the sweep then comes back soon).
    expect(first.more).toEqual([...Array.from({ length: first.calls - 1 }, () => true), false]);
    expect(await raw.hLen(keys.running)).toBe(3000);
    // Resting: calls return at once, and a record lost meanwhile waits for the next pass.
    await raw.hSet(keys.running, 'lost-late', lostTaskRecord('dead', 'q', envelope('lost-late')));
    expect(await (workers[0] as RunningRecords).takeLost(T0 + GRACE + REST - 1, GRACE, REST)).toEqual({ lost: [], more: false });
    expect(await raw.hExists(keys.running, 'lost-late')).toBe(1);
    expect((await pass(T0 + GRACE + REST)).taken).toEqual(['lost-late']);
    await raw.del([keys.running, keys.runningWalk]);
  });

  it("a broker whose sweep's walk stopped mid-pass sweeps again soon: one worker with many records is not a sweep period per thousand records late", async () => {
    // On the real clock: 'alive' present for the whole test, 'dead' silent for a minute.
    const lostTags = await fleetRecords(4000, 8, Date.now() + 120_000, Date.now() - 60_000);
    // A sweep every 10 s, a grace of 1 s: at a thousand records a call, the pass took four sweeps (30 s) before.
    const broker = new RedisBroker(prefixedUrl(prefix), { sweepIntervalMs: 10_000, lostTaskGraceSec: 1 });
    const reported: string[] = [];
    const consumer = broker.consume({ queues: [`walk-${Date.now()}`], prefetch: 1, onDelivery: () => undefined, onLost: (lost) => reported.push(...lost.map((l) => l.tag)) });
    try {
      await waitFor(() => reported.length === lostTags.length, 'every lost record reported', 5_000);
      expect(reported.sort()).toEqual([...lostTags].sort());
    } finally {
      await consumer.close();
      await broker.close();
      await raw.del([keys.running, keys.runningWalk]);
    }
  });

  it('a call that hands out its most records stops in the middle of a page; the next call reads that page again and misses none', async () => {
    // More than one call hands out (100), spread through the pages.
    const lostTags = await fleetRecords(2000, 250);
    const worker = new RunningRecords((fn) => fn(raw), new Transitions((fn) => fn(raw), keys, ''), keys, 'a', undefined);
    const taken: string[] = [];
    for (let calls = 0; calls < 30 && (await raw.get(keys.runningWalk)) !== `rest:${T0 + GRACE + 5_000}`; calls++) {
      const { lost: got } = await worker.takeLost(T0 + GRACE, GRACE, 5_000);
      expect(got.length).toBeLessThanOrEqual(100);
      taken.push(...got.map((l) => l.tag));
    }
    expect(taken.sort()).toEqual([...lostTags].sort());
    expect(await raw.hLen(keys.running)).toBe(2000);
    await raw.del([keys.running, keys.runningWalk]);
  });

  it('a key of another type where the walk keeps its cursor: each call walks every record, as before, and the key is left alone', async () => {
    await raw.del([keys.running, keys.runningWalk]);
    await raw.zAdd(keys.promoters, [{ score: T0, value: 'dead' }]);
    await raw.hSet(keys.runningWalk, 'someone', 'else');
    await raw.hSet(keys.running, 'lost-x', lostTaskRecord('dead', 'q', envelope('lost-x')));
    const worker = new RunningRecords((fn) => fn(raw), new Transitions((fn) => fn(raw), keys, ''), keys, 'a', undefined);
    expect((await worker.takeLost(T0 + GRACE, GRACE, 5_000)).lost.map((l) => l.tag)).toEqual(['lost-x']);
    expect(await raw.hGetAll(keys.runningWalk)).toEqual({ someone: 'else' });
    await raw.del([keys.running, keys.runningWalk]);
  });

  it('reads the records of earlier versions (a rolling upgrade)', async () => {
    await raw.del(keys.running);
    await raw.zAdd(keys.promoters, { score: T0 - 1, value: 'old' });
    await raw.hSet(keys.running, 't-old', JSON.stringify(['old', 'q', envelope('t-old'), 0]));
    await raw.hSet(keys.running, 't-marked', `old ${T0 - 5} [${envelope('t-marked')}, "", "q"]`);
    await raw.hSet(keys.running, 't-backend', JSON.stringify(['old', 'b-tag', 'q', envelope('t-backend')]));
    const records = new RunningRecords((fn) => fn(raw), new Transitions((fn) => fn(raw), keys, ''), keys, 'new', undefined);
    const lost = (await records.takeLost(T0 + GRACE, GRACE)).lost.sort((a, b) => a.tag.localeCompare(b.tag));
    expect(lost).toEqual(['t-backend', 't-marked', 't-old'].map((tag) => ({ tag, holder: 'old', queue: 'q', raw: tag === 't-backend' ? envelope(tag) : JSON.stringify(JSON.parse(envelope(tag))) })));
  });

  it("an ETA send or a publisher's rescue inside a paused broker's grace leaves it present: its tasks are not lost before the grace", async () => {
    // A worker stopped for a moment (SIGSTOP, a VM paused): its presence expired at T0, and it
    // holds an early-acked task. publish-eta.lua and rescue-delayed.lua removed expired
    // presences, and an absent holder counts as silent, so the next ETA send anywhere in the
    // fleet made the task lost at once, without the grace (a false WorkerLostError).
    await raw.del([keys.promoters, keys.running, keys.runningWalk]);
    await raw.zAdd(keys.promoters, { score: T0, value: 'paused' });
    await raw.hSet(keys.running, 't-paused', lostTaskRecord('paused', 'q', envelope('t-paused')));
    const delayed = new DelayedSet((fn) => fn(raw), keys);
    expect(await delayed.publish(bucket, envelope('eta'), T0 + 3_600_000, T0 + 5_000, keys.wakeChannel('q'))).toBe('queued');
    expect(await delayed.rescue(T0 + 5_000)).toBe(0);
    const sweeper = new RunningRecords((fn) => fn(raw), new Transitions((fn) => fn(raw), keys, ''), keys, 'sweeper', undefined);
    expect((await sweeper.takeLost(T0 + 5_000, GRACE)).lost).toEqual([]);
    expect(await raw.zScore(keys.promoters, 'paused')).toBe(T0);
    // Silent for the whole grace: lost, and forgotten by the sweep (nothing else removes a presence).
    expect((await sweeper.takeLost(T0 + GRACE, GRACE)).lost.map((l) => l.tag)).toEqual(['t-paused']);
    expect(await raw.zScore(keys.promoters, 'paused')).toBeNull();
    await raw.del([bucket, keys.running, keys.runningWalk]);
  });

  it('a broker advertising itself drops presences that expired more than a day (or its grace, when longer) ago', async () => {
    const now = Date.now();
    const day = 24 * 3600 * 1000;
    await raw.zAdd(keys.promoters, [
      { score: now - day - 1_000, value: 'long-gone' },
      { score: now - day + 60_000, value: 'gone-a-while' },
    ]);
    const delayed = new DelayedSet((fn) => fn(raw), keys);
    await delayed.advertise('me', resolveRedisBrokerOptions({ clock: new FakeClock(now), lostTaskGraceSec: 2 * 24 * 3600 }));
    expect(await raw.zScore(keys.promoters, 'long-gone')).not.toBeNull();
    await delayed.advertise('me', resolveRedisBrokerOptions({ clock: new FakeClock(now) }));
    expect(await raw.zScore(keys.promoters, 'long-gone')).toBeNull();
    expect(await raw.zScore(keys.promoters, 'gone-a-while')).not.toBeNull();
    expect(await raw.zScore(keys.promoters, 'me')).toBe(now + 15_000);
    await raw.zRem(keys.promoters, ['me', 'gone-a-while']);
  });

  it('keeps the records of a broker whose presence comes back, and takes them once it lapses for the grace', async () => {
    await raw.zAdd(keys.promoters, { score: T0 - 1, value: 'flaky' });
    const flaky = new RunningRecords((fn) => fn(raw), new Transitions((fn) => fn(raw), keys, ''), keys, 'flaky', undefined);
    flaky.record({ tag: 't-flaky', token: 'x', state: 'settled', queue: 'q', raw: '{}' });
    await until(async () => (await raw.hExists(keys.running, 't-flaky')) === 1);
    expect((await flaky.takeLost(T0, GRACE)).lost).toEqual([]);
    await raw.zAdd(keys.promoters, { score: T0 + 2 * GRACE, value: 'flaky' });
    expect((await flaky.takeLost(T0 + 2 * GRACE, GRACE)).lost).toEqual([]); // alive again
    expect(await raw.hGet(keys.running, 't-flaky')).toBe('flaky [{}, "", "q"]');
    expect((await flaky.takeLost(T0 + 3 * GRACE - 1, GRACE)).lost).toEqual([]);
    expect((await flaky.takeLost(T0 + 3 * GRACE, GRACE)).lost.map((l) => l.tag)).toEqual(['t-flaky']);
  });
});
