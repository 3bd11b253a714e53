/**
 * A client that waits for a task's result as Bee-Queue's does for a job: on one RESP3
 * connection (node-redis), one write sends the SUBSCRIBE of the result's channel, the message's
 * LPUSH and its doorbell's LPUSH, in that order, so Redis has the subscription before any worker
 * can take the message, and the result comes as a push. The previous call's UNSUBSCRIBE goes out
 * with the next write. A measuring tool's client (bench/rt-subscribe-first.ts, bench/rt-floor.ts),
 * not the engine's: its result backend subscribes on a RESP2 connection of its own.
 *
 * The message is the engine's own: one sent to a queue no worker reads, copied with a new task
 * id and delivery tag for each call, so a worker does the same work for it as for `delay()`.
 */
import { randomUUID } from 'node:crypto';
import { createClient } from '@redis/client';
import type { Task } from 'celeriac';
import type { Redis } from 'ioredis';

/** Where the client sends: the broker's global_keyprefix and queue. */
export interface SubscribeFirstOptions {
  readonly host: string;
  readonly port: number;
  readonly prefix: string;
  readonly queue: string;
  /** The engine's no-op task, on an app whose broker uses `prefix`: it makes the template message. */
  readonly task: Task<[], null>;
  /** An admin connection to the same Redis: reads the template. */
  readonly admin: Redis;
}

/** One round trip per `call()`; `resultKeys` lists what the calls' results were stored under. */
export interface SubscribeFirstClient {
  call(): Promise<void>;
  readonly resultKeys: readonly string[];
  close(): Promise<void>;
}

/** Where the template message is sent: a queue no worker reads. */
const SAMPLE_QUEUE = 'unread';

/** Connects, makes the template message, and returns the client. */
export async function subscribeFirstClient(o: SubscribeFirstOptions): Promise<SubscribeFirstClient> {
  const sample = await o.task.applyAsync([], { queue: SAMPLE_QUEUE });
  const sampleKey = `${o.prefix}${SAMPLE_QUEUE}`;
  const template = (await o.admin.lrange(sampleKey, 0, 0))[0];
  if (template === undefined) throw new Error(`the sample message was not found in ${sampleKey}`);
  await o.admin.del(sampleKey, `${o.prefix}celeriac.bell.${SAMPLE_QUEUE}`, `celery-task-meta-${sample.id}`);
  const tag = (JSON.parse(template) as { properties: { delivery_tag: string } }).properties.delivery_tag;
  const queueKey = `${o.prefix}${o.queue}`;
  const bellKey = `${o.prefix}celeriac.bell.${o.queue}`;
  const resp3 = createClient({ socket: { host: o.host, port: o.port }, RESP: 3 });
  await resp3.connect();
  const resultKeys: string[] = [];
  let held: string | null = null;
  return {
    resultKeys,
    async call(): Promise<void> {
      const id = randomUUID();
      const message = template.replaceAll(sample.id, id).replace(tag, randomUUID()).replace(`"routing_key": "${SAMPLE_QUEUE}"`, `"routing_key": "${o.queue}"`);
      const channel = `celery-task-meta-${id}`;
      resultKeys.push(channel);
      let settle!: (text: string) => void;
      const pushed = new Promise<string>((resolve) => (settle = resolve));
      if (held !== null) void resp3.unsubscribe(held);
      void resp3.subscribe(channel, (text) => settle(text));
      void resp3.lPush(queueKey, message);
      void resp3.lPush(bellKey, '');
      const meta = JSON.parse(await pushed) as { status?: unknown };
      if (meta.status !== 'SUCCESS') throw new Error(`task ${id} ended ${String(meta.status)}, not SUCCESS`);
      held = channel;
    },
    async close(): Promise<void> {
      if (resp3.isOpen) await resp3.quit();
    },
  };
}
