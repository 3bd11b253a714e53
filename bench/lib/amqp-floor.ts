/**
 * @module bench/lib/amqp-floor
 * The floors of the RabbitMQ bench (`bench:amqp --floors`): what amqplib alone reaches doing a
 * late-ack worker's wire work, on classic queues of the run's vhost (deleted after each).
 *
 * - minimal: publish n messages on a confirm channel (pipelined), then consume them with
 *   prefetch 4 x c, and per message publish a reply and ack it, until every reply is back;
 *   small messages (two headers), replies acked without waiting for their confirm.
 * - celery: the same with what Celeriac cannot skip: the properties and header table of a task
 *   Celeriac sent (captured from the vhost, a fresh id per copy), the rpc:// result's
 *   properties and body, each ack sent only once its reply is confirmed (acksLate), each reply
 *   parsed by the reader. Neither decodes the task's body or runs anything.
 */
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { celeriacApp } from '../peers/amqp-peers.js';

export interface FloorResult {
  /** Confirmed publish of n messages, tasks/s. */
  readonly publish: number;
  /** Consume + reply + ack of n messages, tasks/s. */
  readonly drain: number;
  /** CPU of this process (consumer and reply reader) over the drain, us per task. */
  readonly cpuUs: number;
}

const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);

/** One floor run of `n` messages at concurrency `c` (prefetch 4 x c) on the vhost of `url`. */
export async function floor(url: string, kind: 'minimal' | 'celery', n: number, c: number): Promise<FloorResult> {
  const tag = randomUUID().slice(0, 8);
  const work = `floor-${tag}`;
  const replyTo = `floor-reply-${tag}`;
  const celery = kind === 'celery' ? await captureTask(url, `floor-capture-${tag}`) : undefined;
  const conn = await amqp.connect(url);
  try {
    const pub = await conn.createConfirmChannel();
    await pub.assertQueue(work, { durable: true });
    await pub.assertQueue(replyTo, { durable: false, autoDelete: true });
    const body = celery?.content ?? Buffer.from('[[], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]');
    let t = performance.now();
    for (let i = 0; i < n; i++) {
      if (celery === undefined) {
        pub.publish('', work, body, { contentType: 'application/json', deliveryMode: 2, headers: { id: String(i), task: 'bench.noop' } });
      } else {
        const id = randomUUID();
        pub.publish('', work, body, { ...celery.options, headers: { ...celery.headers, id, root_id: id }, correlationId: id, replyTo });
      }
    }
    await pub.waitForConfirms();
    const publish = rate(n, performance.now() - t);
    const replies = await conn.createChannel();
    let got = 0;
    let done!: () => void;
    const all = new Promise<void>((resolve) => (done = resolve));
    await replies.consume(
      replyTo,
      (msg) => {
        if (celery !== undefined && msg !== null) JSON.parse(msg.content.toString('utf8'));
        if (++got === n) done();
      },
      { noAck: true },
    );
    const ch = await conn.createConfirmChannel();
    await ch.prefetch(4 * c, true);
    const cpu0 = process.cpuUsage();
    t = performance.now();
    await ch.consume(work, (msg) => {
      if (msg === null) return;
      if (celery === undefined) {
        ch.publish('', replyTo, Buffer.from('{"status": "SUCCESS", "result": null}'), { contentType: 'application/json', deliveryMode: 1 });
        ch.ack(msg);
        return;
      }
      const id = String(msg.properties.correlationId);
      const reply = Buffer.from(`{"task_id": "${id}", "status": "SUCCESS", "result": null, "traceback": null, "children": []}`);
      const props = { contentType: 'application/json', contentEncoding: 'utf-8', headers: {}, deliveryMode: 1, priority: 0, correlationId: id };
      ch.publish('', String(msg.properties.replyTo), reply, props, (err) => {
        if (err === null || err === undefined) ch.ack(msg);
      });
    });
    await all;
    const drain = rate(n, performance.now() - t);
    const used = process.cpuUsage(cpu0);
    await pub.deleteQueue(work);
    return { publish, drain, cpuUs: Math.round((used.user + used.system) / n) };
  } finally {
    await conn.close();
  }
}

/** The properties and body of a `bench.noop` task as Celeriac publishes it, read back from `queue` (deleted after). */
async function captureTask(url: string, queue: string): Promise<{ options: amqp.Options.Publish; headers: Record<string, unknown>; content: Buffer }> {
  const app = celeriacApp(url, 'classic');
  try {
    await app.sendTask('bench.noop', [], {}, { queue });
  } finally {
    await app.close();
  }
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    const msg = await ch.get(queue, { noAck: true });
    if (msg === false) throw new Error('floor: the captured task is not in its queue');
    await ch.deleteQueue(queue);
    await ch.deleteExchange(queue);
    const p = msg.properties;
    const options: amqp.Options.Publish = { contentType: p.contentType, contentEncoding: p.contentEncoding, deliveryMode: p.deliveryMode, priority: p.priority };
    return { options, headers: { ...(p.headers ?? {}) }, content: msg.content };
  } finally {
    await conn.close();
  }
}
