/**
 * restore-stale.lua marks what it restores redelivered the way kombu's restore does, byte for
 * byte: `"redelivered": true` appended as the last key of `headers` and of
 * `properties.delivery_info` (where Python's json.dumps puts a new dict key), by editing the
 * JSON text. The expected text is markRedelivered's (protocol/envelope.ts), which re-serializes
 * in Python's format; envelopes with tricky strings check the text scanner.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeEnvelope, markRedelivered } from '../../../src/protocol/envelope.js';
import { makeMessage } from '../../../src/testing/broker-harness.js';
import { waitFor } from '../../../src/testing/wait-for.js';
import { RedisBroker } from '../../../src/brokers/redis/redis-broker.js';
import { newPrefix, prefixedUrl, redisAvailable, useRawRedis } from './redis-test-env.js';

const available = await redisAvailable();
const prefix = newPrefix();

/** An envelope in Python's json.dumps format, with strings that look like JSON structure. */
function trickyEnvelope(queue: string, tag: string): string {
  const m = makeMessage('tricky');
  m.headers['argsrepr'] = `("}{", '"quoted"', "back\\\\slash", ']')`;
  m.headers['kwargsrepr'] = "{'k': 'é ☃ \\u0000'}";
  m.headers['x-nested'] = { a: [1, { b: '}' }], c: null };
  return encodeEnvelope(m, { deliveryTag: tag, exchange: '', routingKey: queue });
}

describe.skipIf(!available)('restore-stale.lua: restored messages are marked redelivered as kombu marks them', () => {
  const raw = useRawRedis(prefix);

  /** Writes Python-held bookkeeping for `envelope`, old enough to be swept, and sweeps. */
  async function sweep(queue: string, tag: string, envelope: string): Promise<string> {
    await raw().hSet(`${prefix}unacked`, tag, `[${envelope}, "", ${JSON.stringify(queue)}]`);
    await raw().zAdd(`${prefix}unacked_index`, { score: Date.now() / 1000 - 10, value: tag });
    const broker = new RedisBroker(prefixedUrl(prefix), { visibilityTimeoutSec: 1, sweepIntervalMs: 100, recoverAfterSec: 1, leaseRenewMs: 200 });
    const consumer = broker.consume({ queues: [`idle-${queue}`], prefetch: 1, onDelivery: () => undefined });
    try {
      return await waitFor(() => raw().lIndex(`${prefix}${queue}`, 0), 'the message to be restored');
    } finally {
      await consumer.close();
      await broker.close();
    }
  }

  it.each([
    ['a Celeriac envelope', (q: string, t: string) => encodeEnvelope(makeMessage('plain'), { deliveryTag: t, exchange: '', routingKey: q })],
    ['an envelope with structure-like strings and non-ASCII escapes', trickyEnvelope],
  ])('%s', async (_label, make) => {
    const queue = `mark-${randomUUID().slice(0, 6)}`;
    const tag = randomUUID();
    const envelope = make(queue, tag);
    const restored = await sweep(queue, tag, envelope);
    expect(restored).toBe(markRedelivered(envelope));
    const parsed = JSON.parse(restored) as { headers: Record<string, unknown>; properties: { delivery_info: Record<string, unknown> } };
    expect(parsed.headers['redelivered']).toBe(true);
    expect(parsed.properties.delivery_info['redelivered']).toBe(true);
  });

  it('leaves an envelope already marked as it is, and empty headers get the flag alone', async () => {
    const queue = `marked-${randomUUID().slice(0, 6)}`;
    const tag = randomUUID();
    const already = markRedelivered(encodeEnvelope(makeMessage('again'), { deliveryTag: tag, exchange: '', routingKey: queue }));
    expect(await sweep(queue, tag, already)).toBe(already);

    const queue2 = `empty-${randomUUID().slice(0, 6)}`;
    const tag2 = randomUUID();
    const bare = `{"body": "W10=", "headers": {}, "properties": {"delivery_info": {}, "delivery_tag": "${tag2}"}}`;
    expect(await sweep(queue2, tag2, bare)).toBe(`{"body": "W10=", "headers": {"redelivered": true}, "properties": {"delivery_info": {"redelivered": true}, "delivery_tag": "${tag2}"}}`);
  });
});
