/**
 * A channel closed by RabbitMQ with 406 PRECONDITION_FAILED (what `consumer_timeout` does to
 * a consumer holding a message too long, docs/protocol-amqp.md §3.3) is reopened, never
 * fatal: the consumer consumes again, the message it held comes back redelivered and is
 * settled by the original delivery's ack rather than handed out twice. The 406 is provoked
 * by acking an unknown delivery tag on the consumer's own channel.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../../../test/support/amqp-env.js';
import type { Delivery } from '../../core/spi/broker.js';
import { makeMessage } from '../../testing/broker-harness.js';
import { waitFor } from '../../testing/wait-for.js';
import { AmqpBroker } from './amqp-broker.js';

const ready = await amqpAvailable();

describe.runIf(ready)('amqp consumer: 406 channel close', () => {
  let vhost = '';
  beforeAll(async () => {
    vhost = await createVhost('ch406');
  });
  afterAll(async () => {
    await deleteVhost(vhost);
  });

  it('reopens the channel, keeps consuming, and does not hand the held message out twice', async () => {
    const warnings: string[] = [];
    const broker = new AmqpBroker(vhostUrl(vhost), { log: (_level, msg, fields) => warnings.push(`${msg}: ${fields?.err?.message ?? ''}`) });
    const got: Delivery[] = [];
    try {
      await broker.declareQueue('q406');
      await broker.publish(makeMessage('held'), { exchange: '', routingKey: 'q406' });
      const consumer = broker.consume({ queues: ['q406'], prefetch: 10, onDelivery: (d) => got.push(d) });
      await waitFor(() => got.length === 1, 'the first delivery');
      const held = got[0] as Delivery & { held: { channel: Channel; msg: ConsumeMessage } };
      // An ack of a tag the channel never delivered: RabbitMQ closes the channel with 406.
      held.held.channel.ack({ ...held.held.msg, fields: { ...held.held.msg.fields, deliveryTag: 999_999 } });
      await waitFor(() => warnings.some((w) => /PRECONDITION_FAILED/.test(w)), 'the 406 channel close');
      await broker.publish(makeMessage('after'), { exchange: '', routingKey: 'q406' });
      await waitFor(() => got.some((d) => JSON.parse(d.raw).headers.id === 'after'), 'a delivery on the reopened channel', 15_000);
      // The held message came back redelivered to this consumer, and was not handed out again.
      expect(got.map((d) => JSON.parse(d.raw).headers.id)).toEqual(['held', 'after']);
      await held.ack();
      await (got[1] as Delivery).ack();
      await consumer.close();
    } finally {
      await broker.close();
    }
    // The connection is closed, so anything left unacked is back in the queue: nothing is.
    const check = new AmqpBroker(vhostUrl(vhost));
    try {
      expect(await check.queueLength('q406')).toBe(0);
    } finally {
      await check.close();
    }
  }, 60_000);
});
