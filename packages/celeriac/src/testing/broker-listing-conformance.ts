/**
 * @module testing/broker-listing-conformance
 * The conformance suites of the two listing roles of a broker: {@link delayedListingConformance}
 * (`DelayedListing`: what `inspect scheduled` shows) and {@link setAsideListingConformance}
 * (`SetAsideListing`: the messages parked by `Delivery.setAside`).
 *
 * Requires vitest (a devDependency of this package): import it from test files only.
 */
import { expect, it } from 'vitest';
import type { DelayedListing, QueueBroker, SetAsideListing, SetAsideRecord } from '../core/spi/broker.js';
import { defineBrokerSuite, type BrokerSuiteOptions, type Harness } from './broker-harness.js';

/**
 * Defines a vitest `describe` block checking the delayed listing: held messages of the given
 * queues, earliest first, at most `limit`; ready ones and other queues' are left out.
 *
 * @param name Shown in the describe title.
 * @param makeBroker Called before each test; the suite connects and, after the test, closes it.
 */
export function delayedListingConformance<B extends QueueBroker & DelayedListing>(name: string, makeBroker: () => Promise<B> | B, options: BrokerSuiteOptions<B> = {}): void {
  defineBrokerSuite(`Broker delayed listing conformance: ${name}`, makeBroker, options, defineDelayedListingTests);
}

/**
 * Defines a vitest `describe` block checking the set-aside listing: a set-aside delivery is
 * recorded with its envelope text, queue, reason and time.
 *
 * @param name Shown in the describe title.
 * @param makeBroker Called before each test; the suite connects and, after the test, closes it.
 */
export function setAsideListingConformance<B extends QueueBroker & SetAsideListing>(name: string, makeBroker: () => Promise<B> | B, options: BrokerSuiteOptions<B> = {}): void {
  defineBrokerSuite(`Broker set-aside listing conformance: ${name}`, makeBroker, options, defineSetAsideListingTests);
}

function defineDelayedListingTests(get: () => Harness<QueueBroker & DelayedListing>): void {
  it('delayedMessages lists held messages of the given queues, earliest first', async () => {
    const h = get();
    const q = await h.queue('eta');
    const other = await h.queue('eta-other');
    const now = Date.now();
    await h.publish(q, 'later', { deliverAt: now + 60_000, priority: 6 });
    await h.publish(q, 'sooner', { deliverAt: now + 30_000 });
    await h.publish(other, 'elsewhere', { deliverAt: now + 10_000 });
    await h.publish(q, 'ready now');
    const listed = await h.broker.delayedMessages([q], 10);
    expect(listed.map((r) => [JSON.parse(r.raw).headers.id, r.queue, r.deliverAt])).toEqual([
      ['sooner', q, now + 30_000],
      ['later', q, now + 60_000],
    ]);
    expect((await h.broker.delayedMessages([q, other], 1)).map((r) => JSON.parse(r.raw).headers.id)).toEqual(['elsewhere']);
    // null: every queue's (the broker may hold other suites' too).
    const all = (await h.broker.delayedMessages(null, 1000)).filter((r) => r.queue === q || r.queue === other);
    expect(all.map((r) => [JSON.parse(r.raw).headers.id, r.queue])).toEqual([['elsewhere', other], ['sooner', q], ['later', q]]);
    if (h.broker.delayedCount !== undefined) expect(await h.broker.delayedCount()).toBeGreaterThanOrEqual(3);
  });
}

function defineSetAsideListingTests(get: () => Harness<QueueBroker & SetAsideListing>): void {
  it('setAsideMessages records a set-aside delivery with its envelope, queue, reason and time', async () => {
    const h = get();
    const q = await h.queue();
    await h.publish(q, 'bad');
    const inbox = h.consume([q], 1);
    const d = await inbox.next();
    const before = Date.now();
    await d.setAside('unsafe content type');
    const records = (await h.broker.setAsideMessages()).filter((r) => r.queue === q);
    expect(records).toHaveLength(1);
    expect(records[0]?.raw).toBe(d.raw);
    expect(records[0]?.reason).toBe('unsafe content type');
    expect(Math.abs((records[0]?.at ?? 0) - before)).toBeLessThan(60_000);
  });

  it('takeSetAside replays a record to the back of its queue and purges another, by id', async () => {
    const h = get();
    const q = await h.queue('aside');
    await h.publish(q, 'to-replay');
    await h.publish(q, 'to-purge');
    const inbox = h.consume([q], 2);
    const first = await inbox.next();
    const second = await inbox.next();
    await first.setAside('dead letter');
    await second.setAside('malformed');
    const records = (await h.broker.setAsideMessages()).filter((r) => r.queue === q);
    expect(records.map((r) => r.reason)).toEqual(['dead letter', 'malformed']);
    for (const r of records) expect(r.id).toMatch(/^[0-9a-f]{16}$/);
    const [replayable, purgeable] = records as [SetAsideRecord, SetAsideRecord];

    expect(await h.broker.takeSetAside(['0000000000000000'], 'purge')).toEqual([]);
    const replayed = await h.broker.takeSetAside([replayable.id], 'replay');
    expect(replayed).toEqual([replayable]);
    const again = await inbox.next();
    expect(again.raw).toBe(first.raw);
    expect(again.deliveryCount ?? 1).toBe(1);
    await inbox.ack(again);
    expect((await h.broker.setAsideMessages()).filter((r) => r.queue === q)).toEqual([purgeable]);

    expect(await h.broker.takeSetAside([purgeable.id], 'purge')).toEqual([purgeable]);
    expect((await h.broker.setAsideMessages()).filter((r) => r.queue === q)).toEqual([]);
    expect(await h.broker.queueLength(q)).toBe(0);
  });
}

