/**
 * The beat store conformance suite on RabbitMQ (the broker's own store: one document in a
 * queue, beat-store.ts), in a vhost of its own; the store queue is deleted after each test so
 * each starts empty. Also: a corrupt or concurrently used document, and several first beats
 * racing to create the store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../../../test/support/amqp-env.js';
import { beatStoreConformance } from '../../testing/beat-store-conformance.js';
import { AmqpBroker } from './amqp-broker.js';
import { BEAT_STORE_QUEUE } from './beat-store.js';
import { sleep } from '../../testing/wait-for.js';

const available = await amqpAvailable();
describe.runIf(available)('amqp beat store', () => {
  let vhost = '';
  beforeAll(async () => {
    vhost = await createVhost('beat');
  }, 60_000);
  afterAll(async () => {
    await deleteVhost(vhost);
  }, 60_000);

  async function dropStore(broker: AmqpBroker): Promise<void> {
    const model = await broker.session.connection();
    const ch = await model.createChannel();
    await ch.deleteQueue(BEAT_STORE_QUEUE);
    await ch.close();
  }

  beatStoreConformance('amqp', {
    async open() {
      const broker = new AmqpBroker(vhostUrl(vhost));
      return {
        broker,
        store: broker.beatStore(),
        pass: sleep,
        close: async () => {
          await dropStore(broker);
          await broker.close();
        },
      };
    },
  });

  it('first beats racing to create the store write one document, and exactly one of them leads', async () => {
    const brokers = Array.from({ length: 5 }, () => new AmqpBroker(vhostUrl(vhost)));
    try {
      const attempts = await Promise.all(brokers.map((b, i) => b.beatStore().acquire(`h${i}`, 60_000)));
      expect(attempts.filter((a) => a.token !== null)).toHaveLength(1);
      expect(await brokers[0]?.queueLength(BEAT_STORE_QUEUE)).toBe(1);
    } finally {
      if (brokers[0] !== undefined) await dropStore(brokers[0]);
      await Promise.all(brokers.map((b) => b.close()));
    }
  }, 60_000);

  it('concurrent writers from several connections lose no update', async () => {
    const brokers = Array.from({ length: 3 }, () => new AmqpBroker(vhostUrl(vhost)));
    try {
      await Promise.all(brokers.flatMap((b, i) => Array.from({ length: 10 }, (_, j) => b.beatStore().put(`e${i}-${j}`, `{"n":${j}}`))));
      const entries = await brokers[0]!.beatStore().entries();
      expect(entries.definitions.size).toBe(30);
      expect(entries.version).toBe(30);
    } finally {
      if (brokers[0] !== undefined) await dropStore(brokers[0]);
      await Promise.all(brokers.map((b) => b.close()));
    }
  }, 60_000);

  it('a process that dies holding the document gives it back (its connection closes)', async () => {
    const a = new AmqpBroker(vhostUrl(vhost));
    const b = new AmqpBroker(vhostUrl(vhost));
    try {
      await a.beatStore().put('x', '{}');
      // Take the document as an operation would, then lose the connection without settling it.
      const model = await a.session.connection();
      const ch = await model.createChannel();
      expect(await ch.get(BEAT_STORE_QUEUE, { noAck: false })).not.toBe(false);
      const versionLater = b.beatStore().version();
      await model.close();
      expect(await versionLater).toBe(1);
    } finally {
      await dropStore(b);
      await Promise.all([a.close(), b.close()]);
    }
  }, 60_000);
});
