/**
 * `celeriac migrate` when its destination goes away mid-run: it stops at the first publish
 * that fails, gives every message it held back to the source in order, and rejects saying
 * how far it got. Before, it tried each of the messages it held (up to 500), each waiting out
 * the connection's timeout: against a destination that went away, hours with nothing printed.
 */
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { createClient } from 'redis';
import { describe, expect, it, vi } from 'vitest';
import { migrateMessages, MigrateError } from '../../src/cli/commands/migrate.js';
import { createApp, type App } from '../../src/index.js';
import { amqpAvailable, createVhost, deleteVhost, TEST_AMQP_HOST, vhostUrl } from '../support/amqp-env.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { spawnCli } from './spawn.js';
import { deleteKeys, freePort, REDIS_URL, shouldRunRedisTests } from '../support/redis.js';
import { waitFor } from '../../src/testing/wait-for.js';

const ready = await shouldRunRedisTests('celeriac migrate against a broker that goes away');
const amqpReady = await amqpAvailable();
const DB_URL = REDIS_URL.replace(/\/\d+$/, '/7');
const N = 1000;

/** Task ids of a Redis queue list, next to be fetched first. */
async function queuedIds(prefix: string): Promise<string[]> {
  const client = createClient({ url: DB_URL });
  await client.connect();
  try {
    const raw = await client.lRange(`${prefix}celery`, 0, -1);
    return raw.map((m) => String((JSON.parse(m) as { headers: { id: string } }).headers.id)).reverse();
  } finally {
    await client.close();
  }
}

/** Task ids of the messages a Redis consumer holds unsettled (kombu's `unacked` hash). */
async function heldIds(prefix: string): Promise<string[]> {
  const client = createClient({ url: DB_URL });
  await client.connect();
  try {
    const raw = await client.hVals(`${prefix}unacked`);
    return raw.map((m) => String((JSON.parse(m) as [{ headers: { id: string } }])[0].headers.id));
  } finally {
    await client.close();
  }
}

/** Sends N tasks through `app`; their ids in order. */
async function fill(app: App): Promise<string[]> {
  return (await app.sendTasks(Array.from({ length: N }, (_, i) => ({ name: 't.move', args: [i] })))).map((r) => r.id);
}

/** Migrates the `celery` queue, cutting `proxy` once 100 messages moved: its MigrateError. */
async function migrateCutAt100(source: App, destination: App, proxy: FaultProxy): Promise<MigrateError> {
  const outcome = await migrateMessages({
    source: source.broker, destination: destination.broker, queues: ['celery'], idleMs: 5_000, forever: false,
    onMoved: (n) => {
      if (n === 100) proxy.cut();
    },
  }).then((moved) => moved, (error: unknown) => error);
  expect(outcome).toBeInstanceOf(MigrateError);
  return outcome as MigrateError;
}

describe.runIf(ready)('celeriac migrate when a broker goes away', () => {
  it('stops at the first failed publish and gives back every message it held, in order', { timeout: 60_000 }, async () => {
    const [p1, p2] = [`mig-out-${randomUUID().slice(0, 8)}:`, `mig-out-${randomUUID().slice(0, 8)}:`];
    const proxy = new FaultProxy(Number(new URL(REDIS_URL).port || 6379));
    await proxy.start();
    const source = createApp({ broker: `${DB_URL}?global_keyprefix=${p1}`, logLevel: 'silent' }, { env: {} });
    const destination = createApp({ broker: `${proxy.redisUrl(7)}?global_keyprefix=${p2}`, logLevel: 'silent', brokerTransportOptions: { connectTimeoutMs: 300 } }, { env: {} });
    try {
      const sent = await fill(source);
      const error = await migrateCutAt100(source, destination, proxy);
      expect(error.moved).toBe(100);
      expect(error.notGivenBack).toBe(0);
      expect(error.message).toMatch(/^migrate stopped after 100 messages: publishing t\.move\[[-0-9a-f]+\] to the destination failed: .*Every message fetched but not moved is back on the source\.$/);
      // Nothing lost, nothing twice, and the rest wait on the source in their order.
      const moved = await queuedIds(p2);
      const left = await queuedIds(p1);
      expect(moved).toEqual(sent.slice(0, 100));
      expect(left).toEqual(sent.slice(100));
      expect(proxy.stats.cut).toBeGreaterThan(0);
    } finally {
      await Promise.all([source.close(), destination.close()]);
      await proxy.close();
      await deleteKeys(p1, DB_URL);
      await deleteKeys(p2, DB_URL);
    }
  });

  it('waits out an outage of the source: its acks go through once it is back, nothing lost or moved twice', { timeout: 60_000 }, async () => {
    const [p1, p2] = [`mig-out-${randomUUID().slice(0, 8)}:`, `mig-out-${randomUUID().slice(0, 8)}:`];
    const proxy = new FaultProxy(Number(new URL(REDIS_URL).port || 6379));
    await proxy.start();
    const producer = createApp({ broker: `${DB_URL}?global_keyprefix=${p1}`, logLevel: 'silent' }, { env: {} });
    const source = createApp({ broker: `${proxy.redisUrl(7)}?global_keyprefix=${p1}`, logLevel: 'silent', brokerTransportOptions: { connectTimeoutMs: 300 } }, { env: {} });
    const destination = createApp({ broker: `${DB_URL}?global_keyprefix=${p2}`, logLevel: 'silent' }, { env: {} });
    try {
      const sent = await fill(producer);
      let healed: Promise<void> | undefined;
      const moved = await migrateMessages({
        source: source.broker, destination: destination.broker, queues: ['celery'], idleMs: 2_000, forever: false,
        onMoved: (n) => {
          if (n !== 100) return;
          proxy.cut();
          // Back once the source's client has tried to reconnect and been refused.
          healed = vi.waitFor(() => expect(proxy.stats.refused).toBeGreaterThan(0), { timeout: 10_000, interval: 20 }).then(() => proxy.heal());
        },
      });
      await healed;
      // A fetch whose reply the cut took leaves its messages leased on the source: a sweep
      // gives them back once the lease runs out, and when that is before the run ends (a slow
      // reconnect) they are moved then, after later ones (a CI run saw one moved 14 places
      // late). Every message moved once, and the others in order.
      const onDestination = await queuedIds(p2);
      const onSource = [...(await queuedIds(p1)), ...(await heldIds(p1))];
      expect(onDestination).toHaveLength(moved);
      expect(moved).toBeGreaterThan(N - 100);
      expect([...onDestination].sort()).toEqual(sent.filter((id) => !onSource.includes(id)).sort());
      expect(onDestination.length + onSource.length).toBe(N);
      expect(onDestination.length - inOrder(onDestination.map((id) => sent.indexOf(id)))).toBeLessThanOrEqual(100);
    } finally {
      await Promise.all([producer.close(), source.close(), destination.close()]);
      await proxy.close();
      await deleteKeys(p1, DB_URL);
      await deleteKeys(p2, DB_URL);
    }
  });
});

describe.runIf(ready)('celeriac migrate interrupted', () => {
  it('a signal while the source connects ends it at once, having moved nothing', async () => {
    const p = `mig-out-${randomUUID().slice(0, 8)}:`;
    const source = createApp({ broker: `redis://127.0.0.1:${await freePort()}/0`, logLevel: 'silent' }, { env: {} });
    const destination = createApp({ broker: `${DB_URL}?global_keyprefix=${p}`, logLevel: 'silent' }, { env: {} });
    try {
      let signal!: () => void;
      const stop = new Promise<void>((resolve) => (signal = resolve));
      const run = migrateMessages({ source: source.broker, destination: destination.broker, queues: ['celery'], idleMs: 60_000, forever: true, onMoved: () => undefined, stop });
      // The source refuses every connection; its broker tries again until its connect timeout.
      await waitFor(() => source.broker.connectProblem?.() ?? null, 'the source to be refused');
      signal();
      // Before, it waited out the connection (10 s), then failed with TRANSPORT.
      expect(await run).toBe(0);
    } finally {
      await Promise.all([source.close(), destination.close()]);
      await deleteKeys(p, DB_URL);
    }
  });

  it('Ctrl-C gives back the messages it held and exits, the rest left in order', { timeout: 60_000 }, async () => {
    const [p1, p2] = [`mig-out-${randomUUID().slice(0, 8)}:`, `mig-out-${randomUUID().slice(0, 8)}:`];
    const producer = createApp({ broker: `${DB_URL}?global_keyprefix=${p1}`, logLevel: 'silent' }, { env: {} });
    try {
      const sent = await producer.sendTasks(Array.from({ length: 20 }, (_, i) => ({ name: i % 2 === 0 ? 't.move' : 't.keep', args: [i] })));
      const kept = sent.filter((_, i) => i % 2 === 1).map((r) => r.id);
      // -T holds the t.keep messages until the end; -F runs until interrupted.
      const cli = spawnCli(['migrate', `${DB_URL}?global_keyprefix=${p1}`, `${DB_URL}?global_keyprefix=${p2}`, '-Q', 'celery', '-T', 't.move', '-F']);
      await cli.waitFor(/Migrating task 10\/20/);
      cli.child.kill('SIGINT');
      expect(await cli.exited, cli.stderr()).toEqual({ code: 0, signal: null });
      expect(cli.stdout()).toMatch(/Migrated 10 messages\.\n$/);
      // Before, SIGINT ended it with them held: back only once their lease ran out.
      expect(await queuedIds(p1)).toEqual(kept);
      expect(await heldIds(p1)).toEqual([]);
    } finally {
      await producer.close();
      await deleteKeys(p1, DB_URL);
      await deleteKeys(p2, DB_URL);
    }
  });
});

/** Task ids of a RabbitMQ queue, in order, read off it (the queue is left empty). */
async function drainIds(vhost: string, queue: string): Promise<string[]> {
  const conn = await amqp.connect(vhostUrl(vhost));
  try {
    const ch = await conn.createChannel();
    const ids: string[] = [];
    for (let m = await ch.get(queue, { noAck: true }); m !== false; m = await ch.get(queue, { noAck: true })) {
      ids.push(String((m.properties.headers as { id: string }).id));
    }
    return ids;
  } finally {
    await conn.close();
  }
}

describe.runIf(amqpReady && ready)('celeriac migrate from RabbitMQ when the connection drops', () => {
  it('stops at once; RabbitMQ takes back what it held, so nothing is lost', { timeout: 60_000 }, async () => {
    const vhost = await createVhost('migrate');
    const p2 = `mig-out-${randomUUID().slice(0, 8)}:`;
    const proxy = new FaultProxy(Number(TEST_AMQP_HOST.split(':')[1] ?? 5672));
    await proxy.start();
    const direct = createApp({ broker: vhostUrl(vhost), logLevel: 'silent' }, { env: {} });
    const source = createApp({ broker: `amqp://guest:guest@127.0.0.1:${proxy.port}/${encodeURIComponent(vhost)}`, logLevel: 'silent' }, { env: {} });
    const destination = createApp({ broker: `${DB_URL}?global_keyprefix=${p2}`, logLevel: 'silent' }, { env: {} });
    try {
      const sent = await fill(direct);
      // Before, it went on through the 500 messages it held, each ack kept for a redelivery
      // that never came: all of them went back to the queue, so each was moved twice.
      const error = await migrateCutAt100(source, destination, proxy);
      expect(error.moved).toBeGreaterThanOrEqual(100);
      expect(error.moved).toBeLessThan(110);
      expect(error.message).toMatch(/^migrate stopped after \d+ messages: t\.move\[[-0-9a-f]+\] was not moved: the source's connection is down\. .*The last messages moved before the source's connection failed may come back to it, and be moved again\.$/);
      const moved = await queuedIds(p2);
      expect(moved).toEqual(sent.slice(0, error.moved));
      await vi.waitFor(async () => expect(await direct.broker.queueLength('celery')).toBeGreaterThanOrEqual(N - error.moved), { timeout: 20_000, interval: 100 });
      const left = await drainIds(vhost, 'celery');
      // Nothing lost; only the last few moved are also back on the source.
      expect(new Set([...moved, ...left])).toEqual(new Set(sent));
      expect(left.filter((id) => moved.includes(id)).every((id) => sent.indexOf(id) >= error.moved - 5)).toBe(true);
    } finally {
      await Promise.all([direct.close(), source.close(), destination.close()]);
      await proxy.close();
      await deleteVhost(vhost);
      await deleteKeys(p2, DB_URL);
    }
  });
});

/** The length of the longest increasing subsequence of `positions`: how many of them are in order. */
function inOrder(positions: readonly number[]): number {
  const tails: number[] = [];
  for (const p of positions) {
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((tails[mid] as number) < p) lo = mid + 1;
      else hi = mid;
    }
    tails[lo] = p;
  }
  return tails.length;
}
