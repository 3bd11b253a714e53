/**
 * Declarations on RabbitMQ share the broker's admin channel (declarations.ts): one refused with
 * a 406 (a queue that exists with other arguments) closes that channel, and must not fail the
 * declarations sent beside it. A vhost of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../../../test/support/amqp-env.js';
import { CLASSIC_TOPOLOGY } from '../../core/queue-topology.js';
import { AmqpBroker } from './amqp-broker.js';

const ready = await amqpAvailable();

describe.runIf(ready)('amqp declarations beside a refused one', () => {
  let vhost = '';
  let prioritised: AmqpBroker;
  let plain: AmqpBroker;
  beforeAll(async () => {
    vhost = await createVhost('declare-concurrent');
    prioritised = new AmqpBroker(vhostUrl(vhost), { log: () => undefined, queues: CLASSIC_TOPOLOGY, queueMaxPriority: 10 });
    plain = new AmqpBroker(vhostUrl(vhost), { log: () => undefined, queues: CLASSIC_TOPOLOGY });
    await prioritised.declareQueue('with-priority');
  }, 60_000);
  afterAll(async () => {
    await prioritised?.close();
    await plain?.close();
    await deleteVhost(vhost);
  }, 60_000);

  it('a 406 fails its own declaration only', async () => {
    const others = Array.from({ length: 20 }, (_, i) => `beside-${i}`);
    const settled = await Promise.allSettled([plain.declareQueue('with-priority'), ...others.map((q) => plain.declareQueue(q))]);
    expect(settled[0]?.status).toBe('rejected');
    expect(String((settled[0] as PromiseRejectedResult).reason)).toMatch(/PRECONDITION_FAILED|inequivalent/);
    expect(settled.slice(1).map((s) => (s.status === 'fulfilled' ? 'ok' : String((s as PromiseRejectedResult).reason)))).toEqual(others.map(() => 'ok'));
    for (const q of others) expect(await plain.queueLength(q)).toBe(0);
  }, 60_000);
});
