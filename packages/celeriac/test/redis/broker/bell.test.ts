/**
 * Idle consumers wait blocked in Redis on their queues' doorbells, with their fetch pipelined
 * behind the block (brokers/redis/bell.ts). Every consumer here has its poll (and so its block's
 * own timeout) an hour away: what reaches it sooner came through a doorbell or an early end.
 * The hostile cases: close while blocked and racing a publish, the prefetch window (with two
 * fetches ahead of each full batch, and a close while they are out), several
 * consumers on one queue, a doorbell nobody takes, Redis restarted under a blocked consumer, a
 * consumer killed with SIGKILL while blocked, a server that refuses BRPOP, a server busy with a
 * long script, and a big message whose fetch reply takes longer to arrive than a block lasts.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Consumer, Delivery } from '../../../src/core/spi/broker.js';
import { BELL_MAX_TOKENS, BELL_SLACK_MS, BellLine } from '../../../src/brokers/redis/bell.js';
import { parseRedisUrl } from '../../../src/redis/url.js';
import { RedisBroker } from '../../../src/brokers/redis/redis-broker.js';
import type { RedisConsumer } from '../../../src/brokers/redis/redis-consumer.js';
import { bindingMember, BrokerKeys } from '../../../src/redis/keys.js';
import { idOf, makeMessage } from '../../../src/testing/broker-harness.js';
import { encodeEnvelope } from '../../../src/protocol/envelope.js';
import { waitFor } from '../../../src/testing/wait-for.js';
import { nextTurn } from '../../../src/brokers/redis/wakeup.js';
import { libraryLoaderArgs, libraryModuleUrl } from '../../support/node-script.js';
import { shouldRunRedisTests, usePrivateRedis } from '../../support/redis.js';
import { newPrefix, prefixedUrl, redisAvailable, TEST_REDIS_URL, useRawRedis } from './redis-test-env.js';
import { FaultProxy } from '../../support/fault-proxy.js';

const available = await redisAvailable();
const privateServers = await shouldRunRedisTests('doorbells on private redis-servers');
/** An hour: nothing but a doorbell or an early end brings a message within a test's time. */
const IDLE = { pollIntervalMs: 3_600_000 };

const blocked = (consumer: Consumer) => waitFor(() => (consumer as RedisConsumer).blocked, 'the consumer to block on its doorbells');
const publish = (broker: RedisBroker, queue: string, id: string) => broker.publish(makeMessage(id), { exchange: '', routingKey: queue });

describe.skipIf(!available)('doorbells on the shared Redis', () => {
  const prefix = newPrefix();
  const url = prefixedUrl(prefix);
  const keys = new BrokerKeys(prefix);
  const raw = useRawRedis(prefix);
  let producer: RedisBroker;
  beforeAll(async () => {
    producer = new RedisBroker(url);
    await producer.connect();
  });
  afterAll(async () => {
    await producer?.close();
  });

  it('close ends a block at once, though the block and the poll are an hour long', async () => {
    const broker = new RedisBroker(url, IDLE);
    try {
      const consumer = broker.consume({ queues: [`close-${randomUUID()}`], prefetch: 4, onDelivery: () => undefined });
      await blocked(consumer);
      const t0 = Date.now();
      await consumer.close();
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect((consumer as RedisConsumer).blocked).toBe(false);
    } finally {
      await broker.close();
    }
  });

  it('a close racing a doorbell loses nothing: each message is delivered or back in its queue', async () => {
    const queue = `race-${randomUUID()}`;
    const broker = new RedisBroker(url, IDLE);
    const acks: Promise<void>[] = [];
    const delivered: string[] = [];
    const rounds = 30;
    try {
      for (let i = 0; i < rounds; i++) {
        const consumer = broker.consume({
          queues: [queue],
          prefetch: 4,
          onDelivery: (d) => {
            delivered.push(d.tag);
            acks.push(d.ack());
          },
        });
        await blocked(consumer);
        // Some rounds the fetch runs before the close's early end, some after: both must hold.
        await Promise.all([publish(producer, queue, `m${i}`), i % 2 === 0 ? consumer.close() : nextTurn().then(() => consumer.close())]);
        await (consumer as RedisConsumer).givenBack();
      }
      await Promise.all(acks);
      const queued = await raw().lLen(`${prefix}${queue}`);
      expect(delivered.length + queued).toBe(rounds);
      expect(await raw().hLen(keys.unacked)).toBe(0);
      expect(await raw().zCard(keys.leases)).toBe(0);
    } finally {
      await broker.close();
    }
  });

  it('never holds more than its prefetch, the doorbell rung for ten', async () => {
    const queue = `window-${randomUUID()}`;
    const broker = new RedisBroker(url, IDLE);
    const got: Delivery[] = [];
    let acked = 0;
    let mostHeld = 0;
    // The window counts deliveries whose ack is not sent yet (a slot frees as the ack goes out).
    const ack = async (list: Delivery[]) => {
      acked += list.length;
      await Promise.all(list.map((d) => d.ack()));
    };
    try {
      const consumer = broker.consume({
        queues: [queue],
        prefetch: 2,
        onDelivery: (d) => {
          got.push(d);
          mostHeld = Math.max(mostHeld, got.length - acked);
        },
      });
      await blocked(consumer);
      await producer.publishMany(Array.from({ length: 10 }, (_, i) => ({ message: makeMessage(`w${i}`), options: { exchange: '', routingKey: queue } })));
      await waitFor(() => got.length === 2, 'the window to fill');
      expect(await raw().hLen(keys.unacked)).toBe(2);
      expect(await raw().lLen(`${prefix}${queue}`)).toBe(8);
      await ack(got.slice(0, 2));
      await waitFor(() => got.length === 4, 'room made by two acks to be refilled');
      await ack(got.slice(2, 4));
      await waitFor(() => got.length === 6, 'the next two');
      await ack(got.slice(4, 6));
      await consumer.close();
    } finally {
      await broker.close();
    }
    // Held at once, over the whole run: never more than the window.
    expect(mostHeld).toBe(2);
    expect(await raw().lLen(`${prefix}${queue}`)).toBe(4);
  });

  it('a window of four batches, with two fetches ahead, never holds more than the window; a close with fetches out loses and repeats nothing', async () => {
    const queue = `ahead-${randomUUID()}`;
    const broker = new RedisBroker(url, { ...IDLE, fetchBatchSize: 10 });
    const got: Delivery[] = [];
    try {
      // -c 100's shape at a tenth: a window of 40 against batches of 10, so two fetches go ahead of each full batch.
      const consumer = broker.consume({ queues: [queue], prefetch: 40, onDelivery: (d) => got.push(d) });
      await blocked(consumer);
      const ids = Array.from({ length: 100 }, (_, i) => `a${i}`);
      await producer.publishMany(ids.map((id) => ({ message: makeMessage(id), options: { exchange: '', routingKey: queue } })));
      await waitFor(() => got.length === 40, 'the window to fill');
      // Nothing acked, so the window is full: the fetches ahead took no more than their room.
      expect(await raw().hLen(keys.unacked)).toBe(40);
      expect(await raw().lLen(`${prefix}${queue}`)).toBe(60);
      expect(got.map(idOf)).toEqual(ids.slice(0, 40));
      await Promise.all(got.slice(0, 20).map((d) => d.ack()));
      await waitFor(() => got.length === 60, 'the room of 20 acks to be refilled');
      // Room for two more batches, and a close while their fetches are out.
      await Promise.all(got.slice(20, 40).map((d) => d.ack()));
      await consumer.close();
      await (consumer as RedisConsumer).givenBack();
      await Promise.all(got.slice(40).map((d) => d.ack()));
      const left = (await raw().lRange(`${prefix}${queue}`, 0, -1)).length;
      expect(got.length + left).toBe(100);
      expect(new Set(got.map(idOf)).size).toBe(got.length);
      expect(got.map(idOf)).toEqual(ids.slice(0, got.length));
      expect(await raw().hLen(keys.unacked)).toBe(0);
      expect(await raw().zCard(keys.leases)).toBe(0);
    } finally {
      await broker.close();
    }
  });

  it('a batch rings as many blocked consumers as it has messages', async () => {
    const queue = `fan-${randomUUID()}`;
    const brokers = [new RedisBroker(url, IDLE), new RedisBroker(url, IDLE)];
    const got: Delivery[][] = [[], []];
    try {
      const consumers = brokers.map((b, i) => b.consume({ queues: [queue], prefetch: 1, onDelivery: (d) => got[i]?.push(d) }));
      for (const c of consumers) await blocked(c);
      await producer.publishMany([0, 1].map((i) => ({ message: makeMessage(`f${i}`), options: { exchange: '', routingKey: queue } })));
      // Each window holds one: the second message reaches the second consumer only by its own token.
      await waitFor(() => got[0]?.length === 1 && got[1]?.length === 1, 'one message on each consumer');
      for (const list of got) for (const d of list) await d.ack();
      for (const c of consumers) await c.close();
    } finally {
      for (const b of brokers) await b.close();
    }
  });

  it("beat's fenced send rings the doorbell too, and a send the fence refuses rings nothing", async () => {
    const queue = `fenced-${randomUUID()}`;
    const lease = `${prefix}test-beat-lease`;
    await raw().set(lease, 'token-1');
    const send = (token: string, id: string) => producer.publish(makeMessage(id), { exchange: '', routingKey: queue, fence: { key: lease, token } });
    await expect(send('token-0', 'refused')).rejects.toThrow(/beat lease/);
    expect([await raw().lLen(`${prefix}${queue}`), await raw().lLen(keys.bell(queue))]).toEqual([0, 0]);
    // Without its token a blocked consumer learns of the message only at its next poll or
    // early end (up to its poll interval, or a promote interval, later).
    await send('token-1', 'sent');
    expect([await raw().lLen(`${prefix}${queue}`), await raw().lLen(keys.bell(queue))]).toEqual([1, 1]);
    const broker = new RedisBroker(url, IDLE);
    const got: string[] = [];
    try {
      const consumer = broker.consume({ queues: [queue], prefetch: 2, onDelivery: (d) => void got.push(d.tag) });
      await waitFor(() => got.length === 1, 'the fenced message delivered');
      await consumer.close();
    } finally {
      await broker.close();
    }
  });

  it('an event loop held past the stuck verdict right after an early end keeps the connection and its fetch', async () => {
    // A task holds the loop (synchronous work) as the push that ends the block is answered:
    // the block's reply reaches the socket meanwhile, but when the loop comes back the verdict's
    // timer is due before the socket is read. Dropping the connection then failed a fetch that
    // had taken its messages, which waited out their lease (a minute by default).
    const key = `${prefix}stalled-${randomUUID()}`;
    const own = `${prefix}own-${randomUUID()}`;
    // The block's poll is long enough that a test process starved by a loaded host still
    // finds the block pending when it unblocks it (a 50 ms poll timed out first once); the
    // hold outlasts the verdict's timer (the poll and three slacks) by a margin.
    const pollMs = 1000;
    const holdMs = pollMs + 4 * BELL_SLACK_MS + 200;
    let held = 0;
    const ring = () => {
      // Answered at once; the push itself goes out from another process while the loop is held.
      const answered = Promise.resolve(1);
      void answered.then(() =>
        queueMicrotask(() => {
          // Runs after the line armed its verdict on this answer.
          const until = Date.now() + holdMs;
          pushFromOutside(own);
          while (Date.now() < until) held += 1;
        }),
      );
      return answered;
    };
    const line = new BellLine(parseRedisUrl(url), { offlineQueueTimeoutMs: null }, own, ring);
    try {
      await new Promise<void>((resolve) => line.connect(resolve));
      await raw().set(key, 'fetched');
      const block = line.block([`${prefix}bell-${randomUUID()}`], pollMs, (send) => send((c) => c.get(key)));
      if (block === undefined) throw new Error('the line was ready, yet no block went out');
      await waitFor(async () => (await raw().sendCommand(['CLIENT', 'LIST'])).toString().includes('cmd=brpop'), 'the BRPOP to block');
      line.unblock();
      expect(await block.rang, 'ended by its own token').toBe(false);
      expect(held).toBeGreaterThan(0);
      expect(await block.reply).toBe('fetched');
    } finally {
      await line.close();
    }
  });

  it('a batch rings up to 64 blocked consumers: 24 idle consumers of one queue each take one of 24 messages at once', async () => {
    // With idle workers polling once a second, a batch of 100 rang 16 of them and left the rest
    // to their poll while those 16 worked through it.
    const queue = `fan24-${randomUUID()}`;
    const broker = new RedisBroker(url, IDLE);
    const got: Delivery[] = [];
    try {
      const consumers = Array.from({ length: 24 }, () => broker.consume({ queues: [queue], prefetch: 1, onDelivery: (d) => got.push(d) }));
      for (const c of consumers) await blocked(c);
      await producer.publishMany(Array.from({ length: 24 }, (_, i) => ({ message: makeMessage(`m${i}`), options: { exchange: '', routingKey: queue } })));
      await waitFor(() => got.length === 24, () => `each consumer to take one (${got.length} of 24 taken)`);
      for (const d of got) await d.ack();
      for (const c of consumers) await c.close();
    } finally {
      await broker.close();
    }
  });

  it('a doorbell nobody takes stays short', async () => {
    const queue = `unheard-${randomUUID()}`;
    for (let i = 0; i < 100; i++) {
      await producer.publishMany(Array.from({ length: 5 }, (_, j) => ({ message: makeMessage(`u${i}.${j}`), options: { exchange: '', routingKey: queue } })));
    }
    const tokens = await raw().lLen(keys.bell(queue));
    expect(tokens).toBeGreaterThan(0);
    expect(tokens).toBeLessThanOrEqual(BELL_MAX_TOKENS);
    expect(await raw().lLen(`${prefix}${queue}`)).toBe(500);
  });
});

/** LPUSHes an empty token to `key` from another process, synchronously: this process reads no socket meanwhile. */
function pushFromOutside(key: string): void {
  const url = new URL(TEST_REDIS_URL);
  const command = (...args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  const auth = url.password === '' ? [] : [command('AUTH', ...(url.username === '' ? [] : [decodeURIComponent(url.username)]), decodeURIComponent(url.password))];
  const commands = [...auth, command('SELECT', url.pathname.slice(1) || '0'), command('LPUSH', key, '')];
  const script = `const s = require('node:net').connect(${Number(url.port || 6379)}, ${JSON.stringify(url.hostname)}); let got = '';
    s.on('data', (d) => { got += d; if (got.split('\\r\\n').length > ${commands.length}) s.end(); }); s.write(${JSON.stringify(commands.join(''))});`;
  execFileSync(process.execPath, ['-e', script], { timeout: 10_000 });
}

/**
 * A consumer of `queue` on `broker` (prefetch 1, the default poll), blocked on its doorbell,
 * then `send()`: exactly one delivery comes, and no error is reported meanwhile (no connection
 * was dropped). Acks it and closes the consumer, `broker`, then `others`.
 */
async function deliveredWithoutError(broker: RedisBroker, queue: string, send: () => Promise<unknown>, others: readonly { close(): Promise<void> }[]): Promise<void> {
  const errors: unknown[] = [];
  const delivered: Delivery[] = [];
  try {
    const consumer = broker.consume({ queues: [queue], prefetch: 1, onDelivery: (d) => void delivered.push(d), onError: (e) => void errors.push(e) });
    await blocked(consumer);
    await send();
    await waitFor(() => delivered.length === 1, 'the delivery', { timeoutMs: 15_000 });
    expect(errors, 'no connection dropped').toEqual([]);
    await (delivered[0] as Delivery).ack();
    await consumer.close();
  } finally {
    await broker.close();
    for (const o of others) await o.close();
  }
}

describe.skipIf(!available)('doorbells behind a slow link', () => {
  const prefix = newPrefix();
  useRawRedis(prefix);

  it('a fetch whose reply takes longer than a block lasts is delivered, its connection kept', async () => {
    const queue = `slow-${randomUUID()}`;
    // 3.2 MB/s: a message of 2 MB takes about 0.7 s to arrive, well past the block's own
    // timeout (the default 50 ms poll plus the slack) and past an early end's grace after it.
    const link = new FaultProxy(Number(new URL(TEST_REDIS_URL).port || 6379));
    await link.start();
    link.narrow(3_200_000);
    const producer = new RedisBroker(prefixedUrl(prefix));
    const big = { ...makeMessage('big'), body: JSON.stringify([['x'.repeat(2_000_000)], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]) };
    const linkUrl = new URL(prefixedUrl(prefix));
    linkUrl.port = String(link.port);
    await deliveredWithoutError(new RedisBroker(linkUrl.toString()), queue, () => producer.publish(big, { exchange: '', routingKey: queue }), [producer, link]);
    expect(link.stats.delayed).toBeGreaterThan(0);
  }, 30_000);
});

describe.runIf(privateServers)('doorbells on a private redis-server', () => {
  const { server, admin } = usePrivateRedis();
  const blockedClients = async () => Number(/blocked_clients:(\d+)/.exec(await admin().info('clients'))?.[1]);

  it('a Redis busy with a long script under a blocked consumer: the connection is kept, and what comes after is fetched', async () => {
    const queue = `busy-${randomUUID()}`;
    const url = `${server().url}?global_keyprefix=busy:`;
    // The default poll (50 ms): the consumer's early end and its grace both fall inside the script.
    const producer = new RedisBroker(url);
    // One script holds Redis for a second (well below its 5 s busy threshold): nobody is served meanwhile.
    const busy = 'local t0 = redis.call("TIME") local s = t0[1] * 1000000 + t0[2] repeat local t = redis.call("TIME") until t[1] * 1000000 + t[2] - s > 1000000 return 1';
    const send = async () => {
      const ran = admin().eval(busy, { keys: [], arguments: [] });
      await publish(producer, queue, 'after');
      await ran;
    };
    await deliveredWithoutError(new RedisBroker(url), queue, send, [producer]);
  }, 20_000);

  it('Redis restarted under a blocked consumer: the failure is reported, and the next doorbell rings it', async () => {
    const queue = `restart-${randomUUID()}`;
    const broker = new RedisBroker(server().url, IDLE);
    const producer = new RedisBroker(server().url);
    const errors: Error[] = [];
    let recovered = 0;
    const got: Delivery[] = [];
    try {
      const consumer = broker.consume({ queues: [queue], prefetch: 4, onDelivery: (d) => got.push(d), onError: (e) => errors.push(e), onRecovered: () => recovered++ });
      await blocked(consumer);
      await server().kill();
      await server().start();
      await waitFor(() => errors.length > 0 && recovered > 0, 'the lost block to be reported, then a fetch to work again', 15_000);
      await blocked(consumer);
      await waitFor(async () => (await blockedClients()) === 1, 'the new block to reach the new server');
      await publish(producer, queue, 'after-restart');
      await waitFor(() => got.length === 1, 'the doorbell to bring the message');
      await got[0]?.ack();
      await consumer.close();
    } finally {
      await producer.close();
      await broker.close();
    }
  });

  it('a consumer killed with SIGKILL while blocked takes nothing: its fetch never runs', async () => {
    const queue = `killed-${randomUUID()}`;
    const brokerModule = libraryModuleUrl('brokers/redis/redis-broker.ts');
    const code = `
      const { RedisBroker } = await import(${JSON.stringify(brokerModule)});
      const broker = new RedisBroker(${JSON.stringify(server().url)}, { pollIntervalMs: 3600000 });
      const consumer = broker.consume({ queues: [${JSON.stringify(queue)}], prefetch: 1, onDelivery: (d) => console.log('GOT ' + d.tag) });
      const timer = setInterval(() => { if (consumer.blocked) { console.log('BLOCKED'); clearInterval(timer); } }, 5);
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, [...libraryLoaderArgs(), '--input-type=module', '-e', code], {
      cwd: fileURLToPath(new URL('.', import.meta.url)),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const producer = new RedisBroker(server().url);
    try {
      await waitFor(() => out.includes('BLOCKED'), 'the child consumer to block', 20_000);
      await waitFor(async () => (await blockedClients()) === 1, 'its block to reach Redis');
      child.kill('SIGKILL');
      await exited;
      await waitFor(async () => (await blockedClients()) === 0, 'Redis to drop the dead client');
      // Redis serves a blocked client in the same turn as the push that wakes it, before it
      // replies to the push: had the dead client's fetch run, its message would be held now.
      await publish(producer, queue, 'after-kill');
      expect(out).not.toContain('GOT');
      expect(await admin().lLen(queue)).toBe(1);
      expect(await admin().hLen('unacked')).toBe(0);
      expect(await admin().zCard('celeriac.leases')).toBe(0);
    } finally {
      child.kill('SIGKILL');
      await producer.close();
    }
  });

  it('a producer whose ACL allows its queues only: a refused doorbell does not fail the publish', async () => {
    const queue = `acl-only-${randomUUID()}`;
    await admin().sendCommand(['ACL', 'SETUSER', 'queuesonly', 'on', '>p4ss', 'resetkeys', '~acl-only-*', 'resetchannels', '&*', '+@all']);
    const producer = new RedisBroker(server().url.replace('redis://', 'redis://queuesonly:p4ss@'));
    try {
      await publish(producer, queue, 'one');
      await producer.publishMany([{ message: makeMessage('two'), options: { exchange: '', routingKey: queue } }]);
      // Each message once: a rejected publish would have been sent again by its caller.
      expect(await admin().lLen(queue)).toBe(2);
      expect(await admin().exists(new BrokerKeys().bell(queue))).toBe(0);
    } finally {
      await producer.close();
    }
  });

  it("a producer whose ACL allows no channel (Redis 7's default for a new user): a refused wake-up PUBLISH fails no publish", async () => {
    const queue = `no-channels-${randomUUID()}`;
    await admin().sendCommand(['ACL', 'SETUSER', 'nochannels', 'on', '>p4ss', '~*', 'resetchannels', '+@all']);
    const producer = new RedisBroker(server().url.replace('redis://', 'redis://nochannels:p4ss@'));
    const lease = `fence-${randomUUID()}`;
    await admin().set(lease, 'token-1');
    try {
      await publish(producer, queue, 'one');
      await producer.publishMany([{ message: makeMessage('two'), options: { exchange: '', routingKey: queue } }]);
      // An ETA message while no promoter is alive goes to the queue (publish-eta.lua). A child
      // SIGKILLed by an earlier test of this server may still be advertised as one.
      await admin().del('celeriac.promoters');
      await producer.publish(makeMessage('three'), { exchange: '', routingKey: queue, deliverAt: Date.now() + 3_600_000 });
      // Beat's fenced send to two queues (publish-fenced.lua): both pushed, not the first alone.
      const other = `${queue}-b`;
      await admin().sAdd(new BrokerKeys().binding('fenced-x'), [bindingMember(queue, queue), bindingMember(queue, other)]);
      await producer.publish(makeMessage('four'), { exchange: 'fenced-x', routingKey: queue, fence: { key: lease, token: 'token-1' } });
      // Each message once: a rejected publish would have been sent again by its caller.
      expect(await admin().lLen(queue)).toBe(4);
      expect(await admin().lLen(other)).toBe(1);
      expect(await admin().zCard('celeriac.delayed')).toBe(0);
    } finally {
      await producer.close();
    }
  });

  it('a server that refuses BRPOP and the wake-up SUBSCRIBE: the consumer keeps its fast poll, and subscribes once allowed, at the next reconnect', async () => {
    const queue = `unheard-${randomUUID()}`;
    await admin().sendCommand(['ACL', 'SETUSER', 'nosub', 'on', '>p4ss', '~*', 'resetchannels', '+@all', '-brpop']);
    const userUrl = server().url.replace('redis://', 'redis://nosub:p4ss@');
    // Quiet at once, its quiet poll a minute: a consumer that took itself for subscribed would
    // leave an unannounced message waiting that long.
    const broker = new RedisBroker(userUrl, { pollIntervalMs: 50, quietAfterMs: 1, quietPollIntervalMs: 60_000 });
    const producer = new RedisBroker(server().url);
    const got: string[] = [];
    const channel = new BrokerKeys().wakeChannel(queue);
    const subscribers = async () => Number(((await admin().sendCommand(['PUBSUB', 'NUMSUB', channel])) as [string, number])[1]);
    try {
      const errors: string[] = [];
      const consumer = broker.consume({ queues: [queue], prefetch: 4, onDelivery: (d) => void d.ack().then(() => got.push(idOf(d))), onError: (err) => errors.push(err.message) });
      // Its line refused, then its SUBSCRIBE: it waits now, with nothing announcing messages.
      await waitFor(() => errors.some((e) => e.includes('wake-up channels')), () => `the refused SUBSCRIBE reported (${JSON.stringify(errors)})`);
      const envelope = encodeEnvelope(makeMessage('unannounced'), { deliveryTag: randomUUID(), exchange: '', routingKey: queue });
      await admin().lPush(queue, envelope);
      await waitFor(() => got.includes('unannounced'), 'the unannounced message, at the fast poll', 10_000);
      expect(await subscribers()).toBe(0);
      // Channels allowed now; the wake-up connection dropped: it reconnects and subscribes.
      await admin().sendCommand(['ACL', 'SETUSER', 'nosub', '&*']);
      const clients = String(await admin().sendCommand(['CLIENT', 'LIST']));
      const id = /id=(\d+) [^\n]*name=celeriac-broker-wake/.exec(clients)?.[1];
      expect(id, clients).toBeDefined();
      await admin().sendCommand(['CLIENT', 'KILL', 'ID', id as string]);
      await waitFor(async () => (await subscribers()) === 1, 'the wake-up subscription, tried again');
      await publish(producer, queue, 'woken');
      await waitFor(() => got.includes('woken'), 'a wake-up to bring the message', 10_000);
      await consumer.close();
    } finally {
      await producer.close();
      await broker.close();
    }
  });

  it('a server that refuses BRPOP: the consumer says so and waits on pub/sub wake-ups instead', async () => {
    const queue = `refused-${randomUUID()}`;
    await admin().sendCommand(['ACL', 'SETUSER', 'nobrpop', 'on', '>p4ss', '~*', '&*', '+@all', '-brpop']);
    const userUrl = server().url.replace('redis://', 'redis://nobrpop:p4ss@');
    const warnings: string[] = [];
    const broker = new RedisBroker(userUrl, { ...IDLE, log: (level, msg) => level === 'warn' && warnings.push(msg) });
    const producer = new RedisBroker(userUrl);
    const got: Delivery[] = [];
    try {
      const consumer = broker.consume({ queues: [queue], prefetch: 4, onDelivery: (d) => got.push(d) });
      await waitFor(() => warnings.some((w) => w.includes('refused the blocking wait')), 'the warning');
      const channel = new BrokerKeys().wakeChannel(queue);
      await waitFor(async () => Number(((await admin().sendCommand(['PUBSUB', 'NUMSUB', channel])) as [string, number])[1]) > 0, 'the wake-up subscription');
      await publish(producer, queue, 'woken');
      await waitFor(() => got.length === 1, 'a pub/sub wake-up to bring the message');
      await got[0]?.ack();
      await consumer.close();
    } finally {
      await producer.close();
      await broker.close();
    }
  });
});
