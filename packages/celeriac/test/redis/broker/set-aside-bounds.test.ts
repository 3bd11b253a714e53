/**
 * The set-aside store is bounded by count and by bytes on both brokers that keep one: past
 * either bound the oldest records are dropped with a warning, never the record just parked,
 * and the byte total follows replays and purges. Before, Redis kept every set-aside envelope
 * forever (20 MB of one message stayed). On Redis, a store written before the byte counter
 * existed gets its total computed once.
 *
 * Malformed messages and dead-lettered tasks have quotas of their own: a flood of garbage no
 * longer evicts dead letters (the only copy of their tasks), and a record over the record
 * bound keeps its metadata and the start of its envelope instead of flushing the store (one
 * 70 MiB message made a 64 MiB store 73 MB and evicted all 63 older records).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { MemoryBroker } from '../../../src/brokers/memory/memory-broker.js';
import { RedisBroker } from '../../../src/brokers/redis/redis-broker.js';
import type { Delivery, QueueBroker, SetAsideListing } from '../../../src/core/spi/broker.js';
import { makeMessage } from '../../../src/testing/broker-harness.js';
import type { SetAsideCategory, SetAsideQuotaOptions } from '../../../src/core/set-aside.js';
import { deletePrefix, newPrefix, prefixedUrl, rawClient, redisAvailable } from './redis-test-env.js';

const available = await redisAvailable();
const prefix = newPrefix();

type Store = QueueBroker & SetAsideListing;
interface Made {
  broker: Store;
  warnings: string[];
}
type Limits = SetAsideQuotaOptions;

const adapters: [string, boolean, (limits: Limits) => Made][] = [
  ['memory', true, (limits) => {
    const warnings: string[] = [];
    return { broker: new MemoryBroker({ ...limits, log: (_l, m) => void warnings.push(m) }), warnings };
  }],
  ['redis', available, (limits) => {
    const warnings: string[] = [];
    const broker = new RedisBroker(prefixedUrl(prefix), { pollIntervalMs: 20, ...limits, log: (level, m) => void (level === 'warn' && m.includes('set-aside') && warnings.push(m)) });
    return { broker, warnings };
  }],
];

/** Publishes `n` messages with a `pad`-character argument to a fresh queue and sets each aside; returns the queue. */
async function parkSome(broker: Store, n: number, pad = 0, category: SetAsideCategory = 'malformed'): Promise<string> {
  const queue = `bounds-${randomUUID().slice(0, 8)}`;
  for (let i = 0; i < n; i++) {
    const m = makeMessage(`m-${i}`);
    await broker.publish({ ...m, body: Buffer.from(JSON.stringify([['x'.repeat(pad)], {}, {}])).toString('base64') }, { exchange: '', routingKey: queue });
  }
  const got: Delivery[] = [];
  const consumer = broker.consume({ queues: [queue], prefetch: n, onDelivery: (d) => void got.push(d) });
  await waitFor(() => got.length >= n, () => `${n} deliveries (got ${got.length})`, 10_000);
  await consumer.close();
  expect(got).toHaveLength(n);
  for (const [i, d] of got.entries()) await d.setAside(`reason ${i}`, { category });
  return queue;
}

afterAll(async () => {
  if (!available) return;
  const client = await rawClient();
  await deletePrefix(client, prefix);
  await client.close();
});

for (const [name, enabled, make] of adapters) {
  describe.runIf(enabled)(`set-aside store bounds: ${name}`, () => {
    it('keeps at most setAsideMaxCount records, dropping the oldest with a warning', async () => {
      const { broker, warnings } = make({ setAsideMaxCount: 3 });
      try {
        await broker.takeSetAside('all', 'purge');
        await parkSome(broker, 5);
        expect((await broker.setAsideMessages()).map((r) => r.reason)).toEqual(['reason 2', 'reason 3', 'reason 4']);
        expect(warnings).toHaveLength(2);
        expect(warnings[0]).toMatch(/^set-aside store full for malformed records \(at most 3 records, 67108864 bytes\): dropped the 1 oldest, \d+ bytes \(first id [0-9a-f]{16}\)$/);
      } finally {
        await broker.takeSetAside('all', 'purge');
        await broker.close();
      }
    });

    it('keeps at most setAsideMaxBytes, but never drops the record just parked', async () => {
      const { broker, warnings } = make({ setAsideMaxBytes: 25_000, setAsideMaxRecordBytes: 25_000 });
      try {
        await broker.takeSetAside('all', 'purge');
        await parkSome(broker, 3, 10_000);
        // Each record holds its base64 envelope (~13.5 kB): two do not fit in 25 kB.
        expect((await broker.setAsideMessages()).map((r) => r.reason)).toEqual(['reason 2']);
        expect(warnings).toHaveLength(2);
        // One record bigger than the bound stays alone.
        await parkSome(broker, 1, 30_000);
        expect((await broker.setAsideMessages()).map((r) => r.reason)).toEqual(['reason 0']);
        // Purges and replays free their bytes: three small records fit again afterwards.
        await broker.takeSetAside('all', 'purge');
        await parkSome(broker, 3, 10);
        expect(await broker.setAsideMessages()).toHaveLength(3);
        expect(warnings).toHaveLength(3);
      } finally {
        await broker.takeSetAside('all', 'purge');
        await broker.close();
      }
    });

    it('keeps dead letters and malformed messages under quotas of their own', async () => {
      const { broker } = make({ setAsideMaxCount: 3, deadLetterMaxCount: 2 });
      try {
        await broker.takeSetAside('all', 'purge');
        const dead = await parkSome(broker, 2, 0, 'dead-letter');
        // A flood of garbage: only its own part is trimmed.
        await parkSome(broker, 10);
        const records = await broker.setAsideMessages();
        expect(records.filter((r) => r.queue === dead).map((r) => [r.reason, r.category])).toEqual([['reason 0', 'dead-letter'], ['reason 1', 'dead-letter']]);
        expect(records.filter((r) => r.category === 'malformed').map((r) => r.reason)).toEqual(['reason 7', 'reason 8', 'reason 9']);
        // And the other way round.
        await parkSome(broker, 3, 0, 'dead-letter');
        expect((await broker.setAsideMessages()).filter((r) => r.category === 'malformed')).toHaveLength(3);
        const stats = await broker.setAsideStats();
        expect(stats.malformed).toMatchObject({ count: 3, maxCount: 3, maxBytes: 67_108_864 });
        expect(stats['dead-letter']).toMatchObject({ count: 2, maxCount: 2 });
        const stored = await broker.setAsideMessages();
        const bytesOf = (c: SetAsideCategory) => stored.filter((r) => r.category === c).reduce((n, r) => n + Buffer.byteLength(JSON.stringify({ raw: r.raw, queue: r.queue, reason: r.reason, at: r.at, category: r.category })), 0);
        expect(stats.malformed.bytes).toBe(bytesOf('malformed'));
        expect(stats['dead-letter'].bytes).toBe(bytesOf('dead-letter'));
      } finally {
        await broker.takeSetAside('all', 'purge');
        await broker.close();
      }
    });

    it('a record over the record bound keeps its metadata and the start of its envelope, evicts nobody, and is not replayed', async () => {
      const { broker, warnings } = make({ setAsideMaxBytes: 64_000, setAsideMaxRecordBytes: 4096 });
      try {
        await broker.takeSetAside('all', 'purge');
        await parkSome(broker, 3, 100);
        const huge = await parkSome(broker, 1, 200_000);
        const records = await broker.setAsideMessages();
        expect(records).toHaveLength(4);
        expect(warnings).toEqual([]);
        const big = records.find((r) => r.queue === huge);
        expect(big).toMatchObject({ reason: 'reason 0', category: 'malformed', task: 'conformance.noop', taskId: 'm-0' });
        expect(big?.truncated).toBeGreaterThan(200_000);
        expect(Buffer.byteLength(JSON.stringify({ raw: big?.raw, queue: big?.queue, reason: big?.reason, at: big?.at, category: big?.category, truncated: big?.truncated, task: big?.task, taskId: big?.taskId }))).toBeLessThanOrEqual(4096);
        expect(big?.raw.length).toBeGreaterThan(3000);
        // A replay would queue half an envelope: the record stays; a purge removes it.
        expect(await broker.takeSetAside([big?.id ?? ''], 'replay')).toEqual([]);
        expect(await broker.queueLength(huge)).toBe(0);
        expect((await broker.takeSetAside([big?.id ?? ''], 'purge')).map((r) => r.id)).toEqual([big?.id]);
        expect((await broker.setAsideStats()).malformed.count).toBe(3);
      } finally {
        await broker.takeSetAside('all', 'purge');
        await broker.close();
      }
    });
  });
}

describe.runIf(available)('set-aside store bounds: a Redis store written before the byte counter', () => {
  it('computes the total once, then trims by it', async () => {
    const broker = new RedisBroker(prefixedUrl(prefix), { pollIntervalMs: 20, setAsideMaxBytes: 1000 });
    const client = await rawClient();
    try {
      await broker.takeSetAside('all', 'purge');
      const old = JSON.stringify({ raw: 'x'.repeat(600), queue: 'q', reason: 'old', at: 1 });
      await client.rPush(`${prefix}celeriac.setaside`, old);
      expect(await client.exists(`${prefix}celeriac.setaside.bytes`)).toBe(0);
      await parkSome(broker, 1, 300);
      expect((await broker.setAsideMessages()).map((r) => r.reason)).toEqual(['reason 0']);
      const [record] = await client.lRange(`${prefix}celeriac.setaside`, 0, -1);
      expect(Number(await client.get(`${prefix}celeriac.setaside.bytes`))).toBe(Buffer.byteLength(record ?? ''));
    } finally {
      await broker.takeSetAside('all', 'purge');
      expect(await client.exists(`${prefix}celeriac.setaside.bytes`)).toBe(0);
      await client.close();
      await broker.close();
    }
  });
});
