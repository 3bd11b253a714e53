import { randomUUID } from 'node:crypto';
import type { RedisClientType } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Delivery } from '../../core/spi/broker.js';
import { makeMessage, sleep } from '../../testing/broker-harness.js';
import { RedisBroker } from './redis-broker.js';
import { deletePrefix, newPrefix, prefixedUrl, rawClient, redisAvailable } from './redis-test-env.js';

const available = await redisAvailable();
const prefix = newPrefix();
const url = prefixedUrl(prefix);

async function waitFor(check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await sleep(2);
  }
}

describe.skipIf(!available)('RedisBroker: delayed delivery, promotion and throughput', () => {
  let raw: RedisClientType;
  let broker: RedisBroker;

  beforeAll(async () => {
    raw = await rawClient();
    broker = new RedisBroker(url, { pollIntervalMs: 50 });
    await broker.connect();
  });

  afterAll(async () => {
    await broker?.close();
    await deletePrefix(raw, prefix);
    await raw?.close();
  });

  it('holds a future-ETA publish in celeriac.delayed (a promoter is alive) and delivers it only when due', async () => {
    const queue = `eta-${randomUUID().slice(0, 6)}`;
    const got: { d: Delivery; at: number }[] = [];
    const consumer = broker.consume({ queues: [queue], prefetch: 0, onDelivery: (d) => got.push({ d, at: Date.now() }) });
    const deadline = Date.now() + 5000;
    while ((await raw.zScore(`${prefix}celeriac.promoters`, broker.id)) === null) {
      if (Date.now() > deadline) throw new Error('no presence advertised');
      await sleep(5);
    }
    const due = Date.now() + 400;
    await broker.publish(makeMessage('eta'), { exchange: '', routingKey: queue, priority: 4, deliverAt: due });
    const members = await raw.zRangeWithScores(`${prefix}celeriac.delayed`, 0, -1);
    const mine = members.find((m) => (JSON.parse(m.value) as string[])[0] === `${prefix}${queue}\x06\x163`);
    expect(mine?.score).toBe(due);
    expect(await broker.queueLength(queue)).toBe(0);
    await waitFor(() => got.length === 1, 2000);
    expect(got[0]?.at).toBeGreaterThanOrEqual(due);
    expect(got[0]?.at).toBeLessThan(due + 100);
    await got[0]?.d.ack();
    await consumer.close();
  });

  it('a publisher closed right after publishing logs no failed ETA promotion', async () => {
    const warnings: string[] = [];
    const publisher = new RedisBroker(url, { log: (level, message) => void (level === 'warn' && warnings.push(message)) });
    await publisher.publish(makeMessage('quick'), { exchange: '', routingKey: `closing-${randomUUID().slice(0, 6)}` });
    await publisher.close();
    await sleep(100);
    expect(warnings).toEqual([]);
  });

  it('defers a Python-style ETA message out of unacked and delivers it when due', async () => {
    const queue = `pyeta-${randomUUID().slice(0, 6)}`;
    const eta = Date.now() + 500;
    const msg = makeMessage('py-eta');
    msg.headers['eta'] = new Date(eta).toISOString().replace('Z', '+00:00');
    await broker.publish(msg, { exchange: '', routingKey: queue });
    const got: Delivery[] = [];
    const consumer = broker.consume({ queues: [queue], prefetch: 1, onDelivery: (d) => got.push(d) });
    await waitFor(() => got.length === 1, 2000);
    const first = got[0] as Delivery;
    // The worker sees the future eta header and hands the message back to the broker.
    const headerEta = Date.parse(String((JSON.parse(first.raw) as { headers: { eta: string } }).headers.eta));
    await first.defer(headerEta);
    expect(await raw.hExists(`${prefix}unacked`, first.tag)).toBe(0);
    expect(await raw.zScore(`${prefix}unacked_index`, first.tag)).toBeNull();
    await sleep(Math.max(0, eta - Date.now() - 100));
    expect(got).toHaveLength(1);
    await waitFor(() => got.length === 2, 2000);
    expect(Date.now()).toBeGreaterThanOrEqual(eta);
    expect(got[1]?.raw).toBe(first.raw);
    await got[1]?.ack();
    await consumer.close();
  });

  it('measures publish -> delivery latency when idle, and batch fetch throughput', async () => {
    const queue = `perf-${randomUUID().slice(0, 6)}`;
    const got: { d: Delivery; at: number }[] = [];
    const consumer = broker.consume({ queues: [queue], prefetch: 0, onDelivery: (d) => got.push({ d, at: performance.now() }) });
    const latencies: number[] = [];
    const rawLatencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      await sleep(60); // let the consumer go idle (backed off to pollIntervalMs)
      const t0 = performance.now();
      await broker.publish(makeMessage(`l${i}`), { exchange: '', routingKey: queue });
      await waitFor(() => got.length === 2 * i + 1, 2000);
      latencies.push((got.at(-1)?.at ?? 0) - t0);
      await sleep(60);
      const t1 = performance.now();
      await raw.lPush(`${prefix}${queue}`, (await raw.lIndex(`${prefix}${queue}`, 0)) ?? JSON.stringify({ properties: { delivery_tag: randomUUID() } }));
      await waitFor(() => got.length === 2 * i + 2, 2000);
      rawLatencies.push((got.at(-1)?.at ?? 0) - t1);
    }
    await Promise.all(got.map(({ d }) => d.ack()));
    const n = 5000;
    // Pushed while the consumer runs: measures pops through fetch.lua batches, pushes included.
    const base = got.length;
    const start = performance.now();
    await Promise.all(Array.from({ length: n }, (_, i) => raw.lPush(`${prefix}${queue}`, `{"properties": {"delivery_tag": "b${i}"}}`)));
    await waitFor(() => got.length >= base + n, 20_000).catch((e: unknown) => {
      throw new Error(`got ${got.length - base}/${n}`, { cause: e });
    });
    const rate = n / ((performance.now() - start) / 1000);
    await Promise.all(got.slice(base).map(({ d }) => d.ack()));
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    console.log(`redis broker: idle publish->delivery median ${median(latencies).toFixed(2)} ms (wake-up), raw LPUSH->delivery median ${median(rawLatencies).toFixed(2)} ms (poll), batch fetch ${Math.round(rate)} msg/s`);
    expect(median(latencies)).toBeLessThan(25);
    await consumer.close();
  }, 30_000);
});
