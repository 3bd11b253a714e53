/**
 * Doorbell tokens and wake-up PUBLISHes are skipped for a while on a queue where nobody took
 * the last one (publisher.ts QuietWakes), and resume after: a consumer whose poll is an hour
 * away is still rung by the publishes that follow the quiet window.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { RedisBroker } from '../../../src/brokers/redis/redis-broker.js';
import type { RedisConsumer } from '../../../src/brokers/redis/redis-consumer.js';
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

describe.skipIf(!available)('Redis doorbells after a quiet window', () => {
  afterAll(async () => {
    const client = await rawClient();
    await deletePrefix(client, prefix);
    await client.close();
  });

  it('rings a consumer that blocked after publishes nobody took, once the window is over', async () => {
    const producer = new RedisBroker(prefixedUrl(prefix));
    // Its poll is an hour away: only its start-up fetch and wake-ups can bring it messages.
    const consumerBroker = new RedisBroker(prefixedUrl(prefix), { pollIntervalMs: 3_600_000 });
    const got: string[] = [];
    const client = await rawClient();
    try {
      await producer.connect();
      // The second token finds the first still there: nobody waits, the doorbell goes quiet.
      await producer.publish(message('before'), { exchange: '', routingKey: 'quiet' });
      await producer.publish(message('before2'), { exchange: '', routingKey: 'quiet' });
      const quietSince = performance.now();
      expect(await client.lLen(`${prefix}celeriac.bell.quiet`)).toBe(2);
      await producer.publish(message('skipped'), { exchange: '', routingKey: 'quiet' });
      expect(await client.lLen(`${prefix}celeriac.bell.quiet`)).toBe(2);
      const consumer = consumerBroker.consume({
        queues: ['quiet'],
        prefetch: 10,
        onDelivery: (d) => {
          got.push((JSON.parse(d.raw) as { headers: { id: string } }).headers.id);
          void d.ack();
        },
      });
      await waitFor(() => got.length === 3, 'the start-up fetch to take the first messages');
      // Its first block takes a stale token, and its fetch, short, deletes the rest.
      await waitFor(async () => (await client.exists(`${prefix}celeriac.bell.quiet`)) === 0, 'the stale tokens to be cleared');
      await waitFor(() => (consumer as RedisConsumer).blocked, 'the consumer to block on its doorbells');
      await waitFor(() => performance.now() - quietSince > QUIET_WAKE_MS, 'the quiet window to pass');
      await producer.publish(message('after'), { exchange: '', routingKey: 'quiet' });
      await waitFor(() => got.includes('after'), 'a doorbell to bring the last message', { timeoutMs: 5_000 });
      expect(got).toEqual(['before', 'before2', 'skipped', 'after']);
      await consumer.close();
    } finally {
      await client.close();
      await consumerBroker.close();
      await producer.close();
    }
  });
});
