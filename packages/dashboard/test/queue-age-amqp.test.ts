/**
 * Queue age on real RabbitMQ (issue 48 point 6): a Celeriac producer stamps the AMQP
 * `timestamp` property; the dashboard reads the next message of each classic queue with
 * `basic.get` and gives it back, at most once per queue per poll period, and exports
 * `flower_queue_age_seconds{queue}` and `age` in /api/broker. No series for an empty queue,
 * for a message Python Celery 5.2.6 sent (kombu stamps nothing), for a queue gone in the middle
 * of a poll, nor for a quorum queue, which is never read: a return would count toward its
 * `x-delivery-limit`. The producer runs on a FakeClock two minutes behind. A vhost and a
 * Postgres schema of its own.
 */
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { App } from 'celeriac';
import { waitFor, type FakeClock } from 'celeriac/testing';
import type { Broker } from 'celeriac/spi';
import { amqpAvailable, createVhost, onChannel as channelOn, deleteVhost, vhostUrl } from '../../celeriac/test/support/amqp-env.js';
import { shouldRunPythonTests } from '../../celeriac/test/support/python.js';
import { PY_CLIENT, runPython } from '../../celeriac/test/interop/python.js';
import type { RunningDashboard } from '../src/dashboard.js';
import { BrokerQueueReader, type QueueReader } from '../src/ingest/queues.js';
import { postgresReady } from './support/cluster.js';
import { startQueueAgeRig, type QueueAgeRig } from './support/queue-age.js';

const ready = (await postgresReady('dashboard: queue age on RabbitMQ')) && (await amqpAvailable());
const python = ready && shouldRunPythonTests('dashboard: queue age of Python-sent messages on RabbitMQ');

describe.runIf(ready)('queue age on RabbitMQ from the timestamp of the next message', () => {
  let rig: QueueAgeRig;
  let start = 0;
  let stamped = 0;
  let clock: FakeClock;
  let producer: App;
  let dash: RunningDashboard;
  let reader: QueueReader;
  let vhost = '';
  let url = '';
  let conn: ChannelModel;
  const scrape = (series: string, queue: string) => rig.scrape(series, queue);
  const onChannel = <T>(fn: (ch: Channel) => Promise<T>): Promise<T> => channelOn(conn, fn);

  beforeAll(async () => {
    vhost = await createVhost('dash-qage');
    url = vhostUrl(vhost);
    conn = await amqp.connect(url);
    conn.on('error', () => undefined);
    // A quorum queue made by another fleet (Celery 5.6 with x-queue-type quorum), with a delivery limit.
    await onChannel((ch) => ch.assertQueue('qquorum', { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 2 } }));
    // The reader goes through the producer's broker, and reads queues the dashboard does not
    // watch: while the dashboard holds a watched queue's next message for its age, that queue
    // counts one less.
    rig = await startQueueAgeRig(url, ['qa', 'qempty', 'qpy', 'qquorum']);
    ({ start, clock, producer, dash, reader } = rig);
    stamped = Math.floor(start / 1000) * 1000;
  }, 60_000);

  afterAll(async () => {
    await rig?.close();
    await conn?.close().catch(() => undefined);
    await deleteVhost(vhost);
  }, 60_000);

  it('reads the send time of the next message; an empty queue has none', async () => {
    for (const queue of ['qa', 'qr']) await producer.sendTask('t.qa', [], {}, { queue });
    clock.advance(30_000);
    for (const queue of ['qa', 'qr']) await producer.sendTask('t.qa', [], {}, { queue });
    await producer.broker.declareQueue?.('qempty');
    expect(await reader.lengths(['qr', 'qempty2'])).toEqual([
      { name: 'qr', messages: 2, priorities: null, waitingSince: stamped },
      { name: 'qempty2', messages: 0, priorities: null, waitingSince: null },
    ]);
  });

  it('exports flower_queue_age_seconds and /api/broker age; no series for an empty queue', async () => {
    const age = await waitFor(() => scrape('flower_queue_age_seconds', 'qa'), 'the age of qa in /metrics', 10_000);
    expect(age).toBeGreaterThanOrEqual(120);
    expect(age).toBeLessThanOrEqual((Date.now() - stamped) / 1000);
    expect(await scrape('flower_queue_length', 'qempty')).toBe(0);
    expect(await scrape('flower_queue_age_seconds', 'qempty')).toBeUndefined();
    const broker = (await (await fetch(`${dash.url}/api/broker`)).json()) as { queues: { name: string; messages: number; age: number | null }[] };
    const byName = Object.fromEntries(broker.queues.map((q) => [q.name, q]));
    expect(byName['qa']?.age).toBeGreaterThanOrEqual(120);
    expect(byName['qa']?.messages).toBe(2);
    expect(byName['qempty']?.age).toBeNull();
  });

  it('a quorum queue is never read: no age series, and its message was never delivered', async () => {
    await onChannel(async (ch) => {
      ch.sendToQueue('qquorum', Buffer.from('[[],{},{}]'), { headers: { id: 'qq1', task: 't' }, timestamp: Math.floor(start / 1000) });
      await ch.checkQueue('qquorum');
    });
    await waitFor(async () => (await scrape('flower_queue_length', 'qquorum')) === 1, 'qquorum counted in /metrics', 10_000);
    // /api/broker asked meanwhile, and polls seen going on: a message put on a watched classic
    // queue and taken off again, each step seen in /metrics, three times over. Every one of those
    // polls passed qquorum by.
    for (let i = 0; i < 5; i++) await fetch(`${dash.url}/api/broker`);
    for (let i = 0; i < 3; i++) {
      await onChannel(async (ch) => {
        ch.sendToQueue('qempty', Buffer.from('[[],{},{}]'), { headers: { id: `tick${i}`, task: 't' } });
        await ch.checkQueue('qempty');
      });
      await waitFor(async () => (await scrape('flower_queue_length', 'qempty')) === 1, 'a poll to count the tick', 10_000);
      // The dashboard may hold it a moment for its age read: take it once it is back.
      await waitFor(() => onChannel(async (ch) => (await ch.get('qempty', { noAck: true })) !== false), 'the tick taken off', 10_000);
      await waitFor(async () => (await scrape('flower_queue_length', 'qempty')) === 0, 'a poll to see it gone', 10_000);
    }
    expect(await scrape('flower_queue_age_seconds', 'qquorum')).toBeUndefined();
    const msg = await onChannel((ch) => ch.get('qquorum', { noAck: true }));
    expect(msg !== false && { redelivered: msg.fields.redelivered, count: (msg.properties.headers as Record<string, unknown>)['x-delivery-count'] }).toEqual({ redelivered: false, count: 0 });
  }, 30_000);

  it.runIf(python)('a message Python Celery 5.2.6 sent tells no time: no age series, and it stays queued', async () => {
    await runPython({ broker: url, backend: 'rpc://' }, `${PY_CLIENT}
app.send_task('t.py', queue='qpy')
app.send_task('t.py', queue='qpy2')
`);
    await waitFor(async () => (await scrape('flower_queue_length', 'qpy')) === 1, 'qpy counted in /metrics', 10_000);
    expect(await scrape('flower_queue_age_seconds', 'qpy')).toBeUndefined();
    expect(await reader.lengths(['qpy2'])).toEqual([{ name: 'qpy2', messages: 1, priorities: null, waitingSince: null }]);
  }, 60_000);

  it('reads a queue at most once per poll period, however often asked', async () => {
    // A queue the dashboard does not watch (its reads would hold the message a moment), read
    // through the producer's broker (the dashboard reads through its own).
    await producer.sendTask('t.qb', [], {}, { queue: 'qbound' });
    const spied = vi.spyOn(producer.broker as Required<Broker>, 'queueWaitingSince');
    const bounded = new BrokerQueueReader(producer.broker, 60_000);
    try {
      for (let i = 0; i < 5; i++) expect((await bounded.lengths(['qbound', 'qempty']))[0]).toMatchObject({ messages: 1, waitingSince: Math.floor(clock.now() / 1000) * 1000 });
      expect(spied.mock.calls.filter(([q]) => q === 'qbound')).toHaveLength(1);
      // Nothing to read in an empty queue.
      expect(spied.mock.calls.filter(([q]) => q === 'qempty')).toHaveLength(0);
    } finally {
      spied.mockRestore();
    }
  });

  it('a queue deleted in the middle of a poll: its length as counted, no age, no error; the next poll sees it gone', async () => {
    await producer.sendTask('t.gone', [], {}, { queue: 'qgone' });
    const broker = producer.broker;
    // The queue goes between the count and the read of its next message.
    const deleting = Object.create(broker, {
      queueLength: { value: async (q: string) => {
        const n = await broker.queueLength(q);
        await onChannel((ch) => ch.deleteQueue(q));
        return n;
      } },
      queueWaitingSince: { value: (q: string) => broker.queueWaitingSince!(q) },
    }) as Broker;
    const midScrape = new BrokerQueueReader(deleting, 0);
    expect(await midScrape.lengths(['qgone'])).toEqual([{ name: 'qgone', messages: 1, priorities: null, waitingSince: null }]);
    expect(await reader.lengths(['qgone'])).toEqual([{ name: 'qgone', messages: 0, priorities: null, waitingSince: null }]);
  });
});
