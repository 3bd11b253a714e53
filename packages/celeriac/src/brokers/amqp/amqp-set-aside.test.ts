/**
 * The RabbitMQ broker's two set-aside queues (set-aside-queues.ts) on a real RabbitMQ: each
 * holds at most its bounds, the oldest dropped first; garbage never pushes out a dead letter;
 * a queue an older Celeriac made unbounded is used as it is, with a warning; bad bounds are a
 * CONFIG error. Before, one unbounded queue took both, and a poison flood grew it until
 * RabbitMQ's disk alarm blocked every publisher.
 */
import amqp from 'amqplib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../../../test/support/amqp-env.js';
import { createApp } from '../../create-app.js';
import type { Delivery } from '../../core/spi/broker.js';
import { ErrorCodes } from '../../errors.js';
import { makeMessage } from '../../testing/broker-harness.js';
import { waitFor } from '../../testing/wait-for.js';
import { AmqpBroker, DEAD_LETTER_QUEUE, SET_ASIDE_QUEUE } from './amqp-broker.js';

describe('amqp set-aside bounds: options', () => {
  it('a bound that is not a positive integer is a CONFIG error naming it', () => {
    for (const [name, value] of [['setAsideMaxCount', 0], ['setAsideMaxBytes', -1], ['deadLetterMaxCount', 1.5], ['deadLetterMaxBytes', 'big']] as const) {
      expect(() => new AmqpBroker('amqp://guest:guest@127.0.0.1:7459//', { [name]: value } as never), name).toThrow(expect.objectContaining({ code: ErrorCodes.CONFIG, message: expect.stringContaining(name) }));
    }
  });

  it('the four bounds are broker transport options of an amqp:// app', async () => {
    const app = createApp({ broker: 'amqp://guest:guest@127.0.0.1:7459//', backend: 'memory://', brokerTransportOptions: { setAsideMaxCount: 5, setAsideMaxBytes: 4096, deadLetterMaxCount: 6, deadLetterMaxBytes: 8192 } }, { env: {} });
    expect(app.broker.kind).toBe('amqp');
    await app.close();
    const bad = createApp({ broker: 'amqp://guest:guest@127.0.0.1:7459//', backend: 'memory://', brokerTransportOptions: { setAsideMaxRecordBytes: 4096 } }, { env: {} });
    expect(() => bad.broker).toThrow(/Unknown RabbitMQ broker transport option "setAsideMaxRecordBytes"; known: .*deadLetterMaxBytes/);
    await bad.close();
  });
});

const ready = await amqpAvailable();

describe.runIf(ready)('amqp set-aside bounds: on RabbitMQ', () => {
  // A vhost per test: a set-aside queue, once declared with some bounds, keeps them.
  let vhost = '';
  beforeEach(async () => {
    vhost = await createVhost('set-aside');
  });
  afterEach(async () => {
    await deleteVhost(vhost);
  });

  /** Publishes `ids` to `queue` and sets each delivery aside in order, as `category(id)` says. */
  async function setAside(broker: AmqpBroker, queue: string, ids: readonly string[], category: (id: string) => 'malformed' | 'dead-letter', message = makeMessage): Promise<void> {
    await broker.publishMany(ids.map((id) => ({ message: message(id), options: { exchange: '', routingKey: queue } })));
    const got: Delivery[] = [];
    const errors: unknown[] = [];
    const consumer = broker.consume({
      queues: [queue],
      prefetch: 1,
      onDelivery: (d) => {
        const id = String(d.decoded?.headers.id);
        void d.setAside(`test ${id}`, { category: category(id) }).then(() => got.push(d), (e: unknown) => errors.push(e));
      },
      onError: (e) => errors.push(e),
    });
    try {
      await waitFor(() => got.length === ids.length || errors.length > 0, () => `${got.length} of ${ids.length} set aside`, 20_000);
      expect(errors).toEqual([]);
    } finally {
      await consumer.close();
    }
  }

  /** The ids in `queue` of the suite's vhost, oldest first (read with amqplib, acked). */
  async function idsIn(queue: string): Promise<string[]> {
    const conn = await amqp.connect(vhostUrl(vhost));
    try {
      const ch = await conn.createChannel();
      const out: string[] = [];
      for (let m = await ch.get(queue, { noAck: true }); m !== false; m = await ch.get(queue, { noAck: true })) out.push(String(m.properties.headers?.['id']));
      return out;
    } finally {
      await conn.close();
    }
  }

  it('each queue keeps at most its count, the newest; a flood of garbage leaves the dead letters alone', async () => {
    const broker = new AmqpBroker(vhostUrl(vhost), { setAsideMaxCount: 3, deadLetterMaxCount: 2, log: () => undefined });
    try {
      await broker.declareQueue('sa-count');
      // Three dead letters first (one too many), then eight malformed messages.
      const ids = [...['d1', 'd2', 'd3'], ...Array.from({ length: 8 }, (_, i) => `m${i + 1}`)];
      await setAside(broker, 'sa-count', ids, (id) => (id.startsWith('d') ? 'dead-letter' : 'malformed'));
      await waitFor(async () => (await broker.queueLength(SET_ASIDE_QUEUE)) === 3 && (await broker.queueLength(DEAD_LETTER_QUEUE)) === 2, 'the bounded lengths', 10_000);
      expect(await idsIn(DEAD_LETTER_QUEUE)).toEqual(['d2', 'd3']);
      expect(await idsIn(SET_ASIDE_QUEUE)).toEqual(['m6', 'm7', 'm8']);
    } finally {
      await broker.close();
    }
  }, 60_000);

  it('each queue keeps at most its bytes of bodies', async () => {
    // makeMessage's body is about 90 bytes: 200 bytes hold two.
    const broker = new AmqpBroker(vhostUrl(vhost), { setAsideMaxBytes: 200, log: () => undefined });
    try {
      await broker.declareQueue('sa-bytes');
      await setAside(broker, 'sa-bytes', ['b1', 'b2', 'b3', 'b4', 'b5'], () => 'malformed');
      expect(Buffer.byteLength(makeMessage('b1').body)).toBeGreaterThan(67);
      expect(Buffer.byteLength(makeMessage('b1').body)).toBeLessThanOrEqual(100);
      await waitFor(async () => (await broker.queueLength(SET_ASIDE_QUEUE)) === 2, 'two bodies kept', 10_000);
      expect(await idsIn(SET_ASIDE_QUEUE)).toEqual(['b4', 'b5']);
    } finally {
      await broker.close();
    }
  }, 60_000);

  it('a body past the record bound is kept cut to it with its whole size; a copy keeps no expiration', async () => {
    // A sixteenth of 16,000 bytes, and at least 1,024: bodies past 1,024 bytes are cut.
    const broker = new AmqpBroker(vhostUrl(vhost), { setAsideMaxBytes: 16_000, log: () => undefined });
    const big = (id: string) => {
      const m = makeMessage(id);
      return { ...m, body: JSON.stringify([['é'.repeat(3000)], {}, {}]), properties: { ...m.properties, expiration: '600000' } };
    };
    try {
      await broker.declareQueue('sa-cut');
      await setAside(broker, 'sa-cut', ['big1'], () => 'malformed', big);
      await setAside(broker, 'sa-cut', ['small1'], () => 'malformed', (id) => ({ ...makeMessage(id), properties: { ...makeMessage(id).properties, expiration: '600000' } }));
      const conn = await amqp.connect(vhostUrl(vhost));
      try {
        const ch = await conn.createChannel();
        const cut = await ch.get(SET_ASIDE_QUEUE, { noAck: true });
        const whole = await ch.get(SET_ASIDE_QUEUE, { noAck: true });
        if (cut === false || whole === false) throw new Error('two set-aside copies expected');
        // Before, the copy was the whole body, and a body past the queue's bytes was dropped at once.
        // Cut at a character's start: 'é' is two bytes, the body's first four `[["é`, so 1,023.
        expect(cut.content.length).toBe(1023);
        expect(cut.content.toString('utf8')).toBe(`[["${'é'.repeat(510)}`);
        expect(cut.properties.headers?.['x-celeriac-set-aside-truncated']).toBe(Buffer.byteLength(big('big1').body));
        expect(cut.properties.headers?.['x-celeriac-set-aside-reason']).toBe('test big1');
        expect(whole.content.toString('utf8')).toBe(makeMessage('small1').body);
        expect(whole.properties.headers?.['x-celeriac-set-aside-truncated']).toBeUndefined();
        // The task's own expiration would have RabbitMQ drop the record once it passed.
        expect(cut.properties.expiration).toBeUndefined();
        expect(whole.properties.expiration).toBeUndefined();
      } finally {
        await conn.close();
      }
    } finally {
      await broker.close();
    }
  }, 60_000);

  it('a queue an older Celeriac made unbounded is used as it is, with one warning naming what to do', async () => {
    const conn = await amqp.connect(vhostUrl(vhost));
    const warnings: string[] = [];
    const broker = new AmqpBroker(vhostUrl(vhost), { log: (level, msg) => void (level === 'warn' && warnings.push(msg)) });
    try {
      const ch = await conn.createChannel();
      await ch.assertQueue(SET_ASIDE_QUEUE, { durable: true, autoDelete: false });
      await ch.close();
      await broker.declareQueue('sa-old');
      await setAside(broker, 'sa-old', ['o1', 'o2'], () => 'malformed');
      await waitFor(async () => (await broker.queueLength(SET_ASIDE_QUEUE)) === 2, 'both set aside in the old queue', 10_000);
      expect(warnings.filter((w) => w.includes(SET_ASIDE_QUEUE))).toEqual([
        `queue ${SET_ASIDE_QUEUE} exists with other bounds than setAsideMaxCount 10000 and setAsideMaxBytes 67108864 (an older Celeriac made it unbounded, or other settings): set-aside messages go there as it is; to bound it, delete it once empty (rabbitmqctl delete_queue ${SET_ASIDE_QUEUE} --if-empty) or set a RabbitMQ max-length policy`,
      ]);
      // The broker goes on working after the 406 closed a channel.
      await broker.publish(makeMessage('after'), { exchange: '', routingKey: 'sa-old' });
      await waitFor(async () => (await broker.queueLength('sa-old')) === 1, 'a publish after the 406', 10_000);
    } finally {
      await broker.close();
      await conn.close();
    }
  }, 60_000);
});
