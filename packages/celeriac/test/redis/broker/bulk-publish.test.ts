import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisClientType } from 'redis';
import { encodeEnvelope } from '../../../src/protocol/envelope.js';
import { makeMessage } from '../../../src/testing/broker-harness.js';
import { bindingMember, BrokerKeys } from '../../../src/redis/keys.js';
import { RedisBroker } from '../../../src/brokers/redis/redis-broker.js';
import { deletePrefix, newPrefix, prefixedUrl, rawClient, redisAvailable } from './redis-test-env.js';

const available = await redisAvailable();
const prefix = newPrefix();

describe.runIf(available)('RedisBroker.publishMany', () => {
  let raw: RedisClientType;
  let broker: RedisBroker;
  const keys = new BrokerKeys(prefix);

  beforeAll(async () => {
    raw = await rawClient();
    broker = new RedisBroker(prefixedUrl(prefix));
  });

  afterAll(async () => {
    await broker.close();
    await deletePrefix(raw, prefix);
    await raw.close();
  });

  it('writes what publish writes, one LPUSH per list and one wake-up per queue, FIFO', async () => {
    const sub = raw.duplicate();
    await sub.connect();
    const wakes: string[] = [];
    await sub.subscribe([keys.wakeChannel('bulk'), keys.wakeChannel('bulk2')], (_m, channel) => wakes.push(channel));
    try {
      await broker.publish(makeMessage('single'), { exchange: '', routingKey: 'bulk', priority: 3 });
      await broker.publishMany([
        { message: makeMessage('m1'), options: { exchange: '', routingKey: 'bulk' } },
        { message: makeMessage('p1'), options: { exchange: '', routingKey: 'bulk', priority: 3 } },
        { message: makeMessage('m2'), options: { exchange: '', routingKey: 'bulk' } },
        { message: makeMessage('o1'), options: { exchange: '', routingKey: 'bulk2' } },
      ]);
      // Consumers pop from the right: the right end holds the first message published.
      const ids = async (key: string) => (await raw.lRange(key, 0, -1)).reverse().map((e) => (JSON.parse(e) as { headers: { id: string } }).headers.id);
      expect(await ids(keys.bucket('bulk', 0))).toEqual(['m1', 'm2']);
      expect(await ids(keys.bucket('bulk', 3))).toEqual(['single', 'p1']);
      expect(await ids(keys.bucket('bulk2', 0))).toEqual(['o1']);
      // Same envelope as publish, apart from the fresh delivery tag.
      const [single, bulk] = (await raw.lRange(keys.bucket('bulk', 3), 0, -1)).reverse().map((e) => JSON.parse(e) as { properties: Record<string, unknown>; headers: Record<string, unknown> });
      expect(Object.keys(bulk!.properties)).toEqual(Object.keys(single!.properties));
      expect({ ...bulk!.properties, delivery_tag: 'x', correlation_id: 'x' }).toEqual({ ...single!.properties, delivery_tag: 'x', correlation_id: 'x' });
      expect(bulk!.properties['delivery_tag']).not.toBe(single!.properties['delivery_tag']);
      await expect.poll(() => wakes.length).toBe(3);
      expect(wakes.filter((c) => c === keys.wakeChannel('bulk'))).toHaveLength(2);
    } finally {
      await sub.close();
    }
  });

  it('stores exactly the envelope text, non-ASCII content included', async () => {
    const message = makeMessage('bytes');
    message.headers['argsrepr'] = "('ключ', '😀')";
    message.body = JSON.stringify([['ключ', '😀'], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]);
    await broker.publishMany([{ message, options: { exchange: '', routingKey: 'bytes', priority: 6 } }]);
    const [stored] = await raw.lRange(keys.bucket('bytes', 6), 0, -1);
    const deliveryTag = (JSON.parse(stored!) as { properties: { delivery_tag: string } }).properties.delivery_tag;
    expect(stored).toBe(encodeEnvelope(message, { deliveryTag, exchange: '', routingKey: 'bytes' }));
  });

  it('stores a bulk send of like messages byte for byte as publish would encode each', async () => {
    // Like applyAsyncMany's messages: only ids, reprs and body differ, so most envelopes are
    // written from one layout (protocol/envelope-writer.ts); one other task breaks the run.
    const like = (i: number) => {
      const message = makeMessage(`like-${i}`);
      Object.assign(message.headers, { argsrepr: `('é${i}',)`, kwargsrepr: '{}' });
      message.body = JSON.stringify([[`é${i}`], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]);
      if (i === 7) message.headers['task'] = 'conformance.other';
      return message;
    };
    const messages = Array.from({ length: 20 }, (_, i) => like(i));
    await broker.publishMany(messages.map((message) => ({ message, options: { exchange: '', routingKey: 'like' } })));
    const stored = (await raw.lRange(keys.bucket('like', 0), 0, -1)).reverse();
    expect(stored).toHaveLength(20);
    stored.forEach((text, i) => {
      const deliveryTag = (JSON.parse(text) as { properties: { delivery_tag: string } }).properties.delivery_tag;
      expect(text).toBe(encodeEnvelope(messages[i]!, { deliveryTag, exchange: '', routingKey: 'like' }));
    });
    expect(new Set(stored.map((t) => (JSON.parse(t) as { properties: { delivery_tag: string } }).properties.delivery_tag)).size).toBe(20);
  });

  it('routes a named exchange through its bindings and sends nothing when one message is invalid', async () => {
    await raw.sAdd(keys.binding('fan'), [bindingMember('rk', 'bound')]);
    await broker.publishMany([{ message: makeMessage('r1'), options: { exchange: 'fan', routingKey: 'rk' } }]);
    expect(await raw.lLen(keys.bucket('bound', 0))).toBe(1);
    await expect(
      broker.publishMany([
        { message: makeMessage('ok'), options: { exchange: '', routingKey: 'bulk3' } },
        { message: makeMessage('bad'), options: { exchange: '', routingKey: 'bulk3', deliverAt: Number.NaN } },
      ]),
    ).rejects.toMatchObject({ code: 'CELERIAC_ERR_INVALID_ARGUMENT' });
    expect(await raw.lLen(keys.bucket('bulk3', 0))).toBe(0);
    // Deep in a run of like messages, where the others are written from one layout.
    const run = Array.from({ length: 6 }, (_, i) => ({ message: makeMessage(`run-${i}`), options: { exchange: '', routingKey: 'bulk3' } }));
    for (const { message } of run) Object.assign(message.headers, { argsrepr: '()', kwargsrepr: '{}' });
    run[4]!.message.headers['x-bad'] = Number.NaN;
    await expect(broker.publishMany(run)).rejects.toMatchObject({ code: 'CELERIAC_ERR_INVALID_ARGUMENT' });
    expect(await raw.lLen(keys.bucket('bulk3', 0))).toBe(0);
  });
});
