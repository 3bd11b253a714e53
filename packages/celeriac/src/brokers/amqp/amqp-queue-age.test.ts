/**
 * Queue age on real RabbitMQ (queue-age.ts, issue 48 point 6): a Celeriac producer stamps the
 * AMQP `timestamp`; the next message of a classic queue is read by taking it and giving it
 * back, which keeps the order of delivery; a quorum queue is never read, whether the app
 * declares it quorum or it exists as quorum though configured classic, because every return
 * counts toward its `x-delivery-limit`. The producer's clock is two minutes behind, so its
 * stamps are told apart from now. A vhost of its own.
 */
import type { GetMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { amqpAvailable, vhostPerSuite, vhostUrl } from '../../../test/support/amqp-env.js';
import { CLASSIC_TOPOLOGY, type QueueTopology } from '../../core/queue-topology.js';
import { makeMessage } from '../../testing/broker-harness.js';
import { FakeClock } from '../../testing/fake-clock.js';
import { AmqpBroker } from './amqp-broker.js';

const ready = await amqpAvailable();

describe.runIf(ready)('amqp queue age', () => {
  const v = vhostPerSuite('queue-age');
  const start = Date.now() - 120_000;
  const clock = new FakeClock(start);
  /** What the producer's stamp of a send at `start` reads back as (whole seconds). */
  const stamped = Math.floor(start / 1000) * 1000;
  const open = (queues: QueueTopology = CLASSIC_TOPOLOGY, queueMaxPriority: number | null = null) => {
    const b = new AmqpBroker(vhostUrl(v.name), { queues, queueMaxPriority, clock, log: () => undefined, connectWaitMs: 10_000 });
    v.brokers.push(b);
    return b;
  };
  const onChannel = v.onChannel;
  /** Takes every message of `queue` (acked): ids, redelivered flags and delivery counts, in order. */
  const drain = (queue: string) =>
    onChannel(async (ch) => {
      const out: { id: string; redelivered: boolean; count: unknown; timestamp: unknown }[] = [];
      for (let m: GetMessage | false; (m = await ch.get(queue, { noAck: true })) !== false; ) {
        const headers = m.properties.headers as Record<string, unknown>;
        out.push({ id: String(headers['id']), redelivered: m.fields.redelivered, count: headers['x-delivery-count'], timestamp: m.properties.timestamp });
      }
      return out;
    });
  const readTimes = async (broker: AmqpBroker, queue: string, n: number) => {
    const out: (number | null)[] = [];
    for (let i = 0; i < n; i++) out.push(await broker.queueWaitingSince(queue));
    return out;
  };

  it('a classic queue: the send time of its next message, read five times, the order of delivery kept', async () => {
    const broker = open();
    await broker.publish(makeMessage('c1'), { exchange: '', routingKey: 'age-classic' });
    clock.advance(30_000);
    await broker.publish(makeMessage('c2'), { exchange: '', routingKey: 'age-classic' });
    await broker.publish(makeMessage('c3'), { exchange: '', routingKey: 'age-classic' });
    expect(await readTimes(broker, 'age-classic', 5)).toEqual([stamped, stamped, stamped, stamped, stamped]);
    expect(await broker.queueLength('age-classic')).toBe(3);
    const got = await drain('age-classic');
    expect(got.map((g) => g.id)).toEqual(['c1', 'c2', 'c3']);
    expect(got.map((g) => g.timestamp)).toEqual([stamped / 1000, stamped / 1000 + 30, stamped / 1000 + 30]);
    // The one trace of the reads: the message taken and given back is marked redelivered. No count.
    expect(got.map((g) => g.redelivered)).toEqual([true, false, false]);
    expect(got.every((g) => g.count === undefined)).toBe(true);
  });

  it('an empty queue and a missing one: no time, and the missing one is not created', async () => {
    const broker = open();
    await broker.declareQueue('age-empty');
    expect(await broker.queueWaitingSince('age-empty')).toBeNull();
    expect(await broker.queueWaitingSince('age-nowhere')).toBeNull();
    const err = await onChannel((ch) => ch.checkQueue('age-nowhere').then(() => null, (e: { code?: number }) => e.code));
    expect(err).toBe(404);
  });

  it('a message with no timestamp (as kombu sends) has no time; a priority queue (x-max-priority) is probed through', async () => {
    const broker = open(CLASSIC_TOPOLOGY, 10);
    await broker.declareQueue('age-prio');
    await onChannel(async (ch) => {
      ch.sendToQueue('age-prio', Buffer.from('[[],{},{}]'), { headers: { id: 'py1', task: 't' }, contentType: 'application/json' });
      await ch.checkQueue('age-prio');
    });
    expect(await broker.queueWaitingSince('age-prio')).toBeNull();
    await drain('age-prio');
    await broker.publish(makeMessage('p1'), { exchange: '', routingKey: 'age-prio', priority: 5 });
    expect(await broker.queueWaitingSince('age-prio')).toBe(Math.floor(clock.now() / 1000) * 1000);
  });

  it('a queue the app declares quorum is never taken from: its delivery count stays 0', async () => {
    const broker = open({ ...CLASSIC_TOPOLOGY, defaultQueueType: 'quorum', queues: { 'age-quorum': { queueArguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 2 } } } });
    await broker.publish(makeMessage('q1'), { exchange: '', routingKey: 'age-quorum' });
    expect(await readTimes(broker, 'age-quorum', 5)).toEqual([null, null, null, null, null]);
    expect(await drain('age-quorum')).toEqual([{ id: 'q1', redelivered: false, count: 0, timestamp: expect.any(Number) as unknown }]);
  });

  it('a queue that exists as quorum though the app says classic: the probe tells, and it is never taken from', async () => {
    await onChannel(async (ch) => {
      await ch.assertQueue('age-their-quorum', { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 2 } });
      ch.sendToQueue('age-their-quorum', Buffer.from('[[],{},{}]'), { headers: { id: 'tq1', task: 't' }, timestamp: Math.floor(start / 1000) });
      await ch.checkQueue('age-their-quorum');
    });
    const broker = open();
    expect(await readTimes(broker, 'age-their-quorum', 5)).toEqual([null, null, null, null, null]);
    expect(await drain('age-their-quorum')).toEqual([{ id: 'tq1', redelivered: false, count: 0, timestamp: Math.floor(start / 1000) }]);
  });

  it('a classic queue deleted and declared again as quorum within the type cache: one read, then never again', async () => {
    const broker = open();
    await broker.publish(makeMessage('r1'), { exchange: '', routingKey: 'age-retyped' });
    expect(await broker.queueWaitingSince('age-retyped')).toBe(Math.floor(clock.now() / 1000) * 1000);
    await onChannel(async (ch) => {
      await ch.deleteQueue('age-retyped');
      await ch.assertQueue('age-retyped', { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 5 } });
      ch.sendToQueue('age-retyped', Buffer.from('[[],{},{}]'), { headers: { id: 'r2', task: 't' }, timestamp: 1 });
      await ch.checkQueue('age-retyped');
    });
    // The first read takes the message, sees the quorum queue's x-delivery-count and gives it back unread.
    expect(await readTimes(broker, 'age-retyped', 5)).toEqual([null, null, null, null, null]);
    const got = await drain('age-retyped');
    expect(got.map((g) => g.id)).toEqual(['r2']);
    // RabbitMQ before 4.3 counts that one return; from 4.3 on a return by channel close is not counted.
    expect(got[0]?.count).toBeLessThanOrEqual(1);
  });
});
