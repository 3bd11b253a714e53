import { randomUUID } from 'node:crypto';
import type { RedisClientType } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Consumer, Delivery } from '../../../src/core/spi/broker.js';
import type { RedisConsumer } from '../../../src/brokers/redis/redis-consumer.js';
import { BrokerKeys } from '../../../src/redis/keys.js';
import { makeMessage } from '../../../src/testing/broker-harness.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { flush, waitFor } from '../../../src/testing/wait-for.js';
import { RedisBroker } from '../../../src/brokers/redis/redis-broker.js';
import { Transitions } from '../../../src/brokers/redis/transitions.js';
import { deletePrefix, newPrefix, prefixedUrl, rawClient, redisAvailable } from './redis-test-env.js';

const available = await redisAvailable();
const prefix = newPrefix();
const url = prefixedUrl(prefix);
const keys = new BrokerKeys(prefix);
const POLL_MS = 50;

/**
 * The broker runs on a FakeClock started at the real time: its poll timer, ETA promotion and
 * presence move only when a test moves the clock, so "not before it is due" and "found by the
 * poll, not a wake-up" do not depend on the machine's speed.
 */
describe.skipIf(!available)('RedisBroker: delayed delivery, promotion, wake-ups and polling', () => {
  let raw: RedisClientType;
  let broker: RedisBroker;
  const clock = new FakeClock(Date.now());

  beforeAll(async () => {
    raw = await rawClient();
    broker = new RedisBroker(url, { pollIntervalMs: POLL_MS, clock });
    await broker.connect();
  });

  afterAll(async () => {
    await broker?.close();
    await deletePrefix(raw, prefix);
    await raw?.close();
  });

  /** Moves the broker's clock on by `ms` and reports whether `check` holds (for waitFor). */
  const after = (ms: number, check: () => boolean) => () => {
    clock.advance(ms);
    return check();
  };

  /** Resolves once `consumer` waits in Redis, blocked on its doorbells (bell.ts). */
  const blocked = (consumer: Consumer) => waitFor(() => (consumer as RedisConsumer).blocked, 'the consumer to block on its doorbells');

  /**
   * A consumer of a new queue on a broker of its own whose poll is an hour away, and so is its
   * block's own timeout: once it waits blocked on its doorbells, only a doorbell token brings it
   * a message. `run` gets the queue and what it received; the broker is closed after.
   */
  async function withIdleConsumer(name: string, run: (queue: string, got: Delivery[]) => Promise<void>): Promise<void> {
    const idle = new RedisBroker(url, { pollIntervalMs: 3_600_000, clock });
    const queue = `${name}-${randomUUID().slice(0, 6)}`;
    const got: Delivery[] = [];
    try {
      const consumer = idle.consume({ queues: [queue], prefetch: 0, onDelivery: (d) => got.push(d) });
      await blocked(consumer);
      await run(queue, got);
      await consumer.close();
    } finally {
      await idle.close();
    }
  }

  it('holds a future-ETA publish in celeriac.delayed (a promoter is alive) and delivers it only when due', async () => {
    const queue = `eta-${randomUUID().slice(0, 6)}`;
    const got: { d: Delivery; at: number }[] = [];
    const consumer = broker.consume({ queues: [queue], prefetch: 0, onDelivery: (d) => got.push({ d, at: clock.now() }) });
    clock.advance(0); // the presence duty runs at start, on the broker's clock
    await waitFor(async () => (await raw.zScore(`${prefix}celeriac.promoters`, broker.id)) !== null, 'the broker to advertise itself');
    const due = clock.now() + 400;
    await broker.publish(makeMessage('eta'), { exchange: '', routingKey: queue, priority: 4, deliverAt: due });
    const members = await raw.zRangeWithScores(`${prefix}celeriac.delayed`, 0, -1);
    const mine = members.find((m) => (JSON.parse(m.value) as string[])[0] === `${prefix}${queue}\x06\x163`);
    expect(mine?.score).toBe(due);
    expect(await broker.queueLength(queue)).toBe(0);
    // promote-due.lua leaves it until its time has come...
    const t = new Transitions((fn) => fn(raw as never), keys);
    expect((await t.promoteDue(due - 1, 100)).moved).toBe(0);
    // ...and the broker's promote duty delivers it once its clock reaches it.
    await waitFor(after(50, () => got.length === 1), 'the ETA delivery');
    expect(got[0]?.at).toBeGreaterThanOrEqual(due);
    await got[0]?.d.ack();
    await consumer.close();
  });

  it('a publisher closed right after publishing logs no failed ETA promotion', async () => {
    const warnings: string[] = [];
    const publisher = new RedisBroker(url, { log: (level, message) => void (level === 'warn' && warnings.push(message)) });
    await publisher.publish(makeMessage('quick'), { exchange: '', routingKey: `closing-${randomUUID().slice(0, 6)}` });
    await publisher.close();
    await flush(20);
    expect(warnings).toEqual([]);
  });

  it('defers a Python-style ETA message out of unacked and delivers it when due', async () => {
    const queue = `pyeta-${randomUUID().slice(0, 6)}`;
    const eta = clock.now() + 500;
    const msg = makeMessage('py-eta');
    msg.headers['eta'] = new Date(eta).toISOString().replace('Z', '+00:00');
    await broker.publish(msg, { exchange: '', routingKey: queue });
    const got: Delivery[] = [];
    const consumer = broker.consume({ queues: [queue], prefetch: 1, onDelivery: (d) => got.push(d) });
    await waitFor(() => got.length === 1, 'the first delivery');
    const first = got[0] as Delivery;
    // The worker sees the future eta header and hands the message back to the broker.
    const headerEta = Date.parse(String((JSON.parse(first.raw) as { headers: { eta: string } }).headers.eta));
    await first.defer(headerEta);
    expect(await raw.hExists(`${prefix}unacked`, first.tag)).toBe(0);
    expect(await raw.zScore(`${prefix}unacked_index`, first.tag)).toBeNull();
    expect(await raw.zScore(`${prefix}celeriac.delayed`, JSON.stringify([`${prefix}${queue}`, first.raw]))).toBe(eta);
    await waitFor(after(50, () => got.length === 2), 'the delivery when due');
    expect(clock.now()).toBeGreaterThanOrEqual(eta);
    expect(got[1]?.raw).toBe(first.raw);
    await got[1]?.ack();
    await consumer.close();
  });

  it('a Celeriac publish rings a consumer blocked on its doorbells at once: no poll is needed', async () => {
    await withIdleConsumer('wake', async (queue, got) => {
      expect(Number(((await raw.sendCommand(['PUBSUB', 'NUMSUB', keys.wakeChannel(queue)])) as [string, number])[1])).toBe(0);
      await broker.publish(makeMessage('woken'), { exchange: '', routingKey: queue });
      await waitFor(() => got.length === 1, 'the rung delivery');
      await got[0]?.ack();
      // The short fetch that took it deleted the doorbell: no stale token is left behind.
      expect(await raw.exists(keys.bell(queue))).toBe(0);
    });
  });

  it('an ETA message promoted in another process rings the queue\'s doorbell: an idle consumer here gets it at once, not at its poll', async () => {
    // Its own promote duty runs on a clock nobody moves. The promotion is another process's (a
    // publisher's, or another worker's maintenance): a Transitions of its own.
    await withIdleConsumer('promoted', async (queue, got) => {
      // Due now, at priority 4 (its bucket is the queue's step-3 list): the doorbell is the queue's.
      await broker.publish(makeMessage('eta-elsewhere'), { exchange: '', routingKey: queue, priority: 4, deliverAt: clock.now() + 60_000 });
      expect(await raw.zCard(keys.delayed)).toBeGreaterThanOrEqual(1);
      const elsewhere = new Transitions((fn) => fn(raw), keys, '');
      expect((await elsewhere.promoteDue(clock.now() + 60_000, 500)).moved).toBeGreaterThanOrEqual(1);
      await waitFor(() => got.length === 1, 'the promoted delivery', 5_000);
      expect(got[0]?.queue).toBe(queue);
      await got[0]?.ack();
    });
  });

  it('a doorbell key of another type does not fail the promotion: the message is moved and the call answers', async () => {
    const queue = `badbell-${randomUUID().slice(0, 6)}`;
    await raw.set(keys.bell(queue), 'not a list');
    await broker.publish(makeMessage('eta-badbell'), { exchange: '', routingKey: queue, deliverAt: clock.now() + 60_000 });
    const elsewhere = new Transitions((fn) => fn(raw), keys, '');
    expect((await elsewhere.promoteDue(clock.now() + 60_000, 500)).moved).toBeGreaterThanOrEqual(1);
    expect(await raw.lLen(`${prefix}${queue}`)).toBe(1);
    expect(await raw.get(keys.bell(queue))).toBe('not a list');
    await raw.del([keys.bell(queue), `${prefix}${queue}`]);
  });

  it('a message pushed with no wake-up (a Python producer) is found by the poll, and a burst is delivered once each', async () => {
    const queue = `poll-${randomUUID().slice(0, 6)}`;
    const got: Delivery[] = [];
    const consumer = broker.consume({ queues: [queue], prefetch: 0, onDelivery: (d) => got.push(d) });
    await blocked(consumer);
    await raw.lPush(`${prefix}${queue}`, JSON.stringify({ properties: { delivery_tag: 'lone' } }));
    await waitFor(after(POLL_MS, () => got.length === 1), 'the polled delivery');
    const n = 500;
    await Promise.all(Array.from({ length: n }, (_, i) => raw.lPush(`${prefix}${queue}`, `{"properties": {"delivery_tag": "b${i}"}}`)));
    await waitFor(after(POLL_MS, () => got.length === 1 + n), `${n} polled deliveries`);
    expect(new Set(got.map((d) => d.tag)).size).toBe(1 + n);
    await Promise.all(got.map((d) => d.ack()));
    expect(await raw.hLen(`${prefix}unacked`)).toBe(0);
    await consumer.close();
  });
});
