/**
 * The idle consumer's poll (waiting.ts PollPace): fast (`pollIntervalMs`) from its start and
 * after it fetched a Python producer's message (found by a poll, or tagged by kombu), quiet
 * (`quietPollIntervalMs`) once none came for `quietAfterMs`. A quiet consumer must still get at
 * once whatever Celeriac puts in its queues, so every such path rings the queue's doorbell and
 * PUBLISHes its wake-up channel: requeues and restores of another process, the recovery
 * sweep's restores (both tiers), a set-aside replay, an ETA promotion, and an ETA message sent
 * to the queue because no promoter is alive. Checked on a plain Redis (the consumer blocked on
 * its doorbells) and on Sentinel (subscribed to its wake-up channels: no bell line there).
 */
import { randomUUID } from 'node:crypto';
import { createClient, type RedisClientType } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Consumer, Delivery } from '../../../src/core/spi/broker.js';
import { RedisBroker } from '../../../src/brokers/redis/redis-broker.js';
import type { RedisConsumer } from '../../../src/brokers/redis/redis-consumer.js';
import { delayedMember, Transitions } from '../../../src/brokers/redis/transitions.js';
import { encodeEnvelope } from '../../../src/protocol/envelope.js';
import { BrokerKeys } from '../../../src/redis/keys.js';
import { idOf, makeMessage } from '../../../src/testing/broker-harness.js';
import type { TimerHandle } from '../../../src/core/clock.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { waitFor } from '../../../src/testing/wait-for.js';
import { shouldRunRedisTests, usePrivateRedis } from '../../support/redis.js';
import { SentinelCluster } from '../../support/sentinel-cluster.js';
import { newPrefix, prefixedUrl, redisAvailable, useRawRedis } from './redis-test-env.js';

const available = await redisAvailable();
const privateServer = await shouldRunRedisTests('the quiet poll on a private redis-server');

const blocked = (consumer: Consumer) => waitFor(() => (consumer as RedisConsumer).blocked, 'the consumer to block on its doorbells', { timeoutMs: 15_000 });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A message as a Python producer sends it: its envelope pushed to the queue, no doorbell rung. */
const pythonSend = (push: (key: string, raw: string) => Promise<unknown>, keys: BrokerKeys, queue: string, id: string) =>
  push(keys.bucket(queue, 0), encodeEnvelope(makeMessage(id), { deliveryTag: randomUUID(), exchange: '', routingKey: queue }));

/** A fake clock that keeps the length of every timer set on it: the consumer's poll is one. */
class TimerLog extends FakeClock {
  readonly lengths: number[] = [];
  override setTimer(fn: () => void, ms: number): TimerHandle {
    this.lengths.push(ms);
    return super.setTimer(fn, ms);
  }
}

describe.skipIf(!privateServer)('the idle poll: fast, then quiet, then fast again after a message nobody announced', () => {
  const redis = usePrivateRedis();

  it('polls every pollIntervalMs from its start, every quietPollIntervalMs after quietAfterMs with nothing unannounced, fast again once a poll finds some or a fetch brings a kombu-tagged one', async () => {
    const clock = new TimerLog(Date.now());
    const keys = new BrokerKeys('');
    const broker = new RedisBroker(redis.server().url, { clock, pollIntervalMs: 50, quietPollIntervalMs: 1000, quietAfterMs: 5000 });
    const got: string[] = [];
    const push = (key: string, raw: string) => redis.admin().lPush(key, raw);
    try {
      const consumer = broker.consume({ queues: ['paced'], prefetch: 4, onDelivery: (d: Delivery) => void d.ack().then(() => got.push(idOf(d))) });
      await blocked(consumer);
      /** Moves the clock on by `ms` while the consumer waits blocked (its poll timer is set then). */
      const step = (ms: number) => () => {
        if (!(consumer as RedisConsumer).blocked) return false;
        clock.advance(ms);
        return true;
      };
      /** Fake ms the clock moved, 10 at a time, until `id` came. */
      const until = async (id: string): Promise<number> => {
        let moved = 0;
        await waitFor(() => {
          if (got.includes(id)) return true;
          if ((consumer as RedisConsumer).blocked) {
            clock.advance(10);
            moved += 10;
          }
          return false;
        }, `${id} to come`, { timeoutMs: 10_000, maxIntervalMs: 5 });
        return moved;
      };
      // Fast from its start: within a poll.
      await pythonSend(push, keys, 'paced', 'at-start');
      expect(await until('at-start')).toBeLessThanOrEqual(60);
      // Nothing unannounced for quietAfterMs: the next block waits quietPollIntervalMs (a timer
      // of 1000 ms, none of the broker's other timers being that long; set once it is blocked).
      const from = clock.lengths.length;
      clock.advance(5_100);
      await waitFor(() => clock.lengths.slice(from).includes(1000), 'the consumer to wait its quiet poll');
      await pythonSend(push, keys, 'paced', 'when-quiet');
      // 900 ms of the clock, a step at a time, each given a moment of real time in which a
      // poll that came too early would fetch (what is checked is that nothing comes).
      for (let i = 0; i < 9; i++) {
        await waitFor(step(100), 'a step');
        await sleep(5);
      }
      expect(got, 'found before its quiet poll of a second').not.toContain('when-quiet');
      expect(await until('when-quiet')).toBeLessThanOrEqual(200);
      // That poll found a message nobody announced: fast again.
      await pythonSend(push, keys, 'paced', 'fast-again');
      expect(await until('fast-again')).toBeLessThanOrEqual(60);
      // Celeriac's own messages come at once whatever the pace: the doorbell.
      clock.advance(5_100);
      await broker.publish(makeMessage('rung'), { exchange: '', routingKey: 'paced' });
      await waitFor(() => got.includes('rung'), 'the rung message');
      // Quiet again. A Python producer's message fetched beside a rung one (no poll: the clock
      // stands still) tells of that producer as well: fast again.
      await blocked(consumer);
      await pythonSend(push, keys, 'paced', 'beside-rung');
      await broker.publish(makeMessage('rung-2'), { exchange: '', routingKey: 'paced' });
      await waitFor(() => got.includes('beside-rung') && got.includes('rung-2'), 'both messages');
      await pythonSend(push, keys, 'paced', 'after-mixed');
      expect(await until('after-mixed')).toBeLessThanOrEqual(60);
      await consumer.close();
    } finally {
      await broker.close();
    }
  });
});

/** Where the ring tests run: a Redis, and how to tell that an idle consumer of a queue waits for a wake-up. */
interface RingSetup {
  /** Brokers of the other processes (plain Redis). */
  url(): string;
  /** The quiet consumer's broker. */
  idleUrl(): string;
  readonly keys: BrokerKeys;
  raw(): RedisClientType;
  /** Resolves once `consumer`, of `queue`, waits for a wake-up. */
  waiting(consumer: Consumer, queue: string): Promise<unknown>;
}

/** Loaded CI hosts are slow to connect and run; a missing wake-up waits an hour, not this. */
const LONG = { timeoutMs: 15_000 };

/**
 * The tests that each of Celeriac's ways of putting a message in a queue wakes a quiet consumer
 * of any process at once: `setup` says on which Redis, and how the consumer waits.
 */
function ringTests(setup: RingSetup): void {
  const { keys, raw } = setup;

  /**
   * A consumer of `queue` whose poll and block are an hour away, on a clock nobody moves (so
   * its own maintenance never runs: no promotion, no sweep, no presence). Once waiting, only a
   * wake-up brings it a message. `run` gets the ids it received.
   */
  async function withQuietConsumer(queue: string, run: (got: string[]) => Promise<void>): Promise<void> {
    const idle = new RedisBroker(setup.idleUrl(), { pollIntervalMs: 3_600_000, clock: new FakeClock(Date.now()) });
    const got: string[] = [];
    try {
      const consumer = idle.consume({ queues: [queue], prefetch: 0, onDelivery: (d) => void d.ack().then(() => got.push(idOf(d))) });
      await setup.waiting(consumer, queue);
      await run(got);
      await consumer.close();
    } finally {
      await idle.close();
    }
  }

  const newQueue = (name: string) => `${name}-${randomUUID().slice(0, 6)}`;

  /**
   * Deliveries of `ids` from `queue`, held by `other` before any quiet consumer runs (one woken
   * for any reason, a new Sentinel topology say, would take what is pushed while it waits):
   * pushed unannounced, fetched by the other's consumer at its poll, which is then closed so
   * that it takes nothing back itself. By id.
   */
  async function heldElsewhere(other: RedisBroker, queue: string, ids: readonly string[]): Promise<Map<string, Delivery>> {
    const held = new Map<string, Delivery>();
    const c = other.consume({ queues: [queue], prefetch: ids.length, onDelivery: (d) => held.set(idOf(d), d) });
    for (const id of ids) await pythonSend((key, text) => raw().lPush(key, text), keys, queue, id);
    await waitFor(() => held.size === ids.length, 'the other broker to hold them', LONG);
    await c.close();
    return held;
  }

  /** Runs `run` with deliveries of `ids` held by another broker, then a quiet consumer of their queue; closed after. */
  const withOther = (name: string, ids: readonly string[], run: (held: Map<string, Delivery>, other: RedisBroker, queue: string, got: string[]) => Promise<void>) => async () => {
    const other = new RedisBroker(setup.url());
    const queue = newQueue(name);
    try {
      const held = await heldElsewhere(other, queue, ids);
      await withQuietConsumer(queue, (got) => run(held, other, queue, got));
    } finally {
      await other.close();
    }
  };

  it('a requeue and a restore by another process', withOther('release', ['requeued', 'restored'], async (held, _other, _queue, got) => {
    await held.get('requeued')!.reject({ requeue: true });
    await waitFor(() => got.includes('requeued'), 'the requeued message', LONG);
    await held.get('restored')!.restore();
    await waitFor(() => got.includes('restored'), 'the restored message', LONG);
  }));

  it("the recovery sweep's restores: a Celeriac holder's lapsed lease, and a Python holder's tag past the visibility timeout", withOther('sweep', ['lapsed'], async (_held, _other, queue, got) => {
    const sweeper = new Transitions((fn) => fn(raw() as never), keys, '');
    // Its holder renews nothing now (its consumer is closed): a sweep past its lease restores it.
    expect(await sweeper.restoreStale(Date.now() + 600_000, 3_600_000_000, randomUUID(), 100)).toEqual({ ours: 1, theirs: 0 });
    await waitFor(() => got.includes('lapsed'), 'the message of the lapsed lease', LONG);
    // kombu's bookkeeping of a Python worker's fetch, an hour old.
    const tag = randomUUID();
    const envelope = encodeEnvelope(makeMessage('python-held'), { deliveryTag: tag, exchange: '', routingKey: queue });
    await raw().hSet(keys.unacked, tag, `[${envelope}, "", ${JSON.stringify(queue)}]`);
    await raw().zAdd(keys.unackedIndex, { score: Date.now() / 1000 - 3600, value: tag });
    expect(await sweeper.restoreStale(Date.now(), 60_000, randomUUID(), 100)).toEqual({ ours: 0, theirs: 1 });
    await waitFor(() => got.includes('python-held'), "the Python holder's message", LONG);
  }));

  it('a replay of a set-aside message', withOther('replay', ['set-aside'], async (held, other, queue, got) => {
    await held.get('set-aside')!.setAside('a test sets it aside');
    expect((await other.takeSetAside('all', 'replay')).map((r) => r.queue)).toEqual([queue]);
    await waitFor(() => got.includes('set-aside'), 'the replayed message', LONG);
  }));

  it("an ETA message promoted by another process's promotion", async () => {
    const queue = newQueue('promoted');
    await withQuietConsumer(queue, async (got) => {
      const envelope = encodeEnvelope(makeMessage('promoted'), { deliveryTag: randomUUID(), exchange: '', routingKey: queue });
      await raw().zAdd(keys.delayed, { score: Date.now() - 1, value: delayedMember(keys.bucket(queue, 0), envelope) });
      const promoter = new Transitions((fn) => fn(raw() as never), keys, '');
      expect((await promoter.promoteDue(Date.now(), 10)).moved).toBe(1);
      await waitFor(() => got.includes('promoted'), 'the promoted message', LONG);
    });
  });

  it('an ETA message sent while no promoter is alive, which goes to its queue', async () => {
    const producer = new RedisBroker(setup.url());
    try {
      const queue = newQueue('eta');
      await withQuietConsumer(queue, async (got) => {
        // Nobody here advertises promotion: the quiet consumer's clock stands still, the producer consumes nothing.
        expect(await raw().zCard(keys.promoters)).toBe(0);
        await producer.publish(makeMessage('eta-queued'), { exchange: '', routingKey: queue, deliverAt: Date.now() + 3_600_000 });
        expect(await raw().zCard(keys.delayed)).toBe(0);
        await waitFor(() => got.includes('eta-queued'), 'the ETA message', LONG);
      });
    } finally {
      await producer.close();
    }
  });
}

describe.skipIf(!available)('everything Celeriac puts in a queue rings its doorbell', () => {
  const prefix = newPrefix();
  const raw = useRawRedis(prefix);
  ringTests({ url: () => prefixedUrl(prefix), idleUrl: () => prefixedUrl(prefix), keys: new BrokerKeys(prefix), raw, waiting: (consumer) => blocked(consumer) });
});

describe.skipIf(!privateServer)('on Sentinel, everything Celeriac puts in a queue PUBLISHes its wake-up (no bell line there)', () => {
  const MASTER = 'quiet-poll';
  let cluster: SentinelCluster | undefined;
  let client: RedisClientType | undefined;
  const keys = new BrokerKeys('');
  const port = () => (cluster as SentinelCluster).master.port;

  beforeAll(async () => {
    cluster = await SentinelCluster.start(MASTER, { replicas: 0, sentinels: 1, durable: false });
    client = createClient({ url: `redis://127.0.0.1:${port()}/0` }) as RedisClientType;
    client.on('error', () => undefined);
    await client.connect();
  }, 40_000);

  afterAll(async () => {
    client?.destroy();
    await cluster?.dispose();
  }, 20_000);

  ringTests({
    url: () => `redis://127.0.0.1:${port()}/0`,
    idleUrl: () => `redis+sentinel://127.0.0.1:${(cluster as SentinelCluster).sentinel.port}/${MASTER}/0`,
    keys,
    raw: () => client as RedisClientType,
    // Subscribed to the queue's wake-up channel on the master, with no block out (no bell line).
    waiting: (consumer, queue) => subscribed(consumer, queue),
  });

  /** Resolves once `consumer` of `queue` is subscribed to its wake-ups on the master, with no block out. */
  const subscribed = (consumer: Consumer, queue: string) =>
    waitFor(async () => {
      const [, n] = (await (client as RedisClientType).sendCommand(['PUBSUB', 'NUMSUB', keys.wakeChannel(queue)])) as [string, number];
      return Number(n) === 1 && !(consumer as RedisConsumer).blocked;
    }, 'the consumer to subscribe to its wake-ups', LONG);

  it('polls quietly too once nothing came unannounced for quietAfterMs, and fast again once its subscription broke', async () => {
    const clock = new TimerLog(Date.now());
    const sentinelUrl = `redis+sentinel://127.0.0.1:${(cluster as SentinelCluster).sentinel.port}/${MASTER}/0`;
    const broker = new RedisBroker(sentinelUrl, { clock, pollIntervalMs: 50, quietPollIntervalMs: 1000, quietAfterMs: 5000 });
    try {
      const consumer = broker.consume({ queues: ['paced-sentinel'], prefetch: 4, onDelivery: (d: Delivery) => void d.ack() });
      await subscribed(consumer, 'paced-sentinel');
      // Its wait's timer (fast: 1 ms at first) fires; a next wait is the quiet one, once the
      // subscription is trusted (SUBSCRIBED_AFTER_MS of real time after it was answered).
      let from = clock.lengths.length;
      await waitFor(() => {
        if (clock.lengths.slice(from).includes(1000)) return true;
        clock.advance(5_100);
        return false;
      }, 'the consumer to wait its quiet poll');
      // The wake-up connection dropped by the server: what was published meanwhile is lost, so
      // the consumer fetches at once and polls fast again (a wait of a step of the doubling
      // from 1 ms to pollIntervalMs: none of the broker's other timers is one of those).
      from = clock.lengths.length;
      const clients = String(await (client as RedisClientType).sendCommand(['CLIENT', 'LIST', 'TYPE', 'pubsub']));
      const id = /id=(\d+) [^\n]*name=celeriac-broker-wake/.exec(clients)?.[1];
      expect(id, clients).toBeDefined();
      await (client as RedisClientType).sendCommand(['CLIENT', 'KILL', 'ID', id as string]);
      const fast = [1, 2, 4, 8, 16, 32, 50];
      await waitFor(() => clock.lengths.slice(from).some((ms) => fast.includes(ms)), 'the consumer to poll fast again', LONG);
      expect(clock.lengths.slice(from), 'no quiet wait between the break and the fast one').not.toContain(1000);
      await consumer.close();
    } finally {
      await broker.close();
    }
  });
});
