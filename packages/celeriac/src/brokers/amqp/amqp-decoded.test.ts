/**
 * The worker reads an AMQP delivery's message straight from the frame (`Delivery.decoded`)
 * instead of writing the kombu envelope and parsing it again: the two must agree, for typed
 * headers of every kind, a non-ASCII body, the properties, and a redelivery. A vhost of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../../../test/support/amqp-env.js';
import type { Delivery } from '../../core/spi/broker.js';
import { decodeEnvelope } from '../../protocol/envelope.js';
import type { Message } from '../../protocol/types.js';
import { waitFor } from '../../testing/wait-for.js';
import { AmqpBroker } from './amqp-broker.js';

const ready = await amqpAvailable();

function message(id: string): Message {
  return {
    headers: {
      lang: 'py',
      task: 'decoded.check',
      id,
      root_id: id,
      parent_id: null,
      retries: 3,
      timelimit: [null, 2.5],
      big: 2 ** 40,
      negative: -7,
      flag: false,
      nested: { a: [1, 'two', { three: 3.25 }], 'ключ': 'значение' },
      argsrepr: '(1, "é")',
    },
    properties: { correlation_id: id, reply_to: 'reply.q', delivery_mode: 2, priority: 3, expiration: '60000' },
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    body: '[[1, "é ✓ 𝄞"], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]',
  };
}

describe.runIf(ready)('amqp delivery: decoded message equals the envelope\'s', () => {
  let vhost = '';
  beforeAll(async () => {
    vhost = await createVhost('decoded');
  }, 60_000);
  afterAll(async () => {
    await deleteVhost(vhost);
  }, 60_000);

  it('for a first delivery and a redelivery', async () => {
    const broker = new AmqpBroker(vhostUrl(vhost), { queueMaxPriority: 10 });
    const got: Delivery[] = [];
    try {
      await broker.declareQueue('dq');
      await broker.publish(message('m1'), { exchange: '', routingKey: 'dq' });
      const consumer = broker.consume({ queues: ['dq'], prefetch: 5, onDelivery: (d) => got.push(d) });
      await waitFor(() => got.length === 1, 'the delivery');
      const first = got[0] as Delivery;
      expect(first.decoded).toBeDefined();
      expect(first.decoded).toEqual(decodeEnvelope(first.raw).message);
      expect(first.decoded?.body).toBe(message('m1').body);
      await first.restore();
      await waitFor(() => got.length === 2, 'the redelivery', 15_000);
      const again = got[1] as Delivery;
      expect(again.redelivered).toBe(true);
      expect(again.decoded?.headers['redelivered']).toBe(true);
      expect(again.decoded).toEqual(decodeEnvelope(again.raw).message);
      await again.ack();
      await consumer.close();
    } finally {
      await broker.close();
    }
  }, 60_000);
});
