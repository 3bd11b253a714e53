/**
 * Wake-up PUBLISHes are skipped for a while on a queue no Celeriac consumer listened to
 * (publisher.ts QuietWakes), and resume after: a consumer whose poll is an hour away is
 * still woken by the publishes that follow the quiet window.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { RedisBroker } from '../../../src/brokers/redis/redis-broker.js';
import { QUIET_WAKE_MS, QuietWakes } from '../../../src/brokers/redis/publisher.js';
import type { Message } from '../../../src/protocol/types.js';
import { waitFor } from '../../../src/testing/wait-for.js';
import { deletePrefix, newPrefix, prefixedUrl, rawClient, redisAvailable } from './redis-test-env.js';

const available = await redisAvailable();
const prefix = newPrefix();

const message = (id: string): Message => ({ headers: { id }, properties: { correlation_id: id, reply_to: '', delivery_mode: 2, priority: 0 }, contentType: 'application/json', contentEncoding: 'utf-8', body: '[[], {}, {}]' });

describe('QuietWakes', () => {
  it('skips a channel only after a PUBLISH reached nobody, and only for the window', () => {
    const wakes = new QuietWakes();
    expect(wakes.skip('a')).toBe(false);
    wakes.heard('a', 1);
    expect(wakes.skip('a')).toBe(false);
    wakes.heard('a', 0);
    expect(wakes.skip('a')).toBe(true);
    expect(wakes.skip('b')).toBe(false);
  });

  it('stays bounded however many channels went quiet', () => {
    const wakes = new QuietWakes();
    for (let i = 0; i < 5000; i++) wakes.heard(`q${i}`, 0);
    expect(wakes.skip('q4999')).toBe(true);
    expect(wakes.skip('q0')).toBe(false);
  });
});

describe.skipIf(!available)('Redis wake-ups after a quiet window', () => {
  afterAll(async () => {
    const client = await rawClient();
    await deletePrefix(client, prefix);
    await client.close();
  });

  it('wakes a consumer that subscribed after a publish nobody heard, once the window is over', async () => {
    const producer = new RedisBroker(prefixedUrl(prefix));
    // Its poll is an hour away: only its start-up fetch and wake-ups can bring it messages.
    const consumerBroker = new RedisBroker(prefixedUrl(prefix), { pollIntervalMs: 3_600_000 });
    const got: string[] = [];
    const client = await rawClient();
    try {
      await producer.connect();
      await producer.publish(message('before'), { exchange: '', routingKey: 'quiet' });
      const quietSince = performance.now();
      const consumer = consumerBroker.consume({
        queues: ['quiet'],
        prefetch: 10,
        onDelivery: (d) => {
          got.push((JSON.parse(d.raw) as { headers: { id: string } }).headers.id);
          void d.ack();
        },
      });
      await waitFor(() => got.includes('before'), 'the start-up fetch to take the first message');
      const channel = `${prefix}celeriac.wake.quiet`;
      await waitFor(async () => Number((await client.pubSubNumSub(channel))[channel] ?? 0) > 0, 'the consumer to subscribe to its wake-ups');
      await waitFor(() => performance.now() - quietSince > QUIET_WAKE_MS, 'the quiet window to pass');
      await producer.publish(message('after'), { exchange: '', routingKey: 'quiet' });
      await waitFor(() => got.includes('after'), 'a wake-up to bring the second message', { timeoutMs: 5_000 });
      expect(got).toEqual(['before', 'after']);
      await consumer.close();
    } finally {
      await client.close();
      await consumerBroker.close();
      await producer.close();
    }
  });
});
