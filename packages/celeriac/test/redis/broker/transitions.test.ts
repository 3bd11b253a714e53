import type { RedisClientType } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerKeys } from '../../../src/redis/keys.js';
import { deletePrefix, newPrefix, rawClient, redisAvailable } from './redis-test-env.js';
import { readFetchReply } from '../../../src/brokers/redis/fetch-reply.js';
import { Transitions } from '../../../src/brokers/redis/transitions.js';
import { DelayedSet, presenceTtlMs } from '../../../src/brokers/redis/delayed.js';
import { resolveRedisBrokerOptions } from '../../../src/brokers/redis/options.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';

const available = await redisAvailable();
const prefix = newPrefix();

/** A Celery-shaped envelope (properties last, delivery_tag last in them). */
const envelope = (tag: string): string =>
  `{"body": "W10=", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"id": "${tag}"}, "properties": {"delivery_info": {"exchange": "", "routing_key": "big"}, "priority": 0, "body_encoding": "base64", "delivery_tag": "${tag}"}}`;

describe.skipIf(!available)('Transitions: batches of fetch and ack', () => {
  let raw: RedisClientType;
  let t: Transitions;
  const keys = new BrokerKeys(prefix);

  beforeAll(async () => {
    raw = await rawClient();
    t = new Transitions((fn) => fn(raw), keys);
  });

  afterAll(async () => {
    await deletePrefix(raw, prefix);
    await raw?.close();
  });

  it('one fetch larger than a write chunk pops in priority then FIFO order and records every message; one ack settles them all', async () => {
    const [b0, b3] = keys.buckets('big') as [string, string];
    // Producers LPUSH, consumers RPOP: the first pushed is the first delivered.
    const low = Array.from({ length: 1_500 }, (_, i) => `low-${i}`);
    const high = Array.from({ length: 1_200 }, (_, i) => `high-${i}`);
    for (const tag of low) await raw.lPush(b0, envelope(tag));
    for (const tag of high) await raw.lPush(b3, envelope(tag));

    const now = Date.now();
    const got = await t.fetch(keys.buckets('big'), ['big'], 2_600, now, 60_000, 'tok');
    expect(got.map((m) => m.tag)).toEqual([...low, ...high.slice(0, 1_100)]);
    expect(got.slice(0, 2).map((m) => m.offset)).toEqual([0, 0]);
    expect(got.at(-1)?.offset).toBe(1);
    expect(new Set(got.map((m) => m.token)).size).toBe(2_600);
    expect(await raw.hLen(keys.unacked)).toBe(2_600);
    expect(await raw.zCard(keys.unackedIndex)).toBe(2_600);
    expect(await raw.zCard(keys.leases)).toBe(2_600);
    expect(await raw.hGet(keys.leaseData, 'high-5')).toBe(`${got[1_505]?.token} ${b3}`);
    expect(await raw.hGet(keys.unacked, 'low-7')).toBe(`[${envelope('low-7')}, "", "big"]`);
    // Whole seconds: a small zset is a listpack, where a fractional score is re-parsed at every comparison.
    expect(await raw.zScore(keys.unackedIndex, 'high-9')).toBe(Math.floor(now / 1000));
    expect(await raw.lLen(b3)).toBe(100);

    // A wrong token settles nothing, nor does the right one cut short or lengthened; a tag
    // given twice in one call is settled once.
    const first = got[0] as (typeof got)[0];
    const wrong = ['not-the-token', first.token.slice(0, -1), `${first.token}0`, ''].map((token) => t.ack({ tag: first.tag, token }));
    const acks = await Promise.all([...wrong, t.ack(first), t.ack(first), ...got.slice(1).map((m) => t.ack(m))]);
    expect(acks.slice(0, 6)).toEqual([false, false, false, false, true, false]);
    expect(acks.slice(6).every((ok) => ok)).toBe(true);
    for (const key of [keys.unacked, keys.leaseData]) expect(await raw.hLen(key)).toBe(0);
    for (const key of [keys.unackedIndex, keys.leases]) expect(await raw.zCard(key)).toBe(0);
  });

  it('one fetch returns tags read at the end and tags found by decoding, each with its envelope, in pop order', async () => {
    const [b0, , b6] = keys.buckets('mixed') as [string, string, string];
    // Tags read at the envelope's end go in the reply's header; the others (a tag holding a
    // quote, properties not last, text that is not JSON) come after the envelopes.
    const quoted = envelope('x').replace('"delivery_tag": "x"', '"delivery_tag": "say \\"hi\\""');
    const parsed = JSON.parse(envelope('first')) as Record<string, unknown>;
    const propertiesFirst = JSON.stringify({ properties: parsed['properties'], body: parsed['body'] });
    const low = [envelope('a-1'), quoted, envelope('a-2'), 'not json', propertiesFirst, envelope('a-3')];
    for (const env of low) await raw.lPush(b0, env);
    await raw.lPush(b6, envelope('c-1'));
    const got = await t.fetch(keys.buckets('mixed'), ['mixed'], 10, Date.now(), 60_000, 'mix');
    expect(got.map((m) => m.raw)).toEqual([...low, envelope('c-1')]);
    expect(got.map((m) => m.offset)).toEqual([0, 0, 0, 0, 0, 0, 2]);
    expect(got.map((m) => m.token)).toEqual(['mix.0', 'mix.1', 'mix.2', 'mix.3', 'mix.4', 'mix.5', 'mix.6']);
    expect(got.map((m) => m.tag)).toEqual(['a-1', 'say "hi"', 'a-2', 'celeriac-malformed-mix.3', 'first', 'a-3', 'c-1']);
    for (const m of got) expect(await raw.hGet(keys.leaseData, m.tag)).toBe(`${m.token} ${m.offset === 0 ? b0 : b6}`);
    expect(await Promise.all(got.map((m) => t.ack(m)))).toEqual(got.map(() => true));
    expect(await raw.hLen(keys.unacked)).toBe(0);
    expect(await t.fetch(keys.buckets('mixed'), ['mixed'], 10, Date.now(), 60_000, 'none')).toEqual([]);
  });

  it('never moves a lease or a presence back: a renewal written late, after a blocked event loop, keeps the later one', async () => {
    // A renewal is computed when it is queued; one queued just before a task blocked the event
    // loop was written after the block, older than what the lease keeper thread wrote meanwhile,
    // and took the presence 4.5 s into the past (a CI run, 2026-11-29: another worker then
    // reported the blocked worker's early-acked tasks lost).
    await raw.lPush(keys.buckets('late')[0] as string, envelope('late-1'));
    const t0 = Date.now();
    const [held] = await t.fetch(keys.buckets('late'), ['late'], 1, t0, 60_000, 'late');
    if (held === undefined) throw new Error('nothing fetched');
    expect(await t.renewLeases([held], t0 + 10_000, 60_000)).toEqual([]);
    expect(await t.renewLeases([held], t0, 60_000)).toEqual([]);
    expect(await raw.zScore(keys.leases, held.tag)).toBe(t0 + 70_000);
    expect(await raw.zScore(keys.unackedIndex, held.tag)).toBe(Math.floor((t0 + 10_000) / 1000));
    // Forward still moves it.
    await t.renewLeases([held], t0 + 20_000, 60_000);
    expect(await raw.zScore(keys.leases, held.tag)).toBe(t0 + 80_000);

    const delayed = new DelayedSet((fn) => fn(raw), keys);
    const clock = new FakeClock(t0);
    const o = resolveRedisBrokerOptions({ clock });
    await delayed.advertise('late-broker', o);
    clock.advance(5_000);
    await delayed.advertise('late-broker', o);
    const later = t0 + 5_000 + presenceTtlMs(o);
    expect(await raw.zScore(keys.promoters, 'late-broker')).toBe(later);
    await delayed.advertise('late-broker', resolveRedisBrokerOptions({ clock: new FakeClock(t0 - 4_500) }));
    expect(await raw.zScore(keys.promoters, 'late-broker')).toBe(later);
  });

  it('keeps a delivery count in Redis: requeues and lease recoveries of started tasks add one, restores do not, acks and set-asides drop it', async () => {
    const [b0] = keys.buckets('counted') as [string];
    const tags = ['c-acked', 'c-parked'];
    for (const tag of tags) await raw.lPush(b0, envelope(tag));
    const fetchAll = () => t.fetch(keys.buckets('counted'), ['counted'], 10, Date.now(), 60_000, `tok-${Math.random()}`);
    let got = await fetchAll();
    expect(got.map((m) => [m.tag, m.given])).toEqual([['c-acked', 0], ['c-parked', 0]]);
    expect(await raw.exists(keys.deliveries)).toBe(0);
    for (const m of got) expect(await t.requeue(m, b0, m.raw)).toBe(true);
    got = await fetchAll();
    expect(got.map((m) => m.given)).toEqual([1, 1]);
    // A restore (a message that never started) is not counted.
    for (const m of got) expect(await t.restore(m, b0, m.raw)).toBe(true);
    // Fetched again under a lease that has already lapsed (its holder died). Given back before,
    // each counts only if its task started under that lease (count-start.lua): c-acked did,
    // c-parked only waited in the dead worker's prefetch.
    got = await t.fetch(keys.buckets('counted'), ['counted'], 10, Date.now() - 10_000, 1000, 'tok-lapsed');
    expect(got.map((m) => m.given).sort()).toEqual([1, 1]);
    expect(await t.countStart(got.find((m) => m.tag === 'c-acked')!)).toBe(true);
    expect(await t.countStart({ tag: 'c-parked', token: 'not-the-token' })).toBe(false);
    const swept = await t.restoreStale(Date.now(), 3_600_000, 'mutex-token', 100);
    expect(swept?.ours).toBe(2);
    expect(await raw.exists(keys.started)).toBe(0);
    got = await fetchAll();
    expect(got.map((m) => [m.tag, m.given]).sort()).toEqual([['c-acked', 2], ['c-parked', 1]]);
    // A start mark is dropped with its delivery's ack.
    expect(await t.countStart(got.find((m) => m.tag === 'c-acked')!)).toBe(true);
    expect(await raw.hLen(keys.started)).toBe(1);
    expect(await raw.pTTL(keys.deliveries)).toBeGreaterThan(6 * 24 * 3600 * 1000);
    const acked = got.find((m) => m.tag === 'c-acked')!;
    const parked = got.find((m) => m.tag === 'c-parked')!;
    // Acked as the consumer acks it, knowing its delivery count: a message given back before has
    // its count and its start mark dropped (a first delivery, which has neither, skips the look).
    expect(await t.ack({ tag: acked.tag, token: acked.token, deliveryCount: acked.given + 1 })).toBe(true);
    expect(Number(await raw.hExists(keys.deliveries, 'c-acked'))).toBe(0);
    expect(Number(await raw.hExists(keys.started, 'c-acked'))).toBe(0);
    expect((await t.setAside(parked, '{}', { maxCount: 10, maxBytes: 1_000_000, maxRecordBytes: 1_000_000 }, 'dead-letter')).parked).toBe(true);
    expect(await raw.exists(keys.deliveries)).toBe(0);
    expect(await raw.exists(keys.started)).toBe(0);
  });

  it('a fetch short of its batch deletes the doorbells, whose tokens announced messages now gone; a full one keeps them', async () => {
    const buckets = keys.buckets('rung');
    const bell = keys.bell('rung');
    const fetch = (max: number) => t.fetch(buckets, ['rung'], max, Date.now(), 60_000, `tok-${Math.random()}`, [bell]);
    for (const tag of ['r-1', 'r-2']) await raw.lPush(buckets[0]!, envelope(tag));
    await raw.rPush(bell, ['1', '1', '1']);
    expect((await fetch(1)).map((m) => m.tag)).toEqual(['r-1']);
    expect(await raw.lLen(bell)).toBe(3);
    // Short of its batch, with nothing else about (no other step, no delivery counts): the
    // doorbell alone makes the one EXISTS of the usually-absent keys find something.
    expect(await raw.exists(keys.deliveries)).toBe(0);
    expect((await fetch(10)).map((m) => m.tag)).toEqual(['r-2']);
    expect(await raw.exists(bell)).toBe(0);
    // Nothing at all: nothing fetched, nothing deleted, and no error for the absent doorbell.
    expect(await fetch(10)).toEqual([]);
  });

  it('counts the first lease recovery of a message never given back before (nothing says whether it started)', async () => {
    const [b0] = keys.buckets('first-death') as [string];
    await raw.lPush(b0, envelope('f-1'));
    await t.fetch(keys.buckets('first-death'), ['first-death'], 10, Date.now() - 10_000, 1000, 'tok-dead');
    expect((await t.restoreStale(Date.now(), 3_600_000, 'mutex-first', 100))?.ours).toBe(1);
    const [again] = await t.fetch(keys.buckets('first-death'), ['first-death'], 10, Date.now(), 60_000, 'tok-next');
    expect(again?.given).toBe(1);
    expect(await t.ack(again!)).toBe(true);
  });

  it('several queues still rotate after each message, as kombu BRPOP order does', async () => {
    const queues = ['qa', 'qb'];
    for (const q of queues) for (let i = 0; i < 3; i++) await raw.lPush(keys.bucket(q, 0), envelope(`${q}-${i}`));
    const bucketKeys = [0, 3, 6, 9].flatMap((step) => queues.map((q) => keys.bucket(q, step as 0)));
    const got = await t.fetch(bucketKeys, queues, 10, Date.now(), 60_000, 'rot');
    expect(got.map((m) => m.tag)).toEqual(['qa-0', 'qb-0', 'qa-1', 'qb-1', 'qa-2', 'qb-2']);
    expect(await t.ack(got[0] as (typeof got)[0])).toBe(true);
    await Promise.all(got.slice(1).map((m) => t.ack(m)));
  });
});

describe('readFetchReply', () => {
  it('reads offsets of several digits, tags from the header and from after the envelopes', () => {
    const got = readFetchReply(['12:t-a"0"3:t-c"', 'A', 'B', 'C', 'tag "b"'], 'p');
    expect(got).toEqual([
      { offset: 12, raw: 'A', tag: 't-a', token: 'p.0', given: 0 },
      { offset: 0, raw: 'B', tag: 'tag "b"', token: 'p.1', given: 0 },
      { offset: 3, raw: 'C', tag: 't-c', token: 'p.2', given: 0 },
    ]);
  });

  it('reads the delivery counts after `#`, one per message', () => {
    const got = readFetchReply(['12:t-a"0"#4,0', 'A', 'B', 't-b'], 'p');
    expect(got.map((m) => [m.tag, m.given])).toEqual([['t-a', 4], ['t-b', 0]]);
    // A count list of the wrong length is an unknown shape.
    expect(() => readFetchReply(['0:t-a"#1,2', 'A'], 'p')).toThrow(/unknown shape/);
  });

  it('refuses a reply of another shape instead of pairing envelopes with the wrong tags', () => {
    // The flat [offset, envelope, tag, token, ...] reply of an older fetch.lua.
    expect(() => readFetchReply(['0', '{"a": 1}', 'tag', 'tok.0'], 'p')).toThrow(/unknown shape/);
    // A header entry without its closing quote, and more envelopes than header entries.
    expect(() => readFetchReply(['0:t-a', 'A'], 'p')).toThrow(/unknown shape/);
    expect(() => readFetchReply(['0:t-a"', 'A', 'B'], 'p')).toThrow(/unknown shape/);
    // Another script's reply (integers first), as once seen after a reconnect: named, not a TypeError.
    expect(() => readFetchReply([1, 0] as unknown as string[], 'p')).toThrow(/unknown shape \(2 entries, the first 1\)/);
  });
});
