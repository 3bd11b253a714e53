import type { RedisClientType } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { RedisBroker } from '../../../src/brokers/redis/redis-broker.js';
import { systemClock } from '../../../src/core/clock.js';
import { LamportClock } from '../../../src/protocol/lamport-clock.js';
import { EventDispatcher, TASK_BATCH_MAX } from '../../../src/worker/events/event-dispatcher.js';
import { BrokerKeys } from '../../../src/redis/keys.js';
import { waitFor } from '../../../src/testing/wait-for.js';
import { deletePrefix, newPrefix, prefixedUrl, rawClient, redisAvailable, TEST_REDIS_URL } from './redis-test-env.js';

const available = await redisAvailable();
const prefix = newPrefix();
const db = Number(new URL(TEST_REDIS_URL).pathname.slice(1) || '0');

describe('BrokerKeys fanout names (docs/protocol.md §2.5)', () => {
  it('builds kombu channel names and PSUBSCRIBE patterns', () => {
    const keys = new BrokerKeys('', 15);
    expect(keys.fanoutChannel('celeryev', 'task.sent')).toBe('/15.celeryev/task.sent');
    expect(keys.fanoutChannel('celery.pidbox', '')).toBe('/15.celery.pidbox');
    expect(keys.fanoutPattern('celeryev', '#')).toBe('/15.celeryev/*');
    expect(keys.fanoutPattern('celeryev', 'worker.#')).toBe('/15.celeryev/worker.*');
    expect(keys.fanoutPattern('celery.pidbox', '')).toBe('/15.celery.pidbox');
    expect(new BrokerKeys('pfx:', 12).fanoutChannel('celeryev', 'task.sent')).toBe('pfx:/12.celeryev/task.sent');
    expect(new BrokerKeys('a[1]*', 0).fanoutPattern('ev?', '*')).toBe('a\\[1\\]\\*/0.ev\\?/*');
  });
});

describe.skipIf(!available)('RedisBroker fanout on the wire', () => {
  let raw: RedisClientType;
  let sub: RedisClientType;
  let broker: RedisBroker;

  beforeAll(async () => {
    raw = await rawClient();
    sub = await rawClient();
    broker = new RedisBroker(prefixedUrl(prefix));
    await broker.connect();
  });

  afterAll(async () => {
    await broker?.close();
    await sub?.close();
    await deletePrefix(raw, prefix);
    await raw?.close();
  });

  it('publishFanout PUBLISHes on <prefix>/<db>.<exchange>/<routing key>', async () => {
    const seen: string[] = [];
    await sub.pSubscribe(`${prefix}/${db}.celeryev/*`, (message, channel) => seen.push(`${channel} ${message}`));
    await broker.publishFanout('celeryev', 'worker.heartbeat', '{"x": 1}');
    await waitFor(() => seen.length === 1, 'the raw subscriber');
    await sub.pUnsubscribe();
    expect(seen).toEqual([`${prefix}/${db}.celeryev/worker.heartbeat {"x": 1}`]);
  });

  it("a worker's task-event batches arrive whole while their buffers are written again for later batches", async () => {
    const got: string[] = [];
    await sub.pSubscribe(`${prefix}/${db}.celeryev/*`, (message) => {
      const envelope = JSON.parse(message) as { body: string; properties: { body_encoding: unknown } };
      expect(envelope.properties.body_encoding).toBeNull();
      for (const event of JSON.parse(envelope.body) as { uuid: string }[]) got.push(event.uuid);
    });
    const dispatcher = new EventDispatcher({ broker, hostname: 'w@h', clock: systemClock, lamport: new LamportClock(), log: pino({ level: 'silent' }) }, { taskEvents: true });
    const sent: string[] = [];
    // Batches of TASK_BATCH_MAX go at once, several in flight; a yield now and then lets
    // answers come back, so later batches are written in the buffers of answered ones.
    for (let i = 0; i < 30 * TASK_BATCH_MAX; i++) {
      const uuid = `t-${i}-${'x'.repeat(i % 50)}`;
      sent.push(uuid);
      dispatcher.sendTask('task-started', { uuid });
      if (i % 700 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await dispatcher.close();
    await waitFor(() => got.length >= sent.length, 'every task event', 10_000);
    await sub.pUnsubscribe();
    expect(got).toEqual(sent);
  });

  it('subscribeFanout receives what a kombu client PUBLISHes on the pidbox channel', async () => {
    const got: string[] = [];
    const unsubscribe = await broker.subscribeFanout('celery.pidbox', '', (message, rk) => got.push(`[${rk}] ${message}`));
    await raw.publish(`${prefix}/${db}.celery.pidbox`, 'request');
    await raw.publish(`${prefix}/${db}.celery.pidboxes`, 'not ours');
    await raw.publish(`${prefix}/${db}.celery.pidbox`, 'request 2');
    await waitFor(() => got.length === 2, 'two requests');
    await unsubscribe();
    expect(got).toEqual(['[] request', '[] request 2']);
  });

  it('bindQueue writes kombu\'s binding member, which routes a reply LPUSH', async () => {
    await broker.bindQueue('oid.reply.celery.pidbox', 'reply.celery.pidbox', 'oid');
    expect(await raw.sMembers(`${prefix}_kombu.binding.reply.celery.pidbox`)).toEqual(['oid\x06\x16\x06\x16oid.reply.celery.pidbox']);
    await broker.unbindQueue('oid.reply.celery.pidbox', 'reply.celery.pidbox', 'oid');
    expect(await raw.sMembers(`${prefix}_kombu.binding.reply.celery.pidbox`)).toEqual([]);
  });
});
