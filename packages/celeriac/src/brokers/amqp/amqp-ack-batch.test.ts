/**
 * Acks sent together (ack-batcher.ts) on a real RabbitMQ: acks of one turn around deliveries
 * still running leave those unacked (a multiple ack never covers them), so when the
 * connection goes, exactly the unsettled messages come back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amqpAvailable, createVhost, deleteVhost, listQueues, vhostUrl } from '../../../test/support/amqp-env.js';
import type { Delivery } from '../../core/spi/broker.js';
import { makeMessage } from '../../testing/broker-harness.js';
import { waitFor } from '../../testing/wait-for.js';
import { AmqpBroker } from './amqp-broker.js';

const ready = await amqpAvailable();
const idOf = (d: Delivery) => String(JSON.parse(d.raw).headers.id);

describe.runIf(ready)('amqp consumer: batched acks', () => {
  let vhost = '';
  beforeAll(async () => {
    vhost = await createVhost('ackbatch');
  });
  afterAll(async () => {
    await deleteVhost(vhost);
  });

  it('acks the settled deliveries of a turn together and leaves the running ones unacked', async () => {
    const warnings: string[] = [];
    const broker = new AmqpBroker(vhostUrl(vhost), { log: (_level, msg) => warnings.push(msg) });
    const got: Delivery[] = [];
    const ids = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8'];
    try {
      await broker.declareQueue('qbatch');
      for (const id of ids) await broker.publish(makeMessage(id), { exchange: '', routingKey: 'qbatch' });
      broker.consume({ queues: ['qbatch'], prefetch: 20, onDelivery: (d) => got.push(d) });
      await waitFor(() => got.length === ids.length, 'every delivery');
      expect(got.map(idOf)).toEqual(ids);
      const unacked = async () => Number((await listQueues(vhost, ['messages_unacknowledged'])).match(/qbatch\s+(\d+)/)?.[1]);
      // m6 keeps running. One turn settles the others: m3 by a reject, m1..m5 by one multiple
      // ack up to m5 (over the rejected m3), m7 and m8 one by one (m6 is unsettled before them).
      const settle = (d: Delivery) => (idOf(d) === 'm3' ? d.reject({ requeue: false }) : d.ack());
      await Promise.all(got.filter((d) => idOf(d) !== 'm6').map(settle));
      await waitFor(async () => (await unacked()) === 1, 'RabbitMQ to count 1 unacked message', 20_000);
      expect(warnings).toEqual([]);
    } finally {
      await broker.close();
    }
    // The connection is gone: only the message still running comes back.
    const again = new AmqpBroker(vhostUrl(vhost));
    const back: Delivery[] = [];
    try {
      expect(await again.queueLength('qbatch')).toBe(1);
      const consumer = again.consume({ queues: ['qbatch'], prefetch: 5, onDelivery: (d) => back.push(d) });
      await waitFor(() => back.length === 1, 'the redelivery');
      expect(back.map(idOf)).toEqual(['m6']);
      await (back[0] as Delivery).ack();
      await consumer.close();
    } finally {
      await again.close();
    }
  }, 60_000);
});
