/**
 * AmqpBroker.offline() (QueueBroker.offline), so a warm shutdown with RabbitMQ down does not
 * wait on it step after step (worker.ts, as RedisBroker's since 49cb650): true only while a
 * connection it had is lost and not back; false before the first connection, while
 * connected, and once closed. RabbitMQ reached through a TCP proxy that cuts connections.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amqpAvailable, createVhost, deleteVhost, TEST_AMQP_HOST } from '../../../test/support/amqp-env.js';
import { FaultProxy } from '../../../test/support/fault-proxy.js';
import { waitFor } from '../../testing/wait-for.js';
import { AmqpBroker } from './amqp-broker.js';

const ready = await amqpAvailable();

describe.runIf(ready)('AmqpBroker.offline()', () => {
  let vhost = '';
  const proxy = new FaultProxy(Number(TEST_AMQP_HOST.split(':')[1]));

  beforeAll(async () => {
    vhost = await createVhost('offline');
    await proxy.start();
  });
  afterAll(async () => {
    await proxy.close();
    await deleteVhost(vhost);
  });

  it('is true while a lost connection is not back, and only then', async () => {
    const broker = new AmqpBroker(`amqp://guest:guest@127.0.0.1:${proxy.port}/${encodeURIComponent(vhost)}`, { log: () => undefined, connectWaitMs: 10_000 });
    try {
      // Never connected: not known to be down.
      expect(broker.offline()).toBe(false);
      await broker.connect();
      expect(broker.offline()).toBe(false);
      proxy.cut();
      await waitFor(() => broker.offline(), 'the broker to know its connection is lost', 10_000);
      proxy.heal();
      await waitFor(() => !broker.offline(), 'the broker to reconnect', 20_000);
      expect(await broker.queueLength('offline-probe')).toBe(0);
    } finally {
      await broker.close();
    }
    expect(broker.offline()).toBe(false);
  }, 40_000);
});
