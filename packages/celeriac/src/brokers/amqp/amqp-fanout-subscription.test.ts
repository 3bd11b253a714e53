/**
 * A pub/sub subscription on RabbitMQ (fanout-subscription.ts), on a vhost of its own: over a
 * lost connection, unsubscribed while it is subscribing again after the reconnect, it must not
 * leave the new channel consuming (a queue of its own bound to the exchange, its messages
 * dropped, until the connection closes); and when RabbitMQ cancels its consumer (its queue
 * deleted), it subscribes again, as a worker's mailbox must, trying again while its queue
 * cannot be declared.
 */
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from 'celeriac/testing';
import { amqpAvailable, closeConnections, createVhost, deleteQueue, deleteVhost, listQueues, onChannel, vhostUrl } from '../../../test/support/amqp-env.js';
import { AmqpSession } from '../../amqp/session.js';
import { parseAmqpUrls } from '../../amqp/url.js';
import { waitFor } from '../../testing/wait-for.js';
import { fanoutWire, subscribeExchange } from './fanout-subscription.js';

const ready = await amqpAvailable();

describe.runIf(ready)('a fanout subscription over a lost connection', () => {
  let vhost = '';
  beforeAll(async () => {
    vhost = await createVhost('fanout-sub');
  }, 60_000);
  afterAll(async () => {
    await deleteVhost(vhost);
  }, 60_000);

  /** The vhost's queues with a consumer, by name. */
  const consumed = async (): Promise<string[]> =>
    (await listQueues(vhost, ['consumers']))
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter(([name, consumers]) => name !== undefined && name !== '' && Number(consumers) > 0)
      .map(([name]) => name as string);

  it('unsubscribed while it subscribes again after a reconnect, it leaves no consumer behind', async () => {
    const session = new AmqpSession(parseAmqpUrls(vhostUrl(vhost)), { log: () => undefined });
    try {
      const unsubscribe = await subscribeExchange(session, () => undefined, { exchange: 'celeryev', bindingKey: '#', mailbox: undefined }, () => undefined);
      expect(await consumed()).toHaveLength(1);
      // Runs right after the subscription's own reconnect listener, which has begun subscribing again.
      let unsubscribing: Promise<void> | undefined;
      session.onReconnect(() => (unsubscribing ??= unsubscribe()));
      await closeConnections(vhost, 'celeriac test');
      await waitFor(() => unsubscribing !== undefined, 'the reconnect', 30_000);
      await unsubscribing;
      // The subscription's channel, had it been left consuming, is open by now.
      await sleep(1000);
      expect(await consumed()).toEqual([]);
    } finally {
      await session.close();
    }
  }, 60_000);

  it('subscribes again when RabbitMQ cancels its consumer (its queue deleted): what comes next still arrives', async () => {
    const session = new AmqpSession(parseAmqpUrls(vhostUrl(vhost)), { log: () => undefined });
    const mailbox = 'w1@box.celery.pidbox';
    const got: string[] = [];
    try {
      const unsubscribe = await subscribeExchange(session, () => undefined, { exchange: 'celery.pidbox', bindingKey: '', mailbox }, (raw) => got.push(raw));
      expect(await consumed()).toEqual([mailbox]);
      await deleteQueue(vhost, mailbox);
      await waitFor(async () => (await consumed()).includes(mailbox), 'the mailbox consumed again', 30_000);
      const channel = await (await session.connection()).createChannel();
      const { content, options } = fanoutWire('ping');
      channel.publish('celery.pidbox', '', content, options);
      await waitFor(() => got.includes('ping'), 'the message after the cancel', 10_000);
      await channel.close();
      await unsubscribe();
    } finally {
      await session.close();
    }
  }, 60_000);

  it('tries again while its queue cannot be declared after a cancel, and consumes it once it can', async () => {
    const refused: string[] = [];
    const session = new AmqpSession(parseAmqpUrls(vhostUrl(vhost)), { log: () => undefined });
    const mailbox = 'w2@box.celery.pidbox';
    const conn = await amqp.connect(vhostUrl(vhost));
    conn.on('error', () => undefined);
    try {
      const log = (level: string, msg: string) => void (msg === 'could not subscribe again' && refused.push(level));
      const unsubscribe = await subscribeExchange(session, log, { exchange: 'celery.pidbox', bindingKey: '', mailbox }, () => undefined);
      // Deleted (the consumer cancelled) and declared again at once as durable, without the
      // mailbox's arguments: the subscription's own declaration is refused while it stays so.
      await onChannel(conn, async (ch) => {
        await ch.deleteQueue(mailbox);
        await ch.assertQueue(mailbox, { durable: true, autoDelete: false });
      });
      await waitFor(() => refused.length >= 1, 'a refused subscription', 30_000);
      await onChannel(conn, (ch) => ch.deleteQueue(mailbox));
      await waitFor(async () => (await consumed()).includes(mailbox), 'the mailbox consumed again', 30_000);
      await unsubscribe();
    } finally {
      await session.close();
      await conn.close().catch(() => undefined);
    }
  }, 60_000);
});
