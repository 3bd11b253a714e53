/**
 * @module testing/broker-fanout-conformance
 * The conformance suites of the broker roles about exchanges other than the default one:
 * {@link fanoutConformance} for fanout/topic pub/sub (`FanoutExchange`: events and pidbox
 * requests) and {@link bindingsConformance} for direct bindings (`QueueBindings` with
 * `dropUnrouted`: pidbox replies).
 *
 * Requires vitest (a devDependency of this package): import it from test files only.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import type { FanoutExchange, QueueBindings, QueueBroker } from '../core/spi/broker.js';
import { defineBrokerSuite, type BrokerSuiteOptions, type Harness, idOf, makeMessage } from './broker-harness.js';
import { waitFor } from './wait-for.js';

/** What one subscriber got: `routingKey raw`. */
function collector(): { got: string[]; listener: (raw: string, routingKey: string) => void; waitFor: (n: number) => Promise<void> } {
  const got: string[] = [];
  return {
    got,
    listener: (raw, routingKey) => got.push(`${routingKey} ${raw}`),
    async waitFor(n) {
      await waitFor(() => got.length >= n, () => `${n} fanout messages (got: ${got.join(' | ')})`, 3000);
    },
  };
}

const exchangeName = () => `cf-ex-${randomUUID().slice(0, 8)}`;

/**
 * Defines a vitest `describe` block checking the fanout role: topic matching of binding
 * keys, the empty routing key of pidbox requests, unsubscribe, and dropping what nobody hears.
 *
 * @param name Shown in the describe title.
 * @param makeBroker Called before each test; the suite connects and, after the test, closes it.
 */
export function fanoutConformance<B extends QueueBroker & FanoutExchange>(name: string, makeBroker: () => Promise<B> | B, options: BrokerSuiteOptions<B> = {}): void {
  defineBrokerSuite(`Broker fanout conformance: ${name}`, makeBroker, options, defineFanoutTests);
}

/**
 * Defines a vitest `describe` block checking the bindings role: a direct exchange routes by
 * binding, `dropUnrouted` drops what no binding matches, unbind stops routing.
 *
 * @param name Shown in the describe title.
 * @param makeBroker Called before each test; the suite connects and, after the test, closes it.
 */
export function bindingsConformance<B extends QueueBroker & QueueBindings>(name: string, makeBroker: () => Promise<B> | B, options: BrokerSuiteOptions<B> = {}): void {
  defineBrokerSuite(`Broker bindings conformance: ${name}`, makeBroker, options, defineBindingTests);
}

function defineFanoutTests(get: () => Harness<QueueBroker & FanoutExchange>): void {
  it('publishFanout reaches every subscriber whose binding key matches, with the routing key', async () => {
    const broker = get().broker;
    const ex = exchangeName();
    const all = collector();
    const workers = collector();
    const exact = collector();
    const other = collector();
    const unsubs = [
      await broker.subscribeFanout(ex, '#', all.listener),
      await broker.subscribeFanout(ex, 'worker.*', workers.listener),
      await broker.subscribeFanout(ex, 'task.sent', exact.listener),
      await broker.subscribeFanout(`${ex}-other`, '#', other.listener),
    ];
    await broker.publishFanout(ex, 'task.sent', 'one');
    await broker.publishFanout(ex, 'worker.heartbeat', 'two');
    await broker.publishFanout(ex, 'task.multi', 'three');
    await all.waitFor(3);
    await Promise.all(unsubs.map((u) => u()));
    expect(all.got).toEqual(['task.sent one', 'worker.heartbeat two', 'task.multi three']);
    expect(workers.got).toEqual(['worker.heartbeat two']);
    expect(exact.got).toEqual(['task.sent one']);
    expect(other.got).toEqual([]);
  });

  it('an empty routing key reaches subscribers bound with the empty key (pidbox requests)', async () => {
    const broker = get().broker;
    const ex = exchangeName();
    const mailbox = collector();
    const unsub = await broker.subscribeFanout(ex, '', mailbox.listener);
    await broker.publishFanout(ex, '', '{"method": "ping"}');
    await mailbox.waitFor(1);
    await unsub();
    expect(mailbox.got).toEqual([' {"method": "ping"}']);
  });

  it('unsubscribe stops delivery; publishing with nobody listening is dropped', async () => {
    const broker = get().broker;
    const ex = exchangeName();
    await broker.publishFanout(ex, 'a', 'nobody');
    const first = collector();
    const second = collector();
    const unsubFirst = await broker.subscribeFanout(ex, '#', first.listener);
    const unsubSecond = await broker.subscribeFanout(ex, '#', second.listener);
    await broker.publishFanout(ex, 'a', 'both');
    await Promise.all([first.waitFor(1), second.waitFor(1)]);
    await unsubFirst();
    await unsubFirst();
    await broker.publishFanout(ex, 'a', 'second only');
    await second.waitFor(2);
    await unsubSecond();
    expect(first.got).toEqual(['a both']);
    expect(second.got).toEqual(['a both', 'a second only']);
  });
}

function defineBindingTests(get: () => Harness<QueueBroker & QueueBindings>): void {
  it('bindQueue routes a direct exchange by binding; dropUnrouted drops what no binding matches', async () => {
    const h = get();
    const ex = exchangeName();
    const q = await h.queue('reply');
    await h.broker.bindQueue(q, ex, 'oid-1');
    await h.broker.publish(makeMessage('bound'), { exchange: ex, routingKey: 'oid-1', dropUnrouted: true });
    await h.broker.publish(makeMessage('unbound'), { exchange: ex, routingKey: 'oid-2', dropUnrouted: true });
    await h.broker.unbindQueue(q, ex, 'oid-1');
    await h.broker.publish(makeMessage('after unbind'), { exchange: ex, routingKey: 'oid-1', dropUnrouted: true });
    expect(await h.broker.queueLength(q)).toBe(1);
    expect(await h.broker.queueLength('oid-2')).toBe(0);
    expect(await h.broker.queueLength('oid-1')).toBe(0);
    const inbox = h.consume([q], 1);
    const d = await inbox.next();
    expect(idOf(d)).toBe('bound');
    expect(JSON.parse(d.raw).properties.delivery_info).toEqual({ exchange: ex, routing_key: 'oid-1' });
    await inbox.ack(d);
  });
}
