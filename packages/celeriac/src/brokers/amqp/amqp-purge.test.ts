/**
 * `purge` on RabbitMQ reaches delayed messages (purge-delayed.ts): the delay ladder is shared
 * by every queue, so purging one queue must drop its delayed messages and leave every other
 * queue's in the ladder, due no earlier than before; the delivery-time header Celeriac adds
 * is never seen by consumers. Both ladders: Celeriac's (classic queues) and kombu's (an app
 * with quorum queues). A vhost of its own each.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../../../test/support/amqp-env.js';
import type { Delivery } from '../../core/spi/broker.js';
import { makeMessage } from '../../testing/broker-harness.js';
import { waitFor } from '../../testing/wait-for.js';
import { CLASSIC_TOPOLOGY } from '../../core/queue-topology.js';
import { AmqpBroker } from './amqp-broker.js';
import { CELERIAC_LADDER, KOMBU_LADDER } from './delayed.js';
import { DELIVER_AT_HEADER } from './purge-delayed.js';

const ready = await amqpAvailable();

const QUORUM = { ...CLASSIC_TOPOLOGY, defaultQueue: 'kept', queues: { kept: { queueArguments: { 'x-queue-type': 'quorum' } } } };

describe.runIf(ready).each([
  ['classic queues', CLASSIC_TOPOLOGY, CELERIAC_LADDER],
  ['quorum queues', QUORUM, KOMBU_LADDER],
] as const)('amqp purge with delayed messages (%s)', (_label, queues, ladder) => {
  let vhost = '';
  let broker: AmqpBroker;
  beforeAll(async () => {
    vhost = await createVhost('purge', { quorum: ladder === KOMBU_LADDER });
    broker = new AmqpBroker(vhostUrl(vhost), { log: () => undefined, queues });
    await broker.connect();
    expect(broker.ladder).toBe(ladder);
  }, 60_000);
  afterAll(async () => {
    await broker?.close();
    await deleteVhost(vhost);
  }, 60_000);

  const inLadder = async () => {
    let n = 0;
    for (let i = 0; i < ladder.levels; i++) n += await broker.queueLength(ladder.levelName(i));
    return n;
  };

  it('drops the purged queue\'s delayed messages and keeps the others\' with their due time', async () => {
    const soon = Date.now() + 3000;
    const later = Date.now() + 3_600_000;
    for (let i = 0; i < 2; i++) await broker.publish(makeMessage(`p-ready-${i}`), { exchange: '', routingKey: 'purged' });
    for (let i = 0; i < 3; i++) await broker.publish(makeMessage(`p-soon-${i}`), { exchange: '', routingKey: 'purged', deliverAt: soon });
    await broker.publish(makeMessage('p-later'), { exchange: '', routingKey: 'purged', deliverAt: later });
    for (let i = 0; i < 3; i++) await broker.publish(makeMessage(`k-soon-${i}`), { exchange: '', routingKey: 'kept', deliverAt: soon });
    for (let i = 0; i < 2; i++) await broker.publish(makeMessage(`k-later-${i}`), { exchange: '', routingKey: 'kept', deliverAt: later });

    expect(await broker.purge('purged')).toBe(6);
    expect(await broker.queueLength('purged')).toBe(0);

    const got: { id: string; at: number; delivery: Delivery }[] = [];
    const onDelivery = (d: Delivery) => got.push({ id: String(JSON.parse(d.raw).headers.id), at: Date.now(), delivery: d });
    const consumer = broker.consume({ queues: ['kept', 'purged'], prefetch: 20, onDelivery });
    try {
      await waitFor(() => got.length >= 3, 'the kept queue\'s soon messages', 30_000);
      expect(got.map((g) => g.id).sort()).toEqual(['k-soon-0', 'k-soon-1', 'k-soon-2']);
      // Sent back into the ladder with what was left of their delay: not delivered early.
      for (const g of got) expect(g.at).toBeGreaterThanOrEqual(soon - 50);
      for (const g of got) expect(JSON.parse(g.delivery.raw).headers).not.toHaveProperty(DELIVER_AT_HEADER);
      // The hour-long ones of the kept queue wait on in the ladder; none of the purged queue's do.
      expect(await inLadder()).toBe(2);
      for (const g of got) await g.delivery.ack();
    } finally {
      await consumer.close();
    }
    // Nothing of the purged queue ever arrived.
    expect(got.some((g) => g.id.startsWith('p-'))).toBe(false);
    // A purge of a queue with nothing anywhere.
    expect(await broker.purge('never-declared')).toBe(0);
    expect(await broker.purge('kept')).toBe(2);
    expect(await inLadder()).toBe(0);
  }, 90_000);
});
