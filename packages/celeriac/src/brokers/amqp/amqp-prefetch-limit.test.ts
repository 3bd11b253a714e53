/**
 * A prefetch past what `basic.qos` can carry (16 bits) on a real RabbitMQ: `-c 20000` makes
 * 80,000 at the default multiplier. Encoding it threw before, so such a worker said it was
 * ready and never consumed; now the channel consumes without a limit, as kombu's QoS does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amqpAvailable, createVhost, deleteVhost, rabbitmqctl, vhostUrl } from '../../../test/support/amqp-env.js';
import type { Delivery } from '../../core/spi/broker.js';
import { makeMessage } from '../../testing/broker-harness.js';
import { waitFor } from '../../testing/wait-for.js';
import { AmqpBroker } from './amqp-broker.js';

const ready = await amqpAvailable();

describe.runIf(ready)('amqp consumer: a prefetch over 65535', () => {
  let vhost = '';
  beforeAll(async () => {
    vhost = await createVhost('prefetchmax');
  });
  afterAll(async () => {
    await deleteVhost(vhost);
  });

  /** The global prefetch count of each of the vhost's channels, as RabbitMQ reports them. */
  const globalPrefetch = async () =>
    (await rabbitmqctl('list_channels', 'vhost', 'global_prefetch_count', '--no-table-headers', '--quiet'))
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter(([name]) => name === vhost)
      .map(([, count]) => Number(count));

  it('consumes without a limit, warns once, and takes a smaller prefetch again later', async () => {
    const warnings: string[] = [];
    const errors: Error[] = [];
    const broker = new AmqpBroker(vhostUrl(vhost), { log: (_level, msg) => warnings.push(msg) });
    const got: Delivery[] = [];
    try {
      await broker.declareQueue('big');
      for (const id of ['m1', 'm2', 'm3']) await broker.publish(makeMessage(id), { exchange: '', routingKey: 'big' });
      const consumer = broker.consume({ queues: ['big'], prefetch: 80_000, onDelivery: (d) => got.push(d), onError: (err) => errors.push(err) });
      await waitFor(() => got.length === 3, 'the three deliveries');
      expect(warnings).toEqual(["prefetch 80000 is more than RabbitMQ's limit of 65535: consuming without a prefetch limit"]);
      // Global QoS on classic queues: the channels' limit is 0, no limit.
      const counts = await globalPrefetch();
      expect(counts.length).toBeGreaterThan(0);
      expect(counts.filter((n) => n !== 0)).toEqual([]);

      // A pool grown further changes nothing and warns of the new count once.
      consumer.setPrefetch(90_000);
      consumer.setPrefetch(90_000);
      await broker.publish(makeMessage('m4'), { exchange: '', routingKey: 'big' });
      await waitFor(() => got.length === 4, 'the delivery after the change');
      expect(warnings).toHaveLength(2);
      expect(warnings[1]).toContain('prefetch 90000');

      // Shrunk below the limit, the prefetch applies again.
      consumer.setPrefetch(8);
      await waitFor(async () => (await globalPrefetch()).includes(8), 'the channel to take a prefetch of 8');
      expect(errors).toEqual([]);
      await Promise.all(got.map((d) => d.ack()));
      await consumer.close();
    } finally {
      await broker.close();
    }
  }, 60_000);
});
