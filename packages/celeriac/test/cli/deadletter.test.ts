/**
 * `celeriac deadletter list|show|replay|purge`, run as the real bin against Redis (the memory
 * broker lives in one process, so its store is covered by the conformance suite): records
 * parked by a Redis broker in this process are listed, shown, replayed to the back of their
 * queue and purged by the child. On a broker without a set-aside store (RabbitMQ) every
 * subcommand fails with a clear error.
 */
import { randomUUID } from 'node:crypto';
import { createClient, type RedisClientType } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisBroker } from '../../src/brokers/redis/redis-broker.js';
import type { Delivery } from '../../src/core/spi/broker.js';
import { makeMessage } from '../../src/testing/broker-harness.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { deleteKeys, randomKeyPrefix, REDIS_URL, shouldRunRedisTests } from '../support/redis.js';
import { fixtureApp, killAll, runCli } from './spawn.js';

const ready = await shouldRunRedisTests('cli: celeriac deadletter');
const base = new URL(REDIS_URL);
base.pathname = '/9';
const prefix = randomKeyPrefix();
const brokerUrl = `${base.toString()}?global_keyprefix=${encodeURIComponent(prefix)}`;
const cli = (...args: string[]) => runCli(['-A', fixtureApp('app'), '-b', brokerUrl, 'deadletter', ...args], { timeoutMs: 60_000 });

afterEach(killAll);

describe.runIf(ready)('celeriac deadletter (spawned, Redis)', () => {
  let broker: RedisBroker;
  let raw: RedisClientType;
  const queue = `dl-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    broker = new RedisBroker(brokerUrl, { pollIntervalMs: 20 });
    raw = createClient({ url: base.toString() }) as RedisClientType;
    await raw.connect();
    for (const id of ['task-a', 'task-b', 'task-c']) await broker.publish({ ...makeMessage(id), headers: { ...makeMessage(id).headers, task: 'fixture.add' } }, { exchange: '', routingKey: queue });
    const got: Delivery[] = [];
    const consumer = broker.consume({ queues: [queue], prefetch: 3, onDelivery: (d) => void got.push(d) });
    await waitFor(() => got.length === 3, 'three deliveries');
    await consumer.close();
    // A record's time is the millisecond it was set aside: a clock that moved between them
    // gives the three records the order the test expects ("oldest first" of two records of one
    // millisecond is the order of their parts; seen once in CI).
    const nextMillisecond = async () => {
      const t = Date.now();
      while (Date.now() === t) await new Promise((resolve) => setTimeout(resolve, 1));
    };
    await got[0]!.setAside('delivered 11 times (workerMaxDeliveries 10); last failure: READONLY', { category: 'dead-letter' });
    await nextMillisecond();
    await got[1]!.setAside('unsafe content type');
    await nextMillisecond();
    await got[2]!.setAside('malformed');
  });

  afterAll(async () => {
    await broker?.close();
    await raw?.close();
    await deleteKeys(prefix, base.toString());
  });

  it('lists, shows, replays and purges by id; asks before a purge', async () => {
    const records = await broker.setAsideMessages();
    const [a, b, c] = records as [(typeof records)[0], (typeof records)[0], (typeof records)[0]];

    const list = await cli('list');
    expect(list.stderr).toBe('');
    expect(list.code).toBe(0);
    const lines = list.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(new RegExp(`^${a.id}  \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z  dead-letter  ${queue}  fixture\\.add\\[task-a\\]  delivered 11 times \\(workerMaxDeliveries 10\\); last failure: READONLY$`));
    expect(lines[1]).toContain('  malformed  ');
    expect((await cli('list', '--limit', '1')).stdout).toBe(`${lines[2]}\n`);
    // Stats: each part's records and bytes, with its quota.
    const stats = await cli('stats');
    expect(stats.code).toBe(0);
    const byteSum = (rs: typeof records) => rs.reduce((n, r) => n + Buffer.byteLength(JSON.stringify({ raw: r.raw, queue: r.queue, reason: r.reason, at: r.at, category: r.category })), 0);
    expect(stats.stdout).toBe([
      'part         records / max            bytes / max',
      `malformed          2 / 10000   ${String(byteSum([b, c])).padStart(12)} / 67108864`,
      `dead-letter        1 / 10000   ${String(byteSum([a])).padStart(12)} / 67108864`,
      '',
    ].join('\n'));
    expect(JSON.parse((await cli('stats', '--json')).stdout)).toEqual({ malformed: { count: 2, bytes: byteSum([b, c]), maxCount: 10_000, maxBytes: 67_108_864 }, 'dead-letter': { count: 1, bytes: byteSum([a]), maxCount: 10_000, maxBytes: 67_108_864 } });
    expect((await cli('list', '-Q', 'elsewhere')).stdout).toBe('No set-aside messages.\n');
    const json = (await cli('list', '--json')).stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(json[1]).toMatchObject({ id: b.id, queue, reason: 'unsafe content type', task: 'fixture.add', taskId: 'task-b', args: ['task-b'] });

    const show = await cli('show', b.id);
    expect(JSON.parse(show.stdout)).toMatchObject({ id: b.id, queue, reason: 'unsafe content type', taskId: 'task-b', envelope: { headers: { id: 'task-b' } } });
    const unknown = await cli('show', 'ffffffffffffffff');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('no set-aside message with id ffffffffffffffff');

    // Replay: back at the back of its queue, gone from the store.
    const replay = await cli('replay', a.id);
    expect(replay).toMatchObject({ code: 0, stdout: `Replayed 1 message.\n  ${a.id} -> ${queue}\n` });
    expect(await broker.queueLength(queue)).toBe(1);
    expect(JSON.parse((await raw.lIndex(`${prefix}${queue}`, 0)) ?? 'null')).toMatchObject({ headers: { id: 'task-a' } });
    expect((await broker.setAsideMessages()).map((r) => r.id)).toEqual([b.id, c.id]);

    // Purge asks first (no input: no), then -f deletes.
    const declined = await cli('purge', b.id);
    expect(declined.code).toBe(1);
    expect(declined.stderr).toContain('Aborted!');
    expect((await broker.setAsideMessages()).map((r) => r.id)).toEqual([b.id, c.id]);
    expect((await cli('purge', '-f', b.id)).stdout).toBe('Purged 1 set-aside message.\n');
    expect((await cli('replay')).stderr).toContain('give the ids of the messages');
    expect((await cli('purge', '-f', '--all')).stdout).toBe('Purged 1 set-aside message.\n');
    expect(await broker.setAsideMessages()).toEqual([]);
    expect(await raw.exists(`${prefix}celeriac.setaside.bytes`)).toBe(0);
  }, 120_000);

  it('fails with a clear error on a broker that keeps no set-aside store', async () => {
    const res = await runCli(['-A', fixtureApp('app'), '-b', 'amqp://guest:guest@127.0.0.1:5672//', 'deadletter', 'list'], { timeoutMs: 60_000 });
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('the amqp broker keeps no set-aside store that this command reads (dead letters): on RabbitMQ they are the queues celeriac.set-aside (malformed messages) and celeriac.deadletters (dead letters)');
  }, 60_000);
});
