/**
 * The RabbitMQ broker under hostile conditions: nothing listening, a poison message that
 * kills a Python 5.2.6 worker (no content type, docs/protocol-amqp.md §2.1), a header table
 * too large to encode, a queue declared elsewhere with other arguments (406), names past an
 * AMQP short string's 255 bytes.
 */
import amqp from 'amqplib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../../../test/support/amqp-env.js';
import { createApp } from '../../create-app.js';
import { ErrorCodes } from '../../errors.js';
import type { Delivery } from '../../core/spi/broker.js';
import { makeMessage } from '../../testing/broker-harness.js';
import { rpcQueueSpec } from '../../amqp/topology.js';
import { waitFor } from '../../testing/wait-for.js';
import { Worker } from '../../worker/worker.js';
import { AmqpBroker, SET_ASIDE_QUEUE } from './amqp-broker.js';

describe('amqp broker with nothing listening', () => {
  it('fails a publish with TRANSPORT after connectWaitMs instead of hanging', async () => {
    // Port 7459 (this suite's range) has no server.
    const broker = new AmqpBroker('amqp://guest:guest@127.0.0.1:7459//', { connectWaitMs: 300, log: () => undefined });
    try {
      await expect(broker.publish(makeMessage('x'), { exchange: '', routingKey: 'q' })).rejects.toMatchObject({ code: ErrorCodes.TRANSPORT });
    } finally {
      await broker.close();
    }
  });
});

const ready = await amqpAvailable();

describe.runIf(ready)('amqp broker: hostile input', () => {
  let vhost = '';
  beforeAll(async () => {
    vhost = await createVhost('hostile');
  });
  afterAll(async () => {
    await deleteVhost(vhost);
  });

  it('a message without content type is set aside; the worker survives and runs the next task', async () => {
    const app = createApp({ broker: vhostUrl(vhost), backend: 'memory://' }, { env: {}, logger: pino({ level: 'silent' }) });
    app.task('h.add', (x: number, y: number) => x + y);
    const worker = new Worker(app, { queues: ['hostile'], concurrency: 2 });
    await worker.start();
    const conn = await amqp.connect(vhostUrl(vhost));
    try {
      const ch = await conn.createChannel();
      ch.sendToQueue('hostile', Buffer.from('[[40, 2], {}, {}]'), { headers: { task: 'h.add', id: 'poison-1' } });
      await ch.close();
      const admin = new AmqpBroker(vhostUrl(vhost));
      await waitFor(async () => (await admin.queueLength(SET_ASIDE_QUEUE)) === 1, 'the poison message set aside', 20_000);
      await admin.close();
      const r = await app.sendTask('h.add', [1, 2], {}, { queue: 'hostile' });
      expect(await r.get({ timeoutMs: 20_000 })).toBe(3);
    } finally {
      await conn.close();
      await worker.close({ deadlineMs: 2000 });
      await app.close();
    }
  }, 60_000);

  it('a queue declared elsewhere with other arguments gives a TRANSPORT error naming the 406, and the broker keeps working', async () => {
    const conn = await amqp.connect(vhostUrl(vhost));
    const ch = await conn.createChannel();
    await ch.assertQueue('prio-mismatch', { durable: true });
    await conn.close();
    const broker = new AmqpBroker(vhostUrl(vhost), { queueMaxPriority: 10 });
    try {
      await expect(broker.publish(makeMessage('m'), { exchange: '', routingKey: 'prio-mismatch' })).rejects.toThrow(/PRECONDITION_FAILED|inequivalent/);
      await broker.declareQueue('fine');
      await broker.publish(makeMessage('ok'), { exchange: '', routingKey: 'fine' });
      expect(await broker.queueLength('fine')).toBe(1);
    } finally {
      await broker.close();
    }
  }, 30_000);

  it('a header table too large to encode is refused at publish, not sent broken', async () => {
    const broker = new AmqpBroker(vhostUrl(vhost));
    try {
      const huge = makeMessage('huge');
      huge.headers['x-big'] = 'x'.repeat(200_000);
      await expect(broker.publish(huge, { exchange: '', routingKey: 'big' })).rejects.toBeInstanceOf(Error);
      await broker.publish(makeMessage('small'), { exchange: '', routingKey: 'big' });
      expect(await broker.queueLength('big')).toBe(1);
    } finally {
      await broker.close();
    }
  }, 30_000);

  it('a name, header name or task id past 255 bytes is refused as INVALID_ARGUMENT naming it, not retried as a lost connection', async () => {
    const warnings: string[] = [];
    const broker = new AmqpBroker(vhostUrl(vhost), { log: (_level, msg) => warnings.push(msg) });
    const long = 'n'.repeat(256);
    const refused = (what: string) => ({ code: ErrorCodes.INVALID_ARGUMENT, message: expect.stringContaining(`${what} "nnnnnnnnnn`) as unknown });
    try {
      await expect(broker.publish(makeMessage('q'), { exchange: '', routingKey: long })).rejects.toMatchObject(refused('queue name'));
      await expect(broker.declareQueue(long)).rejects.toMatchObject(refused('queue name'));
      await expect(broker.publish(makeMessage('x'), { exchange: long, routingKey: 'k' })).rejects.toMatchObject(refused('exchange name'));
      await expect(broker.publish(makeMessage('k'), { exchange: 'celery', routingKey: long })).rejects.toMatchObject(refused('routing key'));
      await expect(broker.publishMany([{ message: makeMessage('m'), options: { exchange: 'celery', routingKey: long } }])).rejects.toMatchObject(refused('routing key'));
      const header = makeMessage('h');
      header.headers['nested'] = { [long]: 1 };
      await expect(broker.publish(header, { exchange: '', routingKey: 'names' })).rejects.toMatchObject(refused('header name'));
      const id = makeMessage('i');
      id.properties.correlation_id = long;
      await expect(broker.publish(id, { exchange: '', routingKey: 'names' })).rejects.toMatchObject(refused('correlation id (the task id)'));
      expect(() => broker.consume({ queues: [long], prefetch: 1, onDelivery: () => undefined })).toThrow(/queue name "n+\.\.\." is 256 bytes/);
      // A queue's name fits, but not after the delay ladder's 64 bytes of routing key.
      const delayed = 'd'.repeat(200);
      await expect(broker.publish(makeMessage('d'), { exchange: '', routingKey: delayed, deliverAt: Date.now() + 60_000 })).rejects.toMatchObject({
        code: ErrorCodes.INVALID_ARGUMENT,
        message: expect.stringMatching(/^routing key of a message delayed for queue "d{40}" \(64 bytes of delay and the queue's name\) ".*" is 264 bytes/) as unknown,
      });
      // Refused before a send: nothing was retried, and the broker goes on.
      expect(warnings).toEqual([]);
      await broker.publish(makeMessage('fine'), { exchange: '', routingKey: 'names' });
      expect(await broker.queueLength('names')).toBe(1);
    } finally {
      await broker.close();
    }
  }, 30_000);

  it("an expiration past RabbitMQ's ten-year bound goes as that bound, and one RabbitMQ cannot read is left off, where either closed the channel", async () => {
    const warnings: string[] = [];
    const broker = new AmqpBroker(vhostUrl(vhost), { log: (_level, msg) => warnings.push(msg) });
    const got: Delivery[] = [];
    try {
      const far = makeMessage('far');
      far.properties.expiration = String(11 * 365 * 86_400_000);
      const odd = makeMessage('odd');
      odd.properties.expiration = '1e+21';
      const near = makeMessage('near');
      near.properties.expiration = '60000';
      for (const m of [far, odd, near]) await broker.publish(m, { exchange: '', routingKey: 'ttl' });
      const consumer = broker.consume({ queues: ['ttl'], prefetch: 5, onDelivery: (d) => got.push(d) });
      await waitFor(() => got.length === 3, 'the three deliveries');
      expect(got.map((d) => d.decoded?.properties.expiration)).toEqual(['315360000000', undefined, '60000']);
      // An rpc:// result queue kept for longer than ten years is declared with ten (it was refused).
      const conn = await amqp.connect(vhostUrl(vhost));
      try {
        const spec = rpcQueueSpec(1e12);
        await (await conn.createChannel()).assertQueue('rpc-long', { durable: spec.durable, autoDelete: spec.autoDelete, arguments: spec.arguments });
      } finally {
        await conn.close();
      }
      expect(warnings).toEqual([]);
      await Promise.all(got.map((d) => d.ack()));
      await consumer.close();
    } finally {
      await broker.close();
    }
  }, 30_000);
});
