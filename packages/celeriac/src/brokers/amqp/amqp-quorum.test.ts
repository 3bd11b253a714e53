/**
 * Quorum queues on RabbitMQ (issue 48 §2): declarations as Celery 5.5+ makes them, kombu's
 * native delayed delivery (the `celery_delayed_*` ladder, checked against arguments written
 * here from kombu 5.6's source), delivery counts from `x-delivery-count`, the stated
 * behaviour for a queue that exists with another type, and failover URL lists. The conformance
 * suite runs on quorum queues too (amqp-broker.test.ts). A vhost of its own.
 */
import amqp from 'amqplib';
import { describe, expect, it } from 'vitest';
import { amqpAvailable, createVhost, deleteVhost, TEST_AMQP_HOST, vhostPerSuite, vhostUrl } from '../../../test/support/amqp-env.js';
import { CLASSIC_TOPOLOGY, type QueueTopology } from '../../core/queue-topology.js';
import type { Delivery } from '../../core/spi/broker.js';
import { ErrorCodes } from '../../errors.js';
import { envelopeOf, idOf, makeMessage } from '../../testing/broker-harness.js';
import { sleep, waitFor } from '../../testing/wait-for.js';
import { AmqpBroker } from './amqp-broker.js';

const ready = await amqpAvailable();

const QUORUM_DEFAULT: QueueTopology = { ...CLASSIC_TOPOLOGY, defaultQueueType: 'quorum', defaultExchangeType: 'topic' };

/** kombu 5.6 `declare_native_delayed_delivery_exchanges_and_queues`, level by level. */
function kombuLevelArguments(level: number): Record<string, unknown> {
  return {
    'x-queue-type': 'quorum',
    'x-overflow': 'reject-publish',
    'x-message-ttl': 2 ** level * 1000,
    'x-dead-letter-exchange': level > 0 ? `celery_delayed_${level - 1}` : 'celery_delayed_delivery',
    'x-dead-letter-strategy': 'at-least-once',
  };
}

/** kombu 5.6 `calculate_routing_key`. */
function kombuRoutingKey(countdownSec: number, routingKey: string): string {
  return `${countdownSec.toString(2).padStart(28, '0').split('').join('.')}.${routingKey}`;
}

describe.runIf(ready)('amqp quorum queues', () => {
  const v = vhostPerSuite('quorum', { quorum: true });
  const warnings: string[] = [];
  const open = (queues: QueueTopology, url = vhostUrl(v.name)) => {
    const b = new AmqpBroker(url, { queues, log: (_level, msg, fields) => warnings.push(`${msg} ${JSON.stringify(fields ?? {})}`), connectWaitMs: 10_000 });
    v.brokers.push(b);
    return b;
  };
  const onChannel = v.onChannel;
  const rejection = (p: Promise<unknown>) => p.then(() => null, (err: unknown) => err as { code?: unknown; message: string });

  it('declares the default queue quorum on its exchange type, and the delay ladder exactly as a Celery 5.6 worker does', async () => {
    const broker = open(QUORUM_DEFAULT);
    await broker.connect();
    await broker.declareQueue('celery');
    // Equivalent re-declarations pass; a classic one is refused: the queue is quorum.
    await onChannel((ch) => ch.assertQueue('celery', { durable: true, arguments: { 'x-queue-type': 'quorum' } }));
    expect((await rejection(onChannel((ch) => ch.assertQueue('celery', { durable: true }))))?.message).toMatch(/current is the value 'quorum'/);
    await onChannel((ch) => ch.assertExchange('celery', 'topic', { durable: true }));
    for (let level = 0; level < 28; level++) {
      await onChannel((ch) => ch.assertQueue(`celery_delayed_${level}`, { durable: true, arguments: kombuLevelArguments(level) }));
      await onChannel((ch) => ch.assertExchange(`celery_delayed_${level}`, 'topic', { durable: true }));
    }
    await onChannel((ch) => ch.assertExchange('celery_delayed_delivery', 'topic', { durable: true }));
    // Celeriac's own (classic) ladder is not made for an app with quorum queues.
    expect((await rejection(onChannel((ch) => ch.checkExchange('celeriac.delayed.31'))))?.code).toBe(404);
    expect(broker.capabilities.priorityOrder).toBe('highest-first');
    expect(broker.qosGlobal).toBe(false);
  });

  it("declares the whole ladder even where a Celery 5.6 producer's countdown made the entry exchange alone", async () => {
    // A plain vhost: a quorum one may hold the ladder already.
    const other = await createVhost('quorum2');
    try {
      const raw = await amqp.connect(vhostUrl(other));
      const ch = await raw.createChannel();
      // What kombu's producer declares when it sends a countdown: the entry exchange, nothing else.
      await ch.assertExchange('celery_delayed_27', 'topic', { durable: true });
      await raw.close();
      const broker = new AmqpBroker(vhostUrl(other), { queues: QUORUM_DEFAULT, log: () => undefined });
      try {
        await broker.connect();
        const got: Delivery[] = [];
        const consumer = broker.consume({ queues: ['celery'], prefetch: 1, onDelivery: (d) => got.push(d) });
        await broker.publish(makeMessage('after-partial'), { exchange: '', routingKey: 'celery', deliverAt: Date.now() + 500 });
        await waitFor(() => got.length === 1, 'the delayed message', 10_000);
        await (got[0] as Delivery).ack();
        await consumer.close();
      } finally {
        await broker.close();
      }
    } finally {
      await deleteVhost(other);
    }
  });

  it('sends a countdown through celery_delayed_* in whole seconds, never early', async () => {
    const broker = open(QUORUM_DEFAULT);
    const got: { d: Delivery; at: number }[] = [];
    const consumer = broker.consume({ queues: ['celery'], prefetch: 4, onDelivery: (d) => got.push({ d, at: Date.now() }) });
    try {
      const deliverAt = Date.now() + 1500;
      await broker.publish(makeMessage('cd-1'), { exchange: '', routingKey: 'celery', deliverAt });
      // 1.5 s is rounded up to 2 s: bit 1 set, so it waits in level 1 first.
      // A queue's message count trails a publish just confirmed (quorum queues, a loaded node):
      // waited for, not read once. Read once, a 0 failed this test under CI's load, and the
      // message, still in the ladder, then reached the next test's consumer.
      await waitFor(async () => (await onChannel((ch) => ch.checkQueue('celery_delayed_1'))).messageCount === 1, 'the message in level 1 of the ladder', 5000);
      await waitFor(() => got.length === 1, 'the delayed message', 10_000);
      const [first] = got as [{ d: Delivery; at: number }];
      expect(first.at).toBeGreaterThanOrEqual(deliverAt);
      expect(first.at).toBeLessThan(deliverAt + 2500);
      expect(idOf(first.d)).toBe('cd-1');
      const env = JSON.parse(first.d.raw) as { properties: { delivery_info: { routing_key: string } } };
      expect(env.properties.delivery_info.routing_key).toBe('celery');
      expect(envelopeOf(first.d).headers).not.toHaveProperty('x-celeriac-deliver-at');
      await first.d.ack();
    } finally {
      await consumer.close();
    }
  });

  it("receives a countdown routed as a Celery 5.6 producer routes it, by the worker's binding alone", async () => {
    const broker = open(QUORUM_DEFAULT);
    const got: Delivery[] = [];
    const consumer = broker.consume({ queues: ['celery'], prefetch: 4, onDelivery: (d) => got.push(d) });
    try {
      await waitFor(async () => (await onChannel((ch) => ch.checkQueue('celery'))).consumerCount === 1, 'the consumer', 10_000);
      // kombu's own bindings (exchange celery -> delivery exchange) do not exist in this vhost:
      // only the worker's binding of the queue routes it.
      const m = makeMessage('from-py');
      await onChannel(async (ch) => {
        ch.publish('celery_delayed_27', kombuRoutingKey(1, 'celery'), Buffer.from(m.body), { contentType: 'application/json', headers: m.headers, correlationId: 'from-py' });
        await sleep(50); // real time for the publish to leave before its channel closes: no event says it has
      });
      await waitFor(() => got.length === 1, 'the kombu-routed message', 10_000);
      expect(idOf(got[0] as Delivery)).toBe('from-py');
      await (got[0] as Delivery).ack();
    } finally {
      await consumer.close();
    }
  });

  it('counts deliveries through returns (x-delivery-count) and copies; x-delivery-limit gives maxDeliveries', async () => {
    const topology: QueueTopology = { ...CLASSIC_TOPOLOGY, queues: { limited: { queueArguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 5 } } } };
    const broker = open(topology);
    await broker.publish(makeMessage('counted'), { exchange: '', routingKey: 'limited' });
    const got: Delivery[] = [];
    const consumer = broker.consume({ queues: ['limited'], prefetch: 1, onDelivery: (d) => got.push(d) });
    const next = async (n: number) => {
      await waitFor(() => got.length >= n, `delivery ${n}`, 10_000);
      return got[n - 1] as Delivery;
    };
    try {
      const d1 = await next(1);
      expect([d1.deliveryCount, d1.maxDeliveries]).toEqual([1, 6]);
      await d1.restore();
      const d2 = await next(2);
      expect(d2.deliveryCount).toBe(2);
      await d2.reject({ requeue: true });
      const d3 = await next(3);
      expect(d3.deliveryCount).toBe(3);
      await d3.defer(Date.now() + 10, { redelivered: true });
      const d4 = await next(4);
      expect([d4.deliveryCount, d4.redelivered]).toEqual([4, true]);
      await d4.restore();
      const d5 = await next(5);
      expect(d5.deliveryCount).toBe(5);
      // The counters are the broker's: the task never sees them.
      expect(Object.keys(envelopeOf(d5).headers).filter((k) => /delivery-count|deliveries/.test(k))).toEqual([]);
      await d5.ack();
    } finally {
      await consumer.close();
    }
    // A classic queue cannot count returns: a first delivery's count is unknown. The copies a
    // requeue or a defer publishes count from it: before, a first copy carried nothing, so no
    // copy ever had a count, and a task that requeued itself looped for ever.
    const classic = open(CLASSIC_TOPOLOGY);
    await classic.publish(makeMessage('plain'), { exchange: '', routingKey: 'plain' });
    const plain: Delivery[] = [];
    const c2 = classic.consume({ queues: ['plain'], prefetch: 1, onDelivery: (d) => plain.push(d) });
    const nextPlain = async (n: number) => {
      await waitFor(() => plain.length >= n, `classic delivery ${n}`, 10_000);
      return plain[n - 1] as Delivery;
    };
    try {
      const p1 = await nextPlain(1);
      expect([p1.deliveryCount, p1.maxDeliveries]).toEqual([undefined, undefined]);
      await p1.reject({ requeue: true });
      const p2 = await nextPlain(2);
      expect(p2.deliveryCount).toBe(2);
      await p2.defer(Date.now() + 10, { redelivered: true });
      const p3 = await nextPlain(3);
      expect([p3.deliveryCount, p3.maxDeliveries, p3.redelivered]).toEqual([3, undefined, true]);
      // An ETA's deferral gives nothing back: the same count (as on Redis).
      await p3.defer(Date.now() + 10);
      const p4 = await nextPlain(4);
      expect(p4.deliveryCount).toBe(3);
      await p4.ack();
      // A backoff redelivery comes back marked redelivered (Delivery.defer's option); an ETA's does not.
      for (const [name, redelivered] of [['backoff', true], ['eta', false]] as const) {
        const n = plain.length;
        await classic.publish(makeMessage(name), { exchange: '', routingKey: 'plain' });
        const first = await nextPlain(n + 1);
        await first.defer(Date.now() + 10, { redelivered });
        const again = await nextPlain(n + 2);
        expect([again.redelivered, again.deliveryCount]).toEqual([redelivered, redelivered ? 2 : undefined]);
        await again.ack();
      }
    } finally {
      await c2.close();
    }
  });

  it('a message held by a worker whose connection died comes back counted (a crash loop is seen)', async () => {
    const topology: QueueTopology = { ...CLASSIC_TOPOLOGY, queues: { crashy: { queueArguments: { 'x-queue-type': 'quorum' } } } };
    const first = open(topology);
    await first.publish(makeMessage('held'), { exchange: '', routingKey: 'crashy' });
    const held: Delivery[] = [];
    first.consume({ queues: ['crashy'], prefetch: 1, onDelivery: (d) => held.push(d) });
    await waitFor(() => held.length === 1, 'the first delivery', 10_000);
    expect(held[0]?.deliveryCount).toBe(1);
    // As a kill -9 does: the connection goes with the message unacked.
    await first.close();
    const second = open(topology);
    const again: Delivery[] = [];
    const consumer = second.consume({ queues: ['crashy'], prefetch: 1, onDelivery: (d) => again.push(d) });
    try {
      await waitFor(() => again.length === 1, 'the redelivery', 10_000);
      expect([again[0]?.redelivered, again[0]?.deliveryCount]).toEqual([true, 2]);
      await (again[0] as Delivery).ack();
    } finally {
      await consumer.close();
    }
  });

  it('a queue configured quorum that exists as classic is a CONFIG error naming the way out', async () => {
    await onChannel((ch) => ch.assertQueue('was-classic', { durable: true }));
    const broker = open({ ...CLASSIC_TOPOLOGY, queues: { 'was-classic': { queueArguments: { 'x-queue-type': 'quorum' } } } });
    const err = await rejection(broker.publish(makeMessage('x'), { exchange: '', routingKey: 'was-classic' }));
    expect(err).toMatchObject({ code: ErrorCodes.CONFIG });
    expect(err?.message).toMatch(/"was-classic" exists as a classic queue but is configured quorum.*delete_queue was-classic/);
    const errors: Error[] = [];
    const consumer = broker.consume({ queues: ['was-classic'], prefetch: 1, onDelivery: () => undefined, onError: (e) => errors.push(e) });
    await waitFor(() => errors.length > 0, 'the consumer error', 10_000);
    expect(errors[0]).toMatchObject({ code: ErrorCodes.CONFIG });
    await consumer.close();
    expect((await onChannel((ch) => ch.checkQueue('was-classic'))).messageCount).toBe(0);
  });

  it('a queue configured classic that exists as quorum is used as it is (workerDetectQuorumQueues), or refused when detection is off', async () => {
    await onChannel((ch) => ch.assertQueue('was-quorum', { durable: true, arguments: { 'x-queue-type': 'quorum' } }));
    const strict = open({ ...CLASSIC_TOPOLOGY, detectQuorumQueues: false });
    const err = await rejection(strict.publish(makeMessage('x'), { exchange: '', routingKey: 'was-quorum' }));
    expect(err).toMatchObject({ code: ErrorCodes.CONFIG });
    expect(err?.message).toMatch(/"was-quorum" exists as a quorum queue but is configured classic/);

    warnings.length = 0;
    const broker = open(CLASSIC_TOPOLOGY);
    expect(broker.qosGlobal).toBe(true);
    const got: Delivery[] = [];
    // Consuming a quorum queue under global QoS would make RabbitMQ close the connection (540).
    const consumer = broker.consume({ queues: ['was-quorum'], prefetch: 2, onDelivery: (d) => got.push(d) });
    try {
      await broker.publish(makeMessage('adopted'), { exchange: '', routingKey: 'was-quorum' });
      await waitFor(() => got.length === 1, 'the adopted queue delivery', 10_000);
      expect(idOf(got[0] as Delivery)).toBe('adopted');
      expect((got[0] as Delivery).deliveryCount).toBe(1);
      await (got[0] as Delivery).ack();
      expect(broker.queueType('was-quorum')).toBe('quorum');
      expect(warnings.join('\n')).toMatch(/^the queue exists as a quorum queue though configured classic: using it as it is .*\{"queue":"was-quorum"\}$/m);
      expect(warnings.join('\n')).not.toMatch(/connection .* lost/);
    } finally {
      await consumer.close();
    }
  });

  it('a failover URL list connects to the first node that answers', async () => {
    // Port 5689 is in this suite's range and nothing listens there.
    const deadFirst = `amqp://guest:guest@127.0.0.1:5689/${encodeURIComponent(v.name)};${vhostUrl(v.name)}`;
    const broker = open(QUORUM_DEFAULT, deadFirst);
    await broker.publish(makeMessage('via-second'), { exchange: '', routingKey: 'celery' });
    expect(broker.session.target.port).toBe(Number(TEST_AMQP_HOST.split(':')[1]));
    expect(warnings.join('\n')).toMatch(/^cannot connect to RabbitMQ; trying the next node \{"server":"127\.0\.0\.1:5689 /m);
    await broker.purge('celery');
  });
});
