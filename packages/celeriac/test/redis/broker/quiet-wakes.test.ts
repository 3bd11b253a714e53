/**
 * Doorbell tokens and wake-up PUBLISHes are skipped for a while on a queue where nobody took
 * the last one (publisher.ts QuietWakes), and resume after: a consumer whose poll is an hour
 * away is still rung by the publishes that follow the quiet window, and by the one wake-up owed
 * for those skipped inside it.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { RedisBroker } from '../../../src/brokers/redis/redis-broker.js';
import type { RedisConsumer } from '../../../src/brokers/redis/redis-consumer.js';
import { OWED_UNHEARD_MS, OWED_WAKE_MS, OWED_WHILE_HEARD_MS, QUIET_WAKE_MS, QuietWakes } from '../../../src/brokers/redis/publisher.js';
import type { Message } from '../../../src/protocol/types.js';
import { waitFor } from '../../../src/testing/wait-for.js';
import { deletePrefix, newPrefix, prefixedUrl, rawClient, redisAvailable } from './redis-test-env.js';

const available = await redisAvailable();
const prefix = newPrefix();

const message = (id: string): Message => ({ headers: { id }, properties: { correlation_id: id, reply_to: '', delivery_mode: 2, priority: 0 }, contentType: 'application/json', contentEncoding: 'utf-8', body: '[[], {}, {}]' });

/** Runs `test` with performance.now and timers faked, on a QuietWakes that records what it owes. */
function onFakeClock(test: (wakes: QuietWakes, owed: string[]) => void): void {
  vi.useFakeTimers({ toFake: ['performance', 'setTimeout', 'clearTimeout'] });
  try {
    const owed: string[] = [];
    test(new QuietWakes((queue) => owed.push(queue)), owed);
  } finally {
    vi.useRealTimers();
  }
}

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

  it('owes a skipped wake-up: a timer sends it when no later publish did, one for all skipped', () =>
    onFakeClock((wakes, owed) => {
      // A consumer took the last token of each, then one went untaken: quiet, and owed.
      for (const q of ['a', 'b']) {
        wakes.heard(q, 1);
        wakes.heard(q, 0);
      }
      expect([wakes.skip('a'), wakes.skip('a'), wakes.skip('b'), wakes.skip('c')]).toEqual([true, true, true, false]);
      vi.advanceTimersByTime(2 * OWED_WAKE_MS - 0.5);
      expect(owed).toEqual([]);
      vi.advanceTimersByTime(1);
      expect(owed.sort()).toEqual(['a', 'b']);
      // Answered: one heard ends its queue's window, one not keeps it.
      wakes.heard('a', 1);
      wakes.heard('b', 0);
      expect(wakes.skip('a')).toBe(false);
      expect(wakes.skip('b')).toBe(true);
      vi.advanceTimersByTime(QUIET_WAKE_MS);
      expect(owed.sort()).toEqual(['a', 'b', 'b']);
    }));

  it('lets a producer that keeps sending cover what it owes: one wake-up per interval, in its own publishes', () =>
    onFakeClock((wakes, owed) => {
      wakes.heard('q', 1);
      wakes.heard('q', 0);
      const sent: boolean[] = [];
      // A send every 0.1 ms for 5 ms: every tenth rings with its message, the rest are skipped.
      for (let i = 0; i < 50; i++) {
        sent.push(!wakes.skip('q'));
        vi.advanceTimersByTime(0.1);
      }
      expect(sent.filter(Boolean).length).toBeGreaterThanOrEqual(4);
      expect(sent.filter(Boolean).length).toBeLessThanOrEqual(6);
      expect(owed).toEqual([]);
      // The sends stop: the last skipped one's wake-up comes by the timer.
      vi.advanceTimersByTime(2 * OWED_WAKE_MS);
      expect(owed).toEqual(['q']);
    }));

  it('owes a queue no consumer took a wake-up of lately too, every OWED_UNHEARD_MS: a producer with no worker pays a token per 20 ms', () =>
    onFakeClock((wakes, owed) => {
      wakes.heard('long-ago', 1);
      vi.advanceTimersByTime(OWED_WHILE_HEARD_MS);
      wakes.heard('long-ago', 0);
      wakes.heard('never-taken', 0);
      const sent: boolean[] = [];
      // A send every 0.1 ms for 5 ms: every one skipped, the last owed.
      for (let i = 0; i < 50; i++) {
        sent.push(!wakes.skip('never-taken'), !wakes.skip('long-ago'));
        vi.advanceTimersByTime(0.1);
      }
      expect(sent.filter(Boolean)).toEqual([]);
      vi.advanceTimersByTime(2 * OWED_UNHEARD_MS - 5 - 0.5);
      expect(owed).toEqual([]);
      vi.advanceTimersByTime(1);
      expect(owed.sort()).toEqual(['long-ago', 'never-taken']);
      // Unanswered and still in the window: a send every ms rings in its own write every 20 ms.
      const rung: boolean[] = [];
      for (let i = 0; i < 45; i++) {
        rung.push(!wakes.skip('never-taken'));
        vi.advanceTimersByTime(1);
      }
      expect(rung.filter(Boolean).length).toBe(2);
    }));

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
      // The first token read as taken (the doorbell was empty): a publish in the window gets its
      // token, in its own write or owed (one for all skipped: the fake-clock cases above).
      await producer.publish(message('skipped'), { exchange: '', routingKey: 'quiet' });
      await waitFor(async () => (await client.lLen(`${prefix}celeriac.bell.quiet`)) === 3, 'the token of the publish in the window');
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

  it('owes a doorbell token for a message sent inside the window: a consumer that blocks after the burst is rung', async () => {
    // Ten clients each send a task and wait for it: the burst comes while the worker is busy
    // (the producer goes quiet), the worker drains the queue and blocks, and nothing is sent
    // after. Here a raw BRPOP plays the blocked consumer: the last message's token must come
    // though the producer is quiet, or the worker waits for its poll.
    const producer = new RedisBroker(prefixedUrl(prefix));
    const client = await rawClient();
    const blocker = await rawClient();
    const name = `blocker-${prefix.replace(/\W/g, '')}`;
    const blocked = (list: string) => list.split('\n').some((line) => line.includes(`name=${name} `) && line.includes('cmd=brpop'));
    try {
      await producer.connect();
      await blocker.clientSetName(name);
      // A publish that comes after the window is rung anyway and proves nothing: a loaded host
      // gets more tries (a fresh queue each, so a fresh window).
      let inWindow = false;
      for (let attempt = 0; attempt < 5 && !inWindow; attempt++) {
        const queue = `owed-${attempt}`;
        const bell = `${prefix}celeriac.bell.${queue}`;
        await producer.publish(message('m1'), { exchange: '', routingKey: queue });
        await producer.publish(message('m2'), { exchange: '', routingKey: queue });
        const quietSince = performance.now();
        expect(await client.lLen(bell)).toBe(2);
        // The consumer's short fetch deletes the stale tokens, then it blocks.
        await client.del(bell);
        const popped = blocker.brPop(bell, 5);
        await waitFor(async () => blocked((await client.sendCommand(['CLIENT', 'LIST'])) as string), 'the BRPOP to block');
        await producer.publish(message('last'), { exchange: '', routingKey: queue });
        inWindow = performance.now() - quietSince < QUIET_WAKE_MS;
        expect(await popped, 'a doorbell token for the last message').toEqual({ key: bell, element: '' });
      }
      expect(inWindow, 'no try published inside the quiet window (a host too slow for this test)').toBe(true);
    } finally {
      await blocker.close();
      await client.close();
      await producer.close();
    }
  });

  it('owes a token on a queue nobody took one of lately: a consumer busy through the burst, blocked after it, is rung', async () => {
    // The consumer took no token for long (busy), so the producer's first ring already finds
    // one there: quiet at once, never heard. The last message's token must still come, within
    // twice OWED_UNHEARD_MS, or a consumer on its quiet poll waits a second for it.
    const producer = new RedisBroker(prefixedUrl(prefix));
    const client = await rawClient();
    const blocker = await rawClient();
    try {
      await producer.connect();
      const queue = 'owed-unheard';
      const bell = `${prefix}celeriac.bell.${queue}`;
      await client.lPush(bell, '');
      await producer.publish(message('m1'), { exchange: '', routingKey: queue });
      expect(await client.lLen(bell)).toBe(2);
      await client.del(bell);
      const popped = blocker.brPop(bell, 5);
      await producer.publish(message('last'), { exchange: '', routingKey: queue });
      expect(await popped, 'a doorbell token for the last message').toEqual({ key: bell, element: '' });
    } finally {
      await blocker.close();
      await client.close();
      await producer.close();
    }
  });
});
