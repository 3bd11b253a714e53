/**
 * kill -9 of a worker on RabbitMQ with late acks (issue 27 §8): a worker child holding a
 * running task and three prefetched ones is SIGKILLed; RabbitMQ sees its connection close and
 * puts every unacked message back; another worker (in process, same tasks) runs them all:
 * the interrupted one a second time (it was redelivered), the others once, nothing lost.
 * RabbitMQ in a vhost of its own; results and run counters in Redis under a random key
 * prefix (deleted afterwards).
 */
import { randomUUID } from 'node:crypto';
import type { RedisClientType } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../support/amqp-env.js';
import { AmqpBroker } from '../../src/brokers/amqp/amqp-broker.js';
import { createApp, type App } from '../../src/index.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { deleteKeys, deleteResults, randomKeyPrefix, REDIS_URL, shouldRunRedisTests } from '../support/redis.js';
import { counts, killChildren, MARKED, metas, plainClient, spawnWorker, startLocalWorker, type ChildWorkerConfig, type LocalWorker } from './support.js';

const ready = (await amqpAvailable()) && (await shouldRunRedisTests('failure: kill -9 of a worker on RabbitMQ'));
const prefix = randomKeyPrefix();

describe.runIf(ready)('failure: kill -9 of a worker on RabbitMQ (late acks)', () => {
  let vhost = '';
  let raw: RedisClientType;
  let producer: App;
  let admin: AmqpBroker;
  const taskIds: string[] = [];
  const locals: LocalWorker[] = [];

  function config(queue: string, hostname: string, over: Partial<ChildWorkerConfig> = {}): ChildWorkerConfig {
    return {
      brokerUrl: vhostUrl(vhost),
      broker: {},
      backendUrl: REDIS_URL,
      backendKeyPrefix: '',
      counterUrl: REDIS_URL,
      counterPrefix: prefix,
      queue,
      concurrency: 1,
      prefetchMultiplier: 4,
      acksLate: true,
      hostname,
      ...over,
    };
  }

  async function send(queue: string, firstRunMs: number): Promise<string> {
    const id = randomUUID();
    taskIds.push(id);
    await producer.sendTask(MARKED, [id, firstRunMs], {}, { queue, taskId: id });
    return id;
  }

  beforeAll(async () => {
    vhost = await createVhost('kill');
    raw = await plainClient(REDIS_URL);
    producer = createApp({ broker: vhostUrl(vhost), backend: REDIS_URL }, { env: {} });
    admin = new AmqpBroker(vhostUrl(vhost), { log: () => undefined });
  }, 60_000);
  afterEach(async () => {
    await killChildren();
    await Promise.all(locals.splice(0).map((w) => w.stop()));
  }, 30_000);
  afterAll(async () => {
    await killChildren();
    await producer?.close();
    await admin?.close();
    await raw?.close();
    await deleteKeys(prefix);
    await deleteResults(taskIds);
    if (vhost !== '') await deleteVhost(vhost);
  }, 60_000);

  it('the running task and the prefetched ones all run on another worker; the running one is redelivered', async () => {
    const queue = `kill-${randomUUID().slice(0, 8)}`;
    const a = spawnWorker(config(queue, `a-${process.pid}@amqp-kill`));
    await a.ready;
    const blocker = await send(queue, 120_000);
    await waitFor(async () => (await counts(raw, prefix, blocker)).attempts === 1, 'the blocker to start on A', 30_000);
    const reserved: string[] = [];
    for (let i = 0; i < 6; i++) reserved.push(await send(queue, 0));
    // Prefetch 4 (1 slot x 4): A holds the blocker and three more; three stay ready.
    await waitFor(async () => (await admin.queueLength(queue)) === 3, 'A to hold four messages', 30_000);
    for (const id of reserved) expect((await counts(raw, prefix, id)).attempts).toBe(0);

    await a.kill();
    // RabbitMQ puts A's four unacked messages back once it sees the connection close.
    await waitFor(async () => (await admin.queueLength(queue)) === 7, 'the unacked messages back in the queue', 30_000);
    locals.push(await startLocalWorker(config(queue, `b-${process.pid}@amqp-kill`, { concurrency: 4 }), raw));
    const all = [blocker, ...reserved];
    await waitFor(async () => (await metas(raw, all)).every((m) => m?.status === 'SUCCESS'), 'every task SUCCESS on B', 60_000);

    expect(await counts(raw, prefix, blocker)).toEqual({ attempts: 2, success: 1 });
    expect((await metas(raw, [blocker]))[0]).toMatchObject({ status: 'SUCCESS', result: 2 });
    for (const id of reserved) expect(await counts(raw, prefix, id)).toEqual({ attempts: 1, success: 1 });
    expect(await admin.queueLength(queue)).toBe(0);
  }, 120_000);
});
