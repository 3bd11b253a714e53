/**
 * restore-stale.lua after a hand-over between fleets: a Celeriac holder died, a Python
 * worker's sweep restored the message and a Python worker took it again, under the same
 * delivery tag. The dead holder's lease entry is still there; a Celeriac sweep must not
 * restore the message from under the live Python worker (bookkeeping written as kombu does).
 */
import { randomUUID } from 'node:crypto';
import type { RedisClientType } from 'redis';
import { describe, expect, it } from 'vitest';
import { makeMessage } from '../../../src/testing/broker-harness.js';
import { waitFor } from '../../../src/testing/wait-for.js';
import { encodeEnvelope } from '../../../src/protocol/envelope.js';
import { RedisBroker } from '../../../src/brokers/redis/redis-broker.js';
import { newPrefix, prefixedUrl, redisAvailable, useRawRedis } from './redis-test-env.js';

const available = await redisAvailable();
const prefix = newPrefix();

/** Runs a sweeping broker (consuming another queue) until `queue` has a message back, then `check`s. */
async function sweepUntilRestored(raw: () => RedisClientType, queue: string, visibilityTimeoutSec: number, check: () => Promise<void>): Promise<void> {
  const broker = new RedisBroker(prefixedUrl(prefix), { recoverAfterSec: 1, leaseRenewMs: 200, sweepIntervalMs: 100, visibilityTimeoutSec });
  const consumer = broker.consume({ queues: [`other-${queue}`], prefetch: 1, onDelivery: () => undefined });
  try {
    await waitFor(async () => (await raw().lLen(`${prefix}${queue}`)) > 0, 'the message to be restored');
    await check();
  } finally {
    await consumer.close();
    await broker.close();
  }
}

describe.skipIf(!available)('recovery sweep after a Python worker took over a dead Celeriac holder\'s message', () => {
  const raw = useRawRedis(prefix);

  async function scenario(pythonTookItSecondsAgo: number): Promise<{ tag: string; queue: string }> {
    const queue = `handover-${randomUUID().slice(0, 6)}`;
    const tag = randomUUID();
    const envelope = encodeEnvelope(makeMessage('m'), { deliveryTag: tag, exchange: '', routingKey: queue });
    const now = Date.now();
    // The dead Celeriac holder's lease: expired 30 s ago.
    await raw().zAdd(`${prefix}celeriac.leases`, { score: now - 30_000, value: tag });
    await raw().hSet(`${prefix}celeriac.lease.data`, tag, JSON.stringify(['dead-holder:0.0', `${prefix}${queue}`]));
    // The Python worker's delivery of the same tag, as kombu writes it.
    await raw().hSet(`${prefix}unacked`, tag, JSON.stringify([JSON.parse(envelope), '', queue]));
    await raw().zAdd(`${prefix}unacked_index`, { score: (now - pythonTookItSecondsAgo * 1000) / 1000, value: tag });
    return { tag, queue };
  }

  it('leaves the Python worker\'s delivery alone and drops only the stale lease', async () => {
    const { tag, queue } = await scenario(2);
    const broker = new RedisBroker(prefixedUrl(prefix), { recoverAfterSec: 1, leaseRenewMs: 200, sweepIntervalMs: 100, visibilityTimeoutSec: 60 });
    const consumer = broker.consume({ queues: [`other-${queue}`], prefetch: 1, onDelivery: () => undefined });
    try {
      // One sweep drops the stale lease and decides about the message in the same script.
      await waitFor(async () => (await raw().zScore(`${prefix}celeriac.leases`, tag)) === null, 'the stale lease to be dropped');
      expect(await raw().lLen(`${prefix}${queue}`)).toBe(0);
      expect(await raw().hExists(`${prefix}unacked`, tag)).toBe(1);
      expect(await raw().hExists(`${prefix}celeriac.lease.data`, tag)).toBe(0);
    } finally {
      await consumer.close();
      await broker.close();
    }
  });

  it('still restores it once the Python delivery is older than the visibility timeout', async () => {
    const { tag, queue } = await scenario(5);
    await sweepUntilRestored(raw, queue, 3, async () => {
      expect(await raw().hExists(`${prefix}unacked`, tag)).toBe(0);
      expect(await raw().zScore(`${prefix}celeriac.leases`, tag)).toBeNull();
    });
  });
});

describe.skipIf(!available)('recovery sweep of a dead Celeriac holder\'s lease, whatever the lease data format', () => {
  const raw = useRawRedis(prefix);

  it.each([
    ['"<token> <bucket>"', (bucket: string) => `dead-holder:0.0 ${bucket}`],
    ['JSON [token, bucket] (written before 0.2)', (bucket: string) => JSON.stringify(['dead-holder:0.0', bucket])],
  ])('restores the message to the list it came from: %s', async (_format, leaseData) => {
    const queue = `dead-${randomUUID().slice(0, 6)}`;
    const tag = randomUUID();
    const envelope = encodeEnvelope(makeMessage('m'), { deliveryTag: tag, exchange: '', routingKey: queue });
    const now = Date.now();
    await raw().hSet(`${prefix}unacked`, tag, `[${envelope}, "", "${queue}"]`);
    await raw().zAdd(`${prefix}unacked_index`, { score: (now - 40_000) / 1000, value: tag });
    await raw().zAdd(`${prefix}celeriac.leases`, { score: now - 30_000, value: tag });
    await raw().hSet(`${prefix}celeriac.lease.data`, tag, leaseData(`${prefix}${queue}`));
    await sweepUntilRestored(raw, queue, 3600, async () => {
      const back = JSON.parse((await raw().lIndex(`${prefix}${queue}`, 0)) as string) as { properties: { delivery_tag: string } };
      expect(back.properties.delivery_tag).toBe(tag);
      expect(await raw().hExists(`${prefix}unacked`, tag)).toBe(0);
      expect(await raw().hExists(`${prefix}celeriac.lease.data`, tag)).toBe(0);
    });
  });
});
