/**
 * `queueLength` on RabbitMQ asked many times at once (queue-checks.ts), as the dashboard asks
 * for every queue: a passive declare of a missing queue closes its channel (404), which must
 * fail no other caller's check and leave no wrong count. A vhost of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../../../test/support/amqp-env.js';
import { makeMessage } from '../../testing/broker-harness.js';
import { CLASSIC_TOPOLOGY } from '../../core/queue-topology.js';
import { AmqpBroker } from './amqp-broker.js';
import { LANES } from './queue-checks.js';

const ready = await amqpAvailable();

describe.runIf(ready)('amqp queueLength under concurrency', () => {
  let vhost = '';
  let broker: AmqpBroker;
  /** Queue name -> messages published to it. */
  const filled = new Map<string, number>();
  beforeAll(async () => {
    vhost = await createVhost('queue-length');
    broker = new AmqpBroker(vhostUrl(vhost), { log: () => undefined, queues: CLASSIC_TOPOLOGY });
    await broker.connect();
    for (let q = 0; q < 8; q++) {
      const name = `len-${q}`;
      filled.set(name, q + 1);
      for (let i = 0; i <= q; i++) await broker.publish(makeMessage(`${name}-${i}`), { exchange: '', routingKey: name });
    }
  }, 60_000);
  afterAll(async () => {
    await broker?.close();
    await deleteVhost(vhost);
  }, 60_000);

  it('many checks at once, a third of them of missing queues: every one gets its own count', async () => {
    const asked: [string, number][] = [];
    for (let i = 0; i < 240; i++) {
      const missing = i % 3 === 1;
      const name = missing ? `missing-${i}` : `len-${i % 8}`;
      asked.push([name, missing ? 0 : (filled.get(name) as number)]);
    }
    const settled = await Promise.allSettled(asked.map(([name]) => broker.queueLength(name)));
    const got = settled.map((s) => (s.status === 'fulfilled' ? s.value : `failed: ${String((s.reason as Error).message)}`));
    expect(got).toEqual(asked.map(([, n]) => n));
    // And again, sequentially, on the channels the 404s left.
    for (const [name, n] of asked.slice(0, 12)) expect(await broker.queueLength(name)).toBe(n);
  }, 60_000);

  it('a run of missing queues only: each answers 0, none fails, and later checks still work', async () => {
    const names = Array.from({ length: 4 * LANES + 3 }, (_, i) => `gone-${i}`);
    expect(await Promise.all(names.map((n) => broker.queueLength(n)))).toEqual(names.map(() => 0));
    expect(await Promise.all([broker.queueLength('len-7'), broker.queueLength('gone-x'), broker.queueLength('len-0')])).toEqual([8, 0, 1]);
  }, 60_000);

  it('hostile names (empty, longer than AMQP allows) fail alone: the others get their counts', async () => {
    const long = 'x'.repeat(300);
    const results = await Promise.allSettled([broker.queueLength(long), broker.queueLength('len-2'), broker.queueLength('')]);
    expect(results[0]?.status).toBe('rejected');
    expect(results[1]).toEqual({ status: 'fulfilled', value: 3 });
    expect(results[2]?.status).toBe('rejected');
    // Every lane still answers, the one the long name went to included.
    const again = Array.from({ length: 2 * LANES }, () => broker.queueLength('len-1'));
    expect(await Promise.all(again)).toEqual(again.map(() => 2));
  }, 60_000);

  it('a publish to a name longer than AMQP allows fails alone: declarations on the shared channel go on', async () => {
    await expect(broker.publish(makeMessage('too-long'), { exchange: '', routingKey: 'y'.repeat(256) })).rejects.toThrow();
    await broker.publish(makeMessage('after-too-long'), { exchange: '', routingKey: 'after-long' });
    expect(await broker.queueLength('after-long')).toBe(1);
  }, 20_000);
});
