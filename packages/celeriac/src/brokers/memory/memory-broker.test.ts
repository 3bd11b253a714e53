import { describe, expect, it } from 'vitest';
import type { Delivery } from '../../core/spi/broker.js';
import { ErrorCodes } from '../../errors.js';
import { markRedelivered } from '../../protocol/envelope.js';
import type { Message } from '../../protocol/types.js';
import { brokerConformance } from '../../testing/broker-conformance.js';
import { bindingsConformance, fanoutConformance } from '../../testing/broker-fanout-conformance.js';
import { delayedListingConformance, setAsideListingConformance } from '../../testing/broker-listing-conformance.js';
import { FakeClock } from '../../testing/fake-clock.js';
import { MemoryBroker } from './memory-broker.js';
import { bucketOf, Deque } from './queue-store.js';

// Every broker role the memory broker plays (its beat store: beat-store.test.ts).
brokerConformance('memory', () => new MemoryBroker());
fanoutConformance('memory', () => new MemoryBroker());
bindingsConformance('memory', () => new MemoryBroker());
delayedListingConformance('memory', () => new MemoryBroker());
setAsideListingConformance('memory', () => new MemoryBroker());

/** Lets queued microtasks (the broker's delivery pump) run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

const message = (id: string): Message => ({
  headers: { lang: 'py', task: 't.noop', id },
  properties: { correlation_id: id, reply_to: '', delivery_mode: 2, priority: 0 },
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  body: '[[], {}, {}]',
});

const idOf = (d: Delivery) => (JSON.parse(d.raw) as { headers: { id: string } }).headers.id;

function setup(clock?: FakeClock) {
  const broker = new MemoryBroker(clock ? { clock } : {});
  const got: Delivery[] = [];
  const publish = (id: string, extra: { priority?: number; deliverAt?: number; queue?: string } = {}) =>
    broker.publish(message(id), { exchange: '', routingKey: extra.queue ?? 'q', priority: extra.priority, deliverAt: extra.deliverAt });
  const consume = (prefetch = 0, queues = ['q']) => broker.consume({ queues, prefetch, onDelivery: (d) => got.push(d) });
  return { broker, got, publish, consume, ids: () => got.map(idOf) };
}

describe('MemoryBroker', () => {
  it('delivers asynchronously, never inside publish()', async () => {
    const { got, publish, consume } = setup();
    consume();
    const pending = publish('a');
    expect(got).toHaveLength(0);
    await pending;
    await flush();
    expect(got).toHaveLength(1);
  });

  it('holds deliverAt messages until the clock reaches them (fake clock)', async () => {
    const clock = new FakeClock();
    const { broker, publish, consume, ids } = setup(clock);
    consume();
    await publish('eta', { deliverAt: clock.now() + 5000 });
    await flush();
    expect(ids()).toEqual([]);
    expect(await broker.queueLength('q')).toBe(0);
    clock.advance(4999);
    await flush();
    expect(ids()).toEqual([]);
    clock.advance(1);
    await flush();
    expect(ids()).toEqual(['eta']);
  });

  it('releases delayed messages in time order, equal times in publish order', async () => {
    const clock = new FakeClock();
    const { publish, consume, ids } = setup(clock);
    consume();
    const t0 = clock.now();
    await publish('at200', { deliverAt: t0 + 200 });
    await publish('at100', { deliverAt: t0 + 100 });
    await publish('at100b', { deliverAt: t0 + 100 });
    await publish('past', { deliverAt: t0 - 1 });
    await flush();
    expect(ids()).toEqual(['past']);
    clock.advance(100);
    await flush();
    expect(ids()).toEqual(['past', 'at100', 'at100b']);
    clock.advance(100);
    await flush();
    expect(ids()).toEqual(['past', 'at100', 'at100b', 'at200']);
  });

  it('defer holds the message until due (fake clock)', async () => {
    const clock = new FakeClock();
    const { broker, got, publish, consume } = setup(clock);
    consume(1);
    await publish('a');
    await flush();
    await got[0]?.defer(clock.now() + 1000);
    await flush();
    expect(got).toHaveLength(1);
    expect(await broker.queueLength('q')).toBe(0);
    clock.advance(1000);
    await flush();
    expect(got.map(idOf)).toEqual(['a', 'a']);
  });

  it('purge cancels delayed messages (fake clock)', async () => {
    const clock = new FakeClock();
    const { broker, publish, consume, ids } = setup(clock);
    consume();
    await publish('later', { deliverAt: clock.now() + 100 });
    expect(await broker.purge('q')).toBe(1);
    clock.advance(1000);
    await flush();
    expect(ids()).toEqual([]);
  });

  it('maps priorities to kombu buckets, clamping out-of-range values', async () => {
    expect([-5, 0, 2, 3, 4.7, 5, 6, 8, 9, 42, Number.NaN, undefined].map(bucketOf)).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 0, 0]);
    const { publish, consume, ids } = setup();
    for (const [id, priority] of [['big', 42], ['neg', -5], ['three', 3], ['nine', 9], ['two', 2]] as const) {
      await publish(id, { priority });
    }
    consume();
    await flush();
    expect(ids()).toEqual(['neg', 'two', 'three', 'big', 'nine']);
  });

  it('restore and requeue mark the envelope redelivered, as kombu does, and keep the tag', async () => {
    const { got, publish, consume } = setup();
    consume(1);
    await publish('a');
    await flush();
    const first = got[0] as Delivery;
    await first.restore();
    await flush();
    const restored = got[1] as Delivery;
    expect(first.redelivered).toBe(false);
    expect(restored.redelivered).toBe(true);
    expect(restored.raw).toBe(markRedelivered(first.raw));
    await restored.reject({ requeue: true });
    await flush();
    const requeued = got[2] as Delivery;
    const env = JSON.parse(requeued.raw) as { headers: { redelivered?: boolean }; properties: { delivery_info: { redelivered?: boolean } } };
    expect(requeued.redelivered).toBe(true);
    expect(requeued.tag).toBe(first.tag);
    expect(env.headers.redelivered).toBe(true);
    expect(env.properties.delivery_info.redelivered).toBe(true);
  });

  it('routes a non-empty exchange by routing key as queue name and creates undeclared queues', async () => {
    const { broker, got } = setup();
    await broker.publish(message('x'), { exchange: 'tasks', routingKey: 'fresh' });
    expect(await broker.queueLength('fresh')).toBe(1);
    broker.consume({ queues: ['fresh'], prefetch: 0, onDelivery: (d) => got.push(d) });
    await flush();
    const env = JSON.parse((got[0] as Delivery).raw) as { properties: { delivery_info: { exchange: string; routing_key: string } } };
    expect(env.properties.delivery_info).toMatchObject({ exchange: 'tasks', routing_key: 'fresh' });
    await broker.declareQueue('empty');
    expect(await broker.queueLength('empty')).toBe(0);
  });

  it('refuses an empty queue name and bad prefetch', async () => {
    const { broker } = setup();
    await expect(broker.publish(message('x'), { exchange: '', routingKey: '' })).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
    expect(() => broker.consume({ queues: ['q'], prefetch: -1, onDelivery: () => undefined })).toThrow(
      expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }),
    );
  });

  it('reports a throwing onDelivery to onError; the delivery stays in the window', async () => {
    const { broker, publish } = setup();
    const errors: Error[] = [];
    let calls = 0;
    broker.consume({
      queues: ['q'],
      prefetch: 1,
      onDelivery: () => {
        calls++;
        throw new Error('handler bug');
      },
      onError: (e) => errors.push(e),
    });
    await publish('a');
    await publish('b');
    await flush();
    expect(calls).toBe(1);
    expect(errors.map((e) => e.message)).toEqual(['handler bug']);
  });

  it('shares a queue between consumers fairly', async () => {
    const { broker, publish } = setup();
    const a: Delivery[] = [];
    const b: Delivery[] = [];
    broker.consume({ queues: ['q'], prefetch: 3, onDelivery: (d) => a.push(d) });
    broker.consume({ queues: ['q'], prefetch: 3, onDelivery: (d) => b.push(d) });
    for (let i = 0; i < 4; i++) await publish(`m${i}`);
    await flush();
    expect([a.length, b.length]).toEqual([2, 2]);
  });

  it('close() gives unsettled deliveries back, then fails every call with CELERIAC_ERR_STATE', async () => {
    const clock = new FakeClock();
    const { broker, got, publish, consume } = setup(clock);
    consume(0);
    await publish('a');
    await publish('later', { deliverAt: clock.now() + 10 });
    await flush();
    expect(broker.state).toBe('open');
    await broker.close();
    await broker.close();
    expect(broker.state).toBe('closed');
    expect(clock.pendingTimers).toBe(0);
    await expect((got[0] as Delivery).ack()).rejects.toMatchObject({ code: ErrorCodes.STATE });
    await expect(broker.connect()).rejects.toMatchObject({ code: ErrorCodes.STATE });
    await expect(publish('b')).rejects.toMatchObject({ code: ErrorCodes.STATE });
    await expect(broker.queueLength('q')).rejects.toMatchObject({ code: ErrorCodes.STATE });
    expect(() => consume()).toThrow(expect.objectContaining({ code: ErrorCodes.STATE }));
  });
});

describe('Deque', () => {
  it('keeps order at both ends across growth', () => {
    const d = new Deque<number>();
    for (let i = 0; i < 20; i++) d.pushBack(i);
    for (let i = 1; i <= 5; i++) d.pushFront(-i);
    const out: number[] = [];
    for (let x = d.shift(); x !== undefined; x = d.shift()) out.push(x);
    expect(out).toEqual([-5, -4, -3, -2, -1, ...Array.from({ length: 20 }, (_, i) => i)]);
    expect(d.length).toBe(0);
  });
});
