/**
 * Listing delayed messages on RabbitMQ (list-delayed.ts) browses the delay queues: what it
 * takes it gives back, so a listing must lose, duplicate and hasten nothing; and it reads
 * both ladders, with the due time of a message Celery 5.6 put in kombu's ladder (no Celeriac
 * header: its `eta`). A vhost of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../../../test/support/amqp-env.js';
import type { Delivery } from '../../core/spi/broker.js';
import { makeMessage } from '../../testing/broker-harness.js';
import { waitFor } from '../../testing/wait-for.js';
import { CLASSIC_TOPOLOGY } from '../../core/queue-topology.js';
import { isoformatUtc } from '../../protocol/time.js';
import { AmqpBroker } from './amqp-broker.js';
import { CELERIAC_LADDER, delayRoutingKey, entryExchange, KOMBU_LADDER } from './delayed.js';
import { DELIVER_AT_HEADER } from './purge-delayed.js';
import { declareLadder } from './ladder-declare.js';

const ready = await amqpAvailable();
const idOf = (raw: string) => String((JSON.parse(raw) as { headers: { id: string } }).headers.id);

describe.runIf(ready)('amqp delayed listing', () => {
  let vhost = '';
  let broker: AmqpBroker;
  beforeAll(async () => {
    vhost = await createVhost('delayed-list');
    broker = new AmqpBroker(vhostUrl(vhost), { log: () => undefined, queues: CLASSIC_TOPOLOGY });
    await broker.connect();
  }, 60_000);
  afterAll(async () => {
    await broker?.close();
    await deleteVhost(vhost);
  }, 60_000);

  it('gives back what it browses: every message arrives once, not before its time', async () => {
    // Far enough ahead that a loaded machine lists all three times before the first is due.
    const due = Date.now() + 6000;
    const ids = Array.from({ length: 20 }, (_, i) => `browsed-${i}`);
    for (const id of ids) await broker.publish(makeMessage(id), { exchange: '', routingKey: 'browse-q', deliverAt: due });
    expect(await broker.delayedCount()).toBe(20);
    for (let round = 0; round < 3; round++) {
      const listed = await broker.delayedMessages(['browse-q'], 100);
      expect(listed.map((r) => idOf(r.raw)).sort()).toEqual([...ids].sort());
      expect(listed.every((r) => r.deliverAt === due && r.queue === 'browse-q')).toBe(true);
    }
    const got: { id: string; at: number; d: Delivery }[] = [];
    const consumer = broker.consume({ queues: ['browse-q'], prefetch: 50, onDelivery: (d) => got.push({ id: idOf(d.raw), at: Date.now(), d }) });
    try {
      await waitFor(() => got.length >= 20, 'the browsed messages', 30_000);
      expect(got.map((g) => g.id).sort()).toEqual([...ids].sort());
      for (const g of got) expect(g.at).toBeGreaterThanOrEqual(due - 50);
      for (const g of got) await g.d.ack();
    } finally {
      await consumer.close();
    }
    expect(await broker.delayedCount()).toBe(0);
  }, 60_000);

  it('listings and a purge at the same moment take turns: each sees every message (ladder-lock.ts)', async () => {
    const others = [0, 1, 2].map(() => new AmqpBroker(vhostUrl(vhost), { log: () => undefined, queues: CLASSIC_TOPOLOGY }));
    try {
      const due = Date.now() + 3_600_000;
      const ids = Array.from({ length: 30 }, (_, i) => `turns-${i}`);
      for (const id of ids) await broker.publish(makeMessage(id), { exchange: '', routingKey: 'turns-q', deliverAt: due });
      await broker.publish(makeMessage('purged-later'), { exchange: '', routingKey: 'turns-purged', deliverAt: due });
      // Three connections list, one purges another queue, all at once.
      const [listings, purged] = await Promise.all([Promise.all(others.map((o) => o.delayedMessages(['turns-q'], 100))), broker.purgeCounted('turns-purged')]);
      for (const listed of listings) expect(listed.map((r) => idOf(r.raw)).sort()).toEqual([...ids].sort());
      expect(purged).toEqual({ ready: 0, delayed: 1 });
      expect(await broker.purgeCounted('turns-q')).toEqual({ ready: 0, delayed: 30 });
    } finally {
      await Promise.all(others.map((o) => o.close()));
    }
  }, 60_000);

  it('counts kombu\'s ladder (quorum) but never takes from it: no listing adds to a delivery count', async () => {
    // What a Celery 5.6 producer sends for a countdown on a quorum queue: straight into
    // kombu's ladder with the bits of the delay in its routing key, the eta in its headers.
    await declareLadder(broker.session, KOMBU_LADDER);
    const model = await broker.session.connection();
    const eta = Date.now() + 3_600_000;
    const message = makeMessage('from-celery-5.6');
    const ch = await model.createConfirmChannel();
    try {
      const headers = { ...message.headers, eta: isoformatUtc(eta) };
      ch.publish(entryExchange(KOMBU_LADDER), delayRoutingKey(KOMBU_LADDER, 3_600_000, 'py-q'), Buffer.from(message.body), { headers, contentType: message.contentType, contentEncoding: message.contentEncoding, deliveryMode: 2 });
      await ch.waitForConfirms();
      for (let i = 0; i < 3; i++) expect(await broker.delayedMessages(null, 10)).toEqual([]);
      expect(await broker.delayedCount()).toBe(1);
      // 3600 s: its highest bit is 2^11, so it waits in level 11. A return would have set x-delivery-count.
      const held = await ch.get(KOMBU_LADDER.levelName(11), { noAck: false });
      // RabbitMQ 3.10 adds it at 0 to the first delivery; every return adds 1.
      expect(held === false ? 'not there' : (held.properties.headers?.['x-delivery-count'] ?? 0)).toBe(0);
    } finally {
      await ch.close().catch(() => undefined);
    }
    // A purge of that queue reaches it although this app's own ladder is Celeriac's.
    expect(await broker.purge('py-q')).toBe(1);
    expect(await broker.delayedCount()).toBe(0);
  }, 60_000);

  it('lists hostile messages of the ladder without failing: a due time it cannot read is the latest the ladder hands it over', async () => {
    const model = await broker.session.connection();
    const ch = await model.createConfirmChannel();
    const delay = 3_600_000;
    const before = Date.now();
    const key = delayRoutingKey(CELERIAC_LADDER, delay, 'hostile-q');
    const hostile: [string, Record<string, unknown> | undefined][] = [
      ['bad-header-bad-eta', { [DELIVER_AT_HEADER]: 'soon', eta: 'not-a-time' }],
      ['header-past-dates', { [DELIVER_AT_HEADER]: 1e300 }],
      ['header-table', { [DELIVER_AT_HEADER]: { nested: 1 } }],
      ['eta-number', { eta: 12345 }],
      ['eta-impossible', { eta: '2026-13-45T99:00:00' }],
      ['eta-table', { eta: { when: 'now' } }],
      ['no-headers', undefined],
    ];
    try {
      for (const [id, headers] of hostile) ch.publish(entryExchange(CELERIAC_LADDER), key, Buffer.from(JSON.stringify([[], {}, {}])), { headers: { ...headers, id, task: 't' }, contentType: 'application/json', contentEncoding: 'utf-8' });
      ch.publish(entryExchange(CELERIAC_LADDER), key, Buffer.from('{not json'), { headers: { [DELIVER_AT_HEADER]: before + delay, id: 'bad-body' }, contentType: 'application/json' });
      // No ladder routing key: nowhere to go.
      ch.sendToQueue(CELERIAC_LADDER.levelName(21), Buffer.from('{}'), { headers: { id: 'no-target' } });
      await ch.waitForConfirms();
    } finally {
      await ch.close().catch(() => undefined);
    }
    const due = Date.now() + delay;
    await broker.publish(makeMessage('well-formed'), { exchange: '', routingKey: 'hostile-q', deliverAt: due });
    const listed = await broker.delayedMessages(['hostile-q'], 100);
    const after = Date.now();
    const byId = new Map(listed.map((r) => [idOf(r.raw), r]));
    expect([...byId.keys()].sort()).toEqual([...hostile.map(([id]) => id), 'bad-body', 'well-formed'].sort());
    expect(byId.get('well-formed')?.deliverAt).toBe(due);
    expect(byId.get('bad-body')?.deliverAt).toBe(before + delay);
    for (const [id] of hostile) {
      const at = byId.get(id)?.deliverAt ?? NaN;
      expect(at, id).toBeGreaterThanOrEqual(before + delay);
      expect(at, id).toBeLessThanOrEqual(after + delay);
    }
    expect(await broker.delayedCount()).toBe(hostile.length + 3);
    expect(await broker.purgeCounted('hostile-q')).toEqual({ ready: 0, delayed: hostile.length + 2 });
  }, 60_000);
});
