/**
 * A result backend that refuses writes, for real: a private redis-server turned into a
 * replica of nothing (every write answers READONLY, as a replica after a failover does) or
 * given `maxmemory 1` (OOM). Before: one late-ack message ran 83 times in 10 s. Now: each
 * delivery goes back through the delayed set with exponential backoff, and the one that
 * reaches workerMaxDeliveries is dead-lettered (worker/redelivery.ts).
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import type { RedisClientType } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/redis-backend.js';
import { RedisBroker } from '../../src/brokers/redis/redis-broker.js';
import type { Consumer, Delivery } from '../../src/core/spi/broker.js';
import { createApp, Worker, type App } from '../../src/index.js';
import { makeMessage } from '../../src/testing/broker-harness.js';
import { deleteKeys, shouldRunRedisTests, redisServerOnPath } from '../support/redis.js';
import { waitFor } from 'celeriac/testing';
import { DurableRedisServer, FAST, plainClient, FAILURE_DB, failureKeys } from './support.js';

const ready = await shouldRunRedisTests('failure: result backend refuses writes');
const hasRedisServer = redisServerOnPath('failure: result backend refuses writes');

const BASE = FAILURE_DB;
const { prefix, brokerUrl } = failureKeys();

// This suite's own redis-server; NO_MASTER: a port nothing listens on.
const BACKEND_PORT = 7370;
const NO_MASTER = '7449';

describe.runIf(ready && hasRedisServer)('failure: the result backend refuses writes (READONLY, OOM)', () => {
  const server = new DurableRedisServer(BACKEND_PORT);
  let admin: RedisClientType;

  beforeAll(async () => {
    await server.start();
    admin = await plainClient(server.url);
  });

  afterAll(async () => {
    await admin?.close().catch(() => undefined);
    await server.dispose();
    await deleteKeys(prefix, BASE);
  });

  async function start(queue: string, maxDeliveries: number): Promise<{ app: App; worker: Worker; runs: Map<string, number> }> {
    const app = createApp(
      { broker: brokerUrl, backend: server.url, taskAcksLate: true, workerMaxDeliveries: maxDeliveries, workerRedeliveryDelaySec: 0.05 },
      { env: {}, logger: pino({ level: 'silent' }), broker: new RedisBroker(brokerUrl, FAST), backend: new RedisBackend({ url: server.url }) },
    );
    const runs = new Map<string, number>();
    app.task('ro.side_effect', { bind: true }, (ctx) => {
      runs.set(ctx.request.id, (runs.get(ctx.request.id) ?? 0) + 1);
      return 'done';
    });
    const worker = new Worker(app, { queues: [queue], concurrency: 1, prefetchMultiplier: 1, hostname: `ro-${queue}@failure` });
    await worker.start();
    return { app, worker, runs };
  }

  for (const [refusal, refuse, allow] of [
    ['READONLY', ['REPLICAOF', '127.0.0.1', NO_MASTER], ['REPLICAOF', 'NO', 'ONE']],
    ['OOM', ['CONFIG', 'SET', 'maxmemory', '1'], ['CONFIG', 'SET', 'maxmemory', '0']],
  ] as const) {
    it(`${refusal}: the message runs workerMaxDeliveries times with backoff, then is dead-lettered`, async () => {
      const queue = `ro-${randomUUID().slice(0, 8)}`;
      const { app, worker, runs } = await start(queue, 4);
      try {
        await admin.sendCommand([...refuse]);
        const id = randomUUID();
        await app.sendTask('ro.side_effect', [], {}, { queue, taskId: id });
        const parked = await waitFor(async () => (await app.broker.setAsideMessages?.())?.find((r) => r.raw.includes(id)), 'the dead letter', 15_000);
        expect(parked.reason).toMatch(new RegExp(`^delivered 4 times \\(workerMaxDeliveries 4\\); last failure: .*${refusal}`));
        expect(parked.queue).toBe(queue);
        expect(runs.get(id)).toBe(4);
        // Not delivered again afterwards, even once writes work.
        await admin.sendCommand([...allow]);
        const other = await app.sendTask('ro.side_effect', [], {}, { queue });
        expect(await other.get({ timeoutMs: 10_000 })).toBe('done');
        expect(runs.get(id)).toBe(4);
      } finally {
        await admin.sendCommand([...allow]).catch(() => undefined);
        await worker.close({ deadlineMs: 1000 });
        await app.close();
      }
    }, 30_000);
  }

  // The store's one retry was logged as "on a fresh connection" for a refusal too, where the
  // connection works and none is made.
  it('a refused result store is logged with what Redis answered (no connection is made afresh)', async () => {
    const lines: string[] = [];
    const backend = new RedisBackend({ url: server.url, log: (_level, msg) => void lines.push(msg) });
    const meta = { task_id: `ro-${randomUUID()}`, status: 'SUCCESS' as const, result: 1, traceback: null, children: [], date_done: null };
    try {
      await backend.store(meta, { expiresSec: 60 });
      await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '1']);
      await expect(backend.store({ ...meta, task_id: `ro-${randomUUID()}` }, { expiresSec: 60 })).rejects.toThrow(/OOM/);
      expect(lines).toEqual([expect.stringMatching(/^store result of task ro-\S+ failed; retrying once \(Redis answered OOM\)$/)]);
    } finally {
      await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '0']).catch(() => undefined);
      await backend.close();
      await deleteKeys('celery-task-meta-ro-', server.url);
    }
  });

  it('READONLY for a while: the task is redelivered until writes work, then ends SUCCESS', async () => {
    const queue = `ro-${randomUUID().slice(0, 8)}`;
    const { app, worker, runs } = await start(queue, 10);
    try {
      await admin.sendCommand(['REPLICAOF', '127.0.0.1', NO_MASTER]);
      const r = await app.sendTask('ro.side_effect', [], {}, { queue });
      await waitFor(() => (runs.get(r.id) ?? 0) >= 2, 'two refused runs', 10_000);
      await admin.sendCommand(['REPLICAOF', 'NO', 'ONE']);
      expect(await r.get({ timeoutMs: 15_000 })).toBe('done');
      expect(runs.get(r.id)).toBeLessThan(10);
    } finally {
      await admin.sendCommand(['REPLICAOF', 'NO', 'ONE']).catch(() => undefined);
      await worker.close({ deadlineMs: 1000 });
      await app.close();
    }
  }, 30_000);

  it('a broker on a read-only Redis: a fetch reports READONLY (not a wrong type), then serves once writes work', async () => {
    const broker = new RedisBroker(server.url, { pollIntervalMs: 20 });
    const full = `ro-full-${randomUUID().slice(0, 8)}`;
    const empty = `ro-empty-${randomUUID().slice(0, 8)}`;
    await broker.publish(makeMessage('ro-1'), { exchange: '', routingKey: full });
    const consumers: Consumer[] = [];
    try {
      await admin.sendCommand(['REPLICAOF', '127.0.0.1', NO_MASTER]);
      // One queue (bulk pops) and two (one by one): each refusal is READONLY as Redis said it.
      for (const queues of [[full], [empty, full]]) {
        const errors: string[] = [];
        const consumer = broker.consume({ queues, prefetch: 1, onDelivery: () => undefined, onError: (e) => void errors.push(e.message) });
        consumers.push(consumer);
        await waitFor(() => errors.length >= 2, `fetch errors from ${queues.join(', ')}`, 10_000);
        await consumer.close();
        expect(errors.every((m) => m.includes('READONLY') && !m.includes('WRONGTYPE')), errors[0]).toBe(true);
      }
      await admin.sendCommand(['REPLICAOF', 'NO', 'ONE']);
      const got: Delivery[] = [];
      consumers.push(broker.consume({ queues: [full], prefetch: 1, onDelivery: (d) => void got.push(d) }));
      await waitFor(() => got.length === 1, 'the message once writes work', 10_000);
      await got[0]?.ack();
    } finally {
      await admin.sendCommand(['REPLICAOF', 'NO', 'ONE']).catch(() => undefined);
      await Promise.all(consumers.map((c) => c.close()));
      await broker.close();
    }
  }, 30_000);
});
