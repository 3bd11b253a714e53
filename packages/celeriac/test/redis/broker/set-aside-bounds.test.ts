/**
 * The set-aside store is bounded by count and by bytes on both brokers that keep one: past
 * either bound the oldest records are dropped with a warning, never the record just parked,
 * and the byte total follows replays and purges. Before, Redis kept every set-aside envelope
 * forever (20 MB of one message stayed). On Redis, a store written before the byte counter
 * existed gets its total computed once.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryBroker } from '../../../src/brokers/memory/memory-broker.js';
import { RedisBroker } from '../../../src/brokers/redis/redis-broker.js';
import type { Delivery, QueueBroker, SetAsideListing } from '../../../src/core/spi/broker.js';
import { makeMessage } from '../../../src/testing/broker-harness.js';
import { deletePrefix, newPrefix, prefixedUrl, rawClient, redisAvailable } from './redis-test-env.js';

const available = await redisAvailable();
const prefix = newPrefix();

type Store = QueueBroker & SetAsideListing;
interface Made {
  broker: Store;
  warnings: string[];
}
type Limits = { setAsideMaxCount?: number; setAsideMaxBytes?: number };

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
async function parkSome(broker: Store, n: number, pad = 0): Promise<string> {
  const queue = `bounds-${randomUUID().slice(0, 8)}`;
  for (let i = 0; i < n; i++) {
    const m = makeMessage(`m-${i}`);
    await broker.publish({ ...m, body: Buffer.from(JSON.stringify([['x'.repeat(pad)], {}, {}])).toString('base64') }, { exchange: '', routingKey: queue });
  }
  const got: Delivery[] = [];
  const consumer = broker.consume({ queues: [queue], prefetch: n, onDelivery: (d) => void got.push(d) });
  const deadline = Date.now() + 10_000;
  while (got.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await consumer.close();
  expect(got).toHaveLength(n);
  for (const [i, d] of got.entries()) await d.setAside(`reason ${i}`);
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
        expect(warnings[0]).toMatch(/^set-aside store full \(setAsideMaxCount 3, setAsideMaxBytes 67108864\): dropped the 1 oldest record\(s\), \d+ bytes \(first id [0-9a-f]{16}\)$/);
      } finally {
        await broker.takeSetAside('all', 'purge');
        await broker.close();
      }
    });

    it('keeps at most setAsideMaxBytes, but never drops the record just parked', async () => {
      const { broker, warnings } = make({ setAsideMaxBytes: 25_000 });
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
