/**
 * reclaim.lua (brokers/redis/lost-fetches.ts): the messages a fetch took whose reply was lost
 * go back to the front of their queue, unchanged and in the order they were popped, found by
 * the fetch's token prefix and lease expiry alone; nothing else held is touched. The end to
 * end case (a network path that dies under a blocked fetch) is
 * test/failure/network-blackhole.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeEnvelope } from '../../../src/protocol/envelope.js';
import { makeMessage } from '../../../src/testing/broker-harness.js';
import { Transitions } from '../../../src/brokers/redis/transitions.js';
import { BrokerKeys } from '../../../src/redis/keys.js';
import { newPrefix, redisAvailable, useRawRedis } from './redis-test-env.js';

const available = await redisAvailable();
const prefix = newPrefix();

describe.skipIf(!available)('reclaim.lua: a lost fetch gives its messages back', () => {
  const raw = useRawRedis(prefix);
  const keys = new BrokerKeys(prefix);
  const buckets = (queue: string) => keys.buckets(queue);

  /** Publishes `n` messages to `queue` as kombu does (LPUSH); their envelopes, oldest first. */
  async function publish(queue: string, n: number): Promise<string[]> {
    const sent: string[] = [];
    for (let i = 0; i < n; i++) {
      const envelope = encodeEnvelope(makeMessage(`m${i}`), { deliveryTag: randomUUID(), exchange: '', routingKey: queue });
      await raw().lPush(keys.bucket(queue, 0), envelope);
      sent.push(envelope);
    }
    return sent;
  }

  it('puts them back in their order, unmarked, rings the doorbell, and leaves the other holdings alone', async () => {
    const queue = `rq-${randomUUID().slice(0, 6)}`;
    const other = `ro-${randomUUID().slice(0, 6)}`;
    const t = new Transitions((fn) => fn(raw()), keys);
    const sent = await publish(queue, 4);
    await publish(other, 1);
    const now = Date.now();
    const leaseMs = 60_000;
    const lostPrefix = `c${randomUUID().slice(0, 8)}:1`;
    // The lost fetch takes two; one of the same consumer whose prefix starts alike (fetch 10),
    // and another consumer's on another queue, hold theirs under the very same expiry.
    expect(await t.fetch(buckets(queue), [queue], 2, now, leaseMs, lostPrefix)).toHaveLength(2);
    const kept = await t.fetch(buckets(queue), [queue], 1, now, leaseMs, `${lostPrefix}0`);
    expect(await t.fetch(buckets(other), [other], 1, now, leaseMs, 'someone-else:7')).toHaveLength(1);
    await raw().del(keys.bell(queue));

    const lost = { buckets: buckets(queue), queues: [queue], expiresAt: now + leaseMs, prefix: lostPrefix };
    expect(await t.reclaim(lost)).toBe(2);
    // Front of the queue (the right end, where fetch pops), first popped first, as published.
    expect(await raw().lRange(keys.bucket(queue, 0), 0, -1)).toEqual([sent[3], sent[1], sent[0]]);
    expect(await raw().lLen(keys.bell(queue))).toBe(2);
    expect(await raw().hLen(keys.unacked)).toBe(2);
    expect(await raw().zCard(keys.unackedIndex)).toBe(2);
    expect(await raw().zCard(keys.leases)).toBe(2);
    expect(await raw().hExists(keys.unacked, kept[0]!.tag)).toBe(1);
    // Once given back there is nothing more to give.
    expect(await t.reclaim(lost)).toBe(0);
    // Another expiry with the same prefix finds nothing.
    expect(await t.reclaim({ ...lost, prefix: `${lostPrefix}0`, expiresAt: now + leaseMs + 1 })).toBe(0);
  });

  it('leaves a message held in another shape, or whose bucket is not a list, to its lease', async () => {
    const queue = `rb-${randomUUID().slice(0, 6)}`;
    const t = new Transitions((fn) => fn(raw()), keys);
    await raw().lPush(keys.bucket(queue, 0), 'not json at all');
    const now = Date.now();
    const [malformed] = await t.fetch(buckets(queue), [queue], 1, now, 60_000, 'bad:1');
    expect(malformed!.tag).toMatch(/^celeriac-malformed-/);
    expect(await t.reclaim({ buckets: buckets(queue), queues: [queue], expiresAt: now + 60_000, prefix: 'bad:1' })).toBe(0);
    expect(await raw().hExists(keys.unacked, malformed!.tag)).toBe(1);

    const [envelope] = await publish(queue, 1);
    const [held] = await t.fetch(buckets(queue), [queue], 1, now, 60_000, 'bad:2');
    await raw().set(keys.bucket(queue, 0), 'a string now');
    expect(await t.reclaim({ buckets: buckets(queue), queues: [queue], expiresAt: now + 60_000, prefix: 'bad:2' })).toBe(0);
    expect(await raw().hExists(keys.unacked, held!.tag)).toBe(1);
    await raw().del(keys.bucket(queue, 0));
    expect(await t.reclaim({ buckets: buckets(queue), queues: [queue], expiresAt: now + 60_000, prefix: 'bad:2' })).toBe(1);
    expect(await raw().lRange(keys.bucket(queue, 0), 0, -1)).toEqual([envelope]);
  });
});
