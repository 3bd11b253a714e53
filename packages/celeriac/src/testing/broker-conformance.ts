/**
 * @module testing/broker-conformance
 * The conformance suite of the queue role (core/spi/broker.ts `QueueBroker`), which every
 * broker adapter runs (memory, Redis, RabbitMQ): publish, consume and each settlement, with
 * real time (small delays, so adapters whose server keeps time can run it too) and unique
 * queue names per test. The other broker roles have suites of their own:
 * broker-fanout-conformance.ts (fanout, bindings), broker-listing-conformance.ts (delayed and
 * set-aside listings), beat-store-conformance.ts.
 *
 * Requires vitest (a devDependency of this package): import it from test files only.
 */
import { expect, it, vi } from 'vitest';
import type { Consumer, Delivery, PublishOptions, QueueBroker } from '../core/spi/broker.js';
import { ErrorCodes } from '../errors.js';
import { defineBrokerSuite, envelopeOf, type BrokerSuiteOptions, type Harness, idOf, makeMessage } from './broker-harness.js';

/** Options of {@link brokerConformance} and of every other broker role suite. */
export type BrokerConformanceOptions<B extends QueueBroker = QueueBroker> = BrokerSuiteOptions<B>;

/**
 * Defines a vitest `describe` block checking that `makeBroker()` honours the queue role:
 * ack, reject (with and without requeue), restore, prefetch, priorities (per
 * `capabilities.priorityOrder`), FIFO, delayed delivery, defer, setAside, purge, queue
 * length, fair round robin, consumer close, addQueue / cancelQueue, single settlement and
 * publishMany.
 *
 * ```ts
 * brokerConformance('memory', () => new MemoryBroker());
 * ```
 *
 * @param name Shown in the describe title.
 * @param makeBroker Called before each test; the suite connects and, after the test, closes it.
 * @param options Cleanup hook and queue name prefix.
 */
export function brokerConformance<B extends QueueBroker>(name: string, makeBroker: () => Promise<B> | B, options: BrokerConformanceOptions<B> = {}): void {
  defineBrokerSuite(`Broker conformance: ${name}`, makeBroker, options, (get) => {
    defineDeliveryTests(get);
    defineOrderingTests(get);
    defineTimeTests(get);
    defineManagementTests(get);
    definePublishManyTests(get);
  });
}

function defineDeliveryTests(get: () => Harness): void {
  it('publishes, consumes and acks one message as a kombu envelope', async () => {
    const h = get();
    const q = await h.queue();
    const message = makeMessage('m1');
    await h.broker.publish(message, { exchange: '', routingKey: q });
    const inbox = h.consume([q], 1);
    const d = await inbox.next();
    const env = envelopeOf(d);
    expect(d.queue).toBe(q);
    expect(d.redelivered).toBe(false);
    expect(env.headers['id']).toBe('m1');
    expect(env.properties['delivery_tag']).toBe(d.tag);
    expect((env.properties['delivery_info'] as { routing_key: string }).routing_key).toBe(q);
    const encoding = env.properties['body_encoding'];
    const body = encoding === 'base64' ? Buffer.from(env.body, 'base64').toString('utf8') : env.body;
    expect(body).toBe(message.body);
    await inbox.ack(d);
    await inbox.expectTotal(1, 200);
    expect(await h.broker.queueLength(q)).toBe(0);
  });

  it('reject with requeue puts the message at the back, marked redelivered', async () => {
    const h = get();
    const q = await h.queue();
    await h.publish(q, 'a');
    await h.publish(q, 'b');
    const inbox = h.consume([q], 1);
    const a = await inbox.next();
    expect(idOf(a)).toBe('a');
    await a.reject({ requeue: true });
    const b = await inbox.next();
    expect(idOf(b)).toBe('b');
    expect(b.redelivered).toBe(false);
    await inbox.ack(b);
    const again = await inbox.next();
    expect(idOf(again)).toBe('a');
    expect(again.redelivered).toBe(true);
    await inbox.ack(again);
  });

  it('reject without requeue drops the message', async () => {
    const h = get();
    const q = await h.queue();
    await h.publish(q, 'a');
    await h.publish(q, 'b');
    const inbox = h.consume([q], 1);
    await (await inbox.next()).reject({ requeue: false });
    const b = await inbox.next();
    expect(idOf(b)).toBe('b');
    await inbox.ack(b);
    await inbox.expectTotal(2, 300);
    expect(await h.broker.queueLength(q)).toBe(0);
  });

  it('restore gives the message back to the front of its queue, marked redelivered', async () => {
    const h = get();
    const q = await h.queue();
    await h.publish(q, 'a');
    await h.publish(q, 'b');
    const inbox = h.consume([q], 1);
    const a = await inbox.next();
    await a.restore();
    let again = await inbox.next();
    const bFirst = h.broker.capabilities.restoreServedFirst === false && idOf(again) === 'b';
    if (bFirst) {
      await inbox.ack(again);
      again = await inbox.next();
    }
    expect(idOf(again)).toBe('a');
    if (h.broker.capabilities.redeliveryKeepsTag !== false) expect(again.tag).toBe(a.tag);
    expect(a.redelivered).toBe(false);
    expect(again.redelivered).toBe(true);
    expect(envelopeOf(again).headers['redelivered']).toBe(true);
    await inbox.ack(again);
    if (!bFirst) expect(await inbox.drainAcking(1)).toEqual(['b']);
  });

  it('a second settlement of the same delivery rejects with CELERIAC_ERR_STATE', async () => {
    const h = get();
    const q = await h.queue();
    await h.publish(q, 'a');
    const inbox = h.consume([q], 1);
    const a = await inbox.next();
    await a.ack();
    await expect(a.ack()).rejects.toMatchObject({ code: ErrorCodes.STATE });
    await expect(a.reject({ requeue: true })).rejects.toMatchObject({ code: ErrorCodes.STATE });
    await expect(a.restore()).rejects.toMatchObject({ code: ErrorCodes.STATE });
    await inbox.expectTotal(1, 200);
    expect(await h.broker.queueLength(q)).toBe(0);
  });
}

function defineOrderingTests(get: () => Harness): void {
  it('never holds more than `prefetch` unsettled deliveries; an ack lets the next one in', async () => {
    const h = get();
    const q = await h.queue();
    for (let i = 0; i < 5; i++) await h.publish(q, `m${i}`);
    const inbox = h.consume([q], 2);
    await inbox.waitForCount(2);
    await inbox.expectTotal(2, 200);
    await inbox.ack(await inbox.next());
    await inbox.waitForCount(3);
    await inbox.expectTotal(3, 150);
    expect(inbox.count).toBe(3);
    for (let i = 1; i < 5; i++) await inbox.ack(await inbox.next());
    expect(inbox.count).toBe(5);
    expect(inbox.maxUnsettled).toBe(2);
  });

  it('setPrefetch widens the window', async () => {
    const h = get();
    const q = await h.queue();
    for (let i = 0; i < 3; i++) await h.publish(q, `m${i}`);
    const inbox = h.consume([q], 1);
    await inbox.waitForCount(1);
    await inbox.expectTotal(1, 150);
    inbox.consumer.setPrefetch(3);
    await inbox.waitForCount(3);
  });

  it('prefetch 0 means no limit', async () => {
    const h = get();
    const q = await h.queue();
    for (let i = 0; i < 10; i++) await h.publish(q, `m${i}`);
    const inbox = h.consume([q], 0);
    await inbox.waitForCount(10);
    expect(inbox.received.map((r) => idOf(r.delivery))).toEqual([...Array(10).keys()].map((i) => `m${i}`));
  });

  it('serves priorities in the order of capabilities.priorityOrder', async () => {
    const h = get();
    const q = await h.queue();
    for (const p of [4, 9, 0, 7]) await h.publish(q, `p${p}`, { priority: p });
    const inbox = h.consume([q], 1);
    const ids = await inbox.drainAcking(4);
    const lowestFirst = ['p0', 'p4', 'p7', 'p9'];
    const order = h.broker.capabilities.priorityOrder;
    expect(ids).toEqual(order === 'none' ? ['p4', 'p9', 'p0', 'p7'] : order === 'lowest-first' ? lowestFirst : [...lowestFirst].reverse());
  });

  it('is FIFO within a priority', async () => {
    const h = get();
    const q = await h.queue();
    for (let i = 1; i <= 4; i++) {
      await h.publish(q, `a${i}`, { priority: 0 });
      await h.publish(q, `b${i}`, { priority: 6 });
    }
    const inbox = h.consume([q], 0);
    await inbox.waitForCount(8);
    const ids = inbox.received.map((r) => idOf(r.delivery));
    const as = ['a1', 'a2', 'a3', 'a4'];
    const bs = ['b1', 'b2', 'b3', 'b4'];
    const order = h.broker.capabilities.priorityOrder;
    expect(ids).toEqual(order === 'none' ? as.flatMap((a, i) => [a, bs[i]]) : order === 'lowest-first' ? [...as, ...bs] : [...bs, ...as]);
  });

  it('serves two queues fairly (round robin)', async () => {
    const h = get();
    const q1 = await h.queue('rr1');
    const q2 = await h.queue('rr2');
    for (let i = 1; i <= 3; i++) await h.publish(q1, `x${i}`);
    for (let i = 1; i <= 3; i++) await h.publish(q2, `y${i}`);
    const inbox = h.consume([q1, q2], 1);
    const ids = await inbox.drainAcking(6);
    expect([...ids].sort()).toEqual(['x1', 'x2', 'x3', 'y1', 'y2', 'y3']);
    if (h.broker.capabilities.fairQueues === false) return;
    const firstFour = ids.slice(0, 4);
    expect(firstFour.filter((id) => id.startsWith('x'))).toEqual(['x1', 'x2']);
    expect(firstFour.filter((id) => id.startsWith('y'))).toEqual(['y1', 'y2']);
    expect([...ids].sort()).toEqual(['x1', 'x2', 'x3', 'y1', 'y2', 'y3']);
  });

  it('queueLength counts ready messages over every priority bucket', async () => {
    const h = get();
    const q = await h.queue();
    expect(await h.broker.queueLength(q)).toBe(0);
    for (const p of [0, 2, 3, 6, 9]) await h.publish(q, `p${p}`, { priority: p });
    expect(await h.broker.queueLength(q)).toBe(5);
  });
}

function defineTimeTests(get: () => Harness): void {
  it('holds a message published with deliverAt until then', async () => {
    const h = get();
    const q = await h.queue();
    const deliverAt = Date.now() + 500;
    await h.publish(q, 'later', { deliverAt });
    await h.publish(q, 'now');
    const inbox = h.consume([q], 0);
    expect(idOf(await inbox.next())).toBe('now');
    expect(await h.broker.queueLength(q)).toBe(0);
    await inbox.expectTotal(1, deliverAt - 100 - Date.now());
    const later = await inbox.next();
    expect(idOf(later)).toBe('later');
    expect(inbox.received[1]?.at ?? 0).toBeGreaterThanOrEqual(deliverAt - 25);
  });

  it('defer settles the delivery and brings it back after deliverAt', async () => {
    const h = get();
    const q = await h.queue();
    await h.publish(q, 'a');
    await h.publish(q, 'b');
    const inbox = h.consume([q], 1);
    const a = await inbox.next();
    const deliverAt = Date.now() + 500;
    await a.defer(deliverAt);
    const b = await inbox.next();
    expect(idOf(b)).toBe('b');
    await inbox.ack(b);
    expect(await h.broker.queueLength(q)).toBe(0);
    await inbox.expectTotal(2, deliverAt - 100 - Date.now());
    const again = await inbox.next();
    expect(idOf(again)).toBe('a');
    expect(inbox.received[2]?.at ?? 0).toBeGreaterThanOrEqual(deliverAt - 25);
    await expect(a.ack()).rejects.toMatchObject({ code: ErrorCodes.STATE });
  });

  it('purge removes ready and delayed messages of that queue only, returning the count', async () => {
    const h = get();
    const q = await h.queue();
    const other = await h.queue('other');
    for (const p of [0, 5, 9]) await h.publish(q, `r${p}`, { priority: p });
    const withDelayed = h.broker.capabilities.purgeIncludesDelayed !== false;
    if (withDelayed) for (let i = 0; i < 2; i++) await h.publish(q, `d${i}`, { deliverAt: Date.now() + 400 });
    await h.publish(other, 'keep');
    expect(await h.broker.purge(q)).toBe(withDelayed ? 5 : 3);
    expect(await h.broker.queueLength(q)).toBe(0);
    expect(await h.broker.queueLength(other)).toBe(1);
    const inbox = h.consume([q], 0);
    await inbox.expectTotal(0, 800);
  });
}

function defineManagementTests(get: () => Harness): void {
  it('setAside settles the delivery: it is neither queued nor delivered again', async () => {
    const h = get();
    const q = await h.queue();
    await h.publish(q, 'bad');
    const inbox = h.consume([q], 1);
    const d = await inbox.next();
    await d.setAside('unsafe content type');
    await inbox.expectTotal(1, 200);
    expect(await h.broker.queueLength(q)).toBe(0);
    await expect(d.ack()).rejects.toMatchObject({ code: ErrorCodes.STATE });
  });

  it('consumer close stops deliveries; unsettled ones can still be acked', async () => {
    const h = get();
    const q = await h.queue();
    await h.publish(q, 'a');
    const inbox = h.consume([q], 0);
    const a = await inbox.next();
    await inbox.consumer.close();
    await h.publish(q, 'b');
    await inbox.expectTotal(1, 300);
    await inbox.ack(a);
    expect(await h.broker.queueLength(q)).toBe(1);
  });

  it('addQueue starts and cancelQueue stops consuming a queue', async () => {
    const h = get();
    const q1 = await h.queue('one');
    const q2 = await h.queue('two');
    await h.publish(q2, 'b');
    const inbox = h.consume([q1], 0);
    await inbox.expectTotal(0, 200);
    inbox.consumer.addQueue(q2);
    expect(idOf(await inbox.next())).toBe('b');
    expect([...inbox.consumer.queues].sort()).toEqual([q1, q2].sort());
    inbox.consumer.cancelQueue(q1);
    expect(inbox.consumer.queues).toEqual([q2]);
    await h.publish(q1, 'c');
    await inbox.expectTotal(1, 300);
    expect(await h.broker.queueLength(q1)).toBe(1);
  });

  it('cancelQueue from a delivery handler: what the server had already sent goes back to the queue', async () => {
    // The server pushes a queue's messages ahead of the handler (no prefetch limit); those that
    // arrive after the cancel must not reach the handler, nor be lost.
    const h = get();
    const q = await h.queue('cancelled');
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f']) await h.publish(q, id);
    const got: Delivery[] = [];
    const consumer: Consumer = h.broker.consume({
      queues: [q],
      prefetch: 0,
      onDelivery: (d) => {
        got.push(d);
        if (got.length === 1) consumer.cancelQueue(q);
      },
    });
    try {
      await vi.waitFor(async () => expect(await h.broker.queueLength(q)).toBe(5), { timeout: 3000 });
      expect(got.map(idOf)).toEqual(['a']);
      await (got[0] as Delivery).ack();
    } finally {
      await consumer.close();
    }
  });
}

function definePublishManyTests(get: () => Harness): void {
  it('publishMany (when the adapter has it) keeps per-queue order, holds future ETAs, and checks all before sending', async () => {
    const h = get();
    const publishMany = h.broker.publishMany?.bind(h.broker);
    if (publishMany === undefined) return;
    const [q1, q2] = [await h.queue('a'), await h.queue('b')];
    const to = (q: string, id: string, extra: Partial<PublishOptions> = {}) => ({ message: makeMessage(id), options: { exchange: '', routingKey: q, ...extra } });
    await expect(publishMany([to(q1, 'never'), to('', 'bad')])).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
    expect(await h.broker.queueLength(q1)).toBe(0);
    const dueAt = Date.now() + 400;
    await publishMany([to(q1, 'a1'), to(q2, 'b1'), to(q1, 'a2'), to(q1, 'late', { deliverAt: dueAt }), to(q2, 'b2'), to(q1, 'a3')]);
    const inbox1 = h.consume([q1], 10);
    const inbox2 = h.consume([q2], 10);
    expect(await inbox2.drainAcking(2)).toEqual(['b1', 'b2']);
    expect(await inbox1.drainAcking(3)).toEqual(['a1', 'a2', 'a3']);
    expect(idOf(await inbox1.next(3000))).toBe('late');
    // Held until its time, however long the drain above took (a loaded host took over 250 ms,
    // and a fixed 150 ms look after it saw the message, on time). 50 ms of slack for a broker's
    // timer granularity (RabbitMQ's TTL ladder); one that does not hold it delivers it at once.
    expect(inbox1.received[3]?.at).toBeGreaterThanOrEqual(dueAt - 50);
  });
}
