import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../errors.js';
import { FakeClock } from '../../testing/fake-clock.js';
import { BrokerKeys } from '../../redis/keys.js';
import { Lifecycle } from './lifecycle.js';
import { resolveRedisBrokerOptions } from './options.js';
import { RedisConsumer, type ConsumerDeps, type ConsumerTransitions } from './redis-consumer.js';
import type { RedisDelivery } from './redis-delivery.js';
import type { Held } from './lease-scripts.js';
import type { FetchedMessage } from './transitions.js';
import type { LostFetch } from './lost-fetches.js';

const POLL_MS = 50;

/** Lets the fetch loop run until it waits again (its steps are promise continuations). */
const settleLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Redis stand-in: each fetch takes the next planned batch size (0 once the plan runs out). */
class FakeHost {
  readonly clock = new FakeClock();
  readonly plan: number[] = [];
  fetches = 0;
  /** The room each fetch asked for, in order. */
  readonly rooms: number[] = [];
  /** Runs while a fetch is in flight. */
  duringFetch: () => void = () => undefined;
  /** Awaited before the fetch with this 0-based index replies, and every later one (Redis answers in order). */
  holdFetch: { index: number; until: Promise<void> } | undefined;
  /** Tags restored, in order. */
  readonly restored: string[] = [];
  /** Each fetch's token prefix and the lease expiry it wrote, in order. */
  readonly leases: { prefix: string; expiresAt: number }[] = [];
  /** The failed fetches given to reclaim, in order. */
  readonly reclaimed: LostFetch[] = [];
  #seq = 0;

  readonly transitions: ConsumerTransitions = {
    countStart: async () => true,
    fetch: async (_buckets, _queues, max, nowMs, leaseMs, prefix): Promise<FetchedMessage[]> => {
      const index = this.fetches++;
      this.leases.push({ prefix, expiresAt: nowMs + leaseMs });
      this.rooms.push(max);
      this.duringFetch();
      if (this.holdFetch !== undefined && index >= this.holdFetch.index) await this.holdFetch.until;
      return Array.from({ length: this.plan.shift() ?? 0 }, () => {
        const seq = this.#seq++;
        return { offset: 0, raw: '{}', tag: `tag-${seq}`, token: `token-${seq}`, given: 0 };
      });
    },
    ack: async () => true,
    requeue: async () => true,
    restore: async (held: Held) => {
      this.restored.push(held.tag);
      return true;
    },
    defer: async () => true,
    reclaim: async (fetch) => (this.reclaimed.push(fetch), 0),
    setAside: async () => ({ parked: true, dropped: 0, droppedBytes: 0, firstDropped: '' }),
  };

  readonly deps: ConsumerDeps = {
    keys: new BrokerKeys(),
    options: resolveRedisBrokerOptions({ clock: this.clock, pollIntervalMs: POLL_MS, fetchBatchSize: 10 }),
    transitions: this.transitions,
    wake: { watch: async () => undefined, unwatch: async () => undefined, subscribed: () => true },
    maintenance: { promoteSoon: () => undefined },
    lifecycle: new Lifecycle(),
  };
}

async function started(host: FakeHost, prefetch: number): Promise<{ consumer: RedisConsumer; delivered: RedisDelivery[] }> {
  const delivered: RedisDelivery[] = [];
  const consumer = new RedisConsumer(host.deps, { queues: ['q'], prefetch, onDelivery: (d) => delivered.push(d as RedisDelivery) });
  consumer.start();
  await settleLoop();
  return { consumer, delivered };
}

/**
 * A started consumer whose fetches take `plan` batch sizes in turn (the first, at start, is
 * usually 0), woken once and left to run `turns` turns of the event loop (a full batch is
 * handed out one turn after its reply).
 */
async function woken(host: FakeHost, plan: number[], prefetch: number, turns = 1): Promise<{ consumer: RedisConsumer; delivered: RedisDelivery[] }> {
  host.plan.push(...plan);
  const run = await started(host, prefetch);
  run.consumer.wake();
  for (let i = 0; i < turns; i++) await settleLoop();
  return run;
}

describe('RedisConsumer wait strategy', () => {
  it('fetches at once when woken while it waits for the poll timer', async () => {
    const host = new FakeHost();
    const { consumer } = await started(host, 10);
    expect(host.fetches).toBe(1);
    consumer.wake();
    await settleLoop();
    expect(host.fetches).toBe(2);
    await consumer.close();
  });

  it('remembers a wake-up that came while a fetch was in flight', async () => {
    const host = new FakeHost();
    const { consumer } = await started(host, 10);
    host.duringFetch = () => {
      host.duringFetch = () => undefined;
      consumer.wake();
    };
    consumer.wake();
    await settleLoop();
    expect(host.fetches).toBe(3);
    await consumer.close();
  });

  it('waits after a short batch instead of fetching again at once', async () => {
    const host = new FakeHost();
    const { consumer, delivered } = await woken(host, [0, 1], 10);
    expect(delivered).toHaveLength(1);
    expect(host.fetches).toBe(2);
    await consumer.close();
  });

  /** The fetches sent by the time each delivery of a full batch of 10 (the second fetch's) was handed out, and in all. */
  async function fetchesAhead(prefetch: number): Promise<{ atDelivery: number[]; fetches: number; rooms: number[] }> {
    const host = new FakeHost();
    host.plan.push(0, 10);
    const atDelivery: number[] = [];
    const consumer = new RedisConsumer(host.deps, { queues: ['q'], prefetch, onDelivery: () => atDelivery.push(host.fetches) });
    consumer.start();
    await settleLoop();
    consumer.wake();
    await settleLoop();
    await settleLoop();
    await consumer.close();
    return { atDelivery, fetches: host.fetches, rooms: host.rooms };
  }

  it('sends the next two fetches before it hands out a full batch', async () => {
    // Unbounded window: two ahead (fetches 3 and 4), each for a whole batch.
    const unbounded = await fetchesAhead(0);
    expect(unbounded.atDelivery).toEqual(Array.from({ length: 10 }, () => 4));
    expect(unbounded.fetches).toBe(4);
    expect(unbounded.rooms.slice(1)).toEqual([10, 10, 10]);
    // A window of four batches (-c 100: 400 against batches of 100) has room for both.
    const four = await fetchesAhead(40);
    expect(four.atDelivery).toEqual(Array.from({ length: 10 }, () => 4));
    expect(four.rooms.slice(1)).toEqual([10, 10, 10]);
    // A window of two batches has room for one only, and a window never gets more than its room.
    const two = await fetchesAhead(20);
    expect(two.atDelivery).toEqual(Array.from({ length: 10 }, () => 3));
    expect(two.rooms.slice(1)).toEqual([10, 10]);
    const oneAndAHalf = await fetchesAhead(15);
    expect(oneAndAHalf.rooms.slice(1)).toEqual([10, 5]);
    // The second goes only for a whole batch: with room for half of one, none (small fetches cost more commands per task).
    expect((await fetchesAhead(25)).rooms.slice(1)).toEqual([10, 10]);
    expect((await fetchesAhead(30)).rooms.slice(1)).toEqual([10, 10, 10]);
  });

  it('sends no fetch ahead when the batch filled the prefetch window', async () => {
    const host = new FakeHost();
    const { consumer, delivered } = await woken(host, [0, 10], 10, 2);
    expect(delivered).toHaveLength(10);
    expect(host.fetches).toBe(2);
    await delivered[0]?.ack();
    await settleLoop();
    expect(host.fetches).toBe(3);
    await consumer.close();
  });

  it('gives back what a fetch sent ahead brings once closed, and hands none of it out', async () => {
    const host = new FakeHost();
    let release = (): void => undefined;
    // The fetch sent ahead (the third) waits.
    host.holdFetch = { index: 2, until: new Promise<void>((resolve) => (release = resolve)) };
    const { consumer, delivered } = await woken(host, [0, 10, 4], 0, 2);
    expect(delivered).toHaveLength(10);
    const closed = consumer.close();
    release();
    await closed;
    await consumer.givenBack();
    // Latest first, so the earliest is first in line again.
    expect(host.restored).toEqual(['tag-13', 'tag-12', 'tag-11', 'tag-10']);
    expect(delivered).toHaveLength(10);
    expect(consumer.unsettled).toBe(10);
  });

  /** A consumer of window 4 holding 4 deliveries, its next fetch (index 2, for 1) held in flight after one ack. */
  async function withFetchInFlight(host: FakeHost) {
    let release = (): void => undefined;
    host.holdFetch = { index: 2, until: new Promise<void>((resolve) => (release = resolve)) };
    const run = await woken(host, [0, 4, 1, 2], 4, 2);
    expect(run.delivered).toHaveLength(4);
    await run.delivered[0]?.ack();
    await settleLoop();
    await settleLoop();
    expect(host.rooms).toEqual([4, 4, 1]);
    return { ...run, release };
  }

  it('sends a second fetch while one is in flight once half its window is free, never past the window', async () => {
    const host = new FakeHost();
    const { consumer, delivered, release } = await withFetchInFlight(host);
    await delivered[1]?.ack();
    expect(host.rooms).toEqual([4, 4, 1]); // a quarter free: the fetch out is enough
    await delivered[2]?.ack();
    expect(host.rooms).toEqual([4, 4, 1, 2]); // half free, the first still unanswered
    await delivered[3]?.ack();
    expect(host.fetches).toBe(4); // never a third
    release();
    await settleLoop();
    await settleLoop();
    await settleLoop();
    // Handed out in the order fetched, and the window (4) holds them all.
    expect(delivered.map((d) => d.tag)).toEqual(['tag-0', 'tag-1', 'tag-2', 'tag-3', 'tag-4', 'tag-5', 'tag-6']);
    expect(consumer.held()).toHaveLength(3);
    await consumer.close();
  });

  it('gives back what both fetches in flight bring once closed, the latest first', async () => {
    const host = new FakeHost();
    const { consumer, delivered, release } = await withFetchInFlight(host);
    await delivered[1]?.ack();
    await delivered[2]?.ack();
    expect(host.fetches).toBe(4);
    const closed = consumer.close();
    release();
    await closed;
    await consumer.givenBack();
    expect(host.restored).toEqual(['tag-6', 'tag-5', 'tag-4']);
    expect(delivered).toHaveLength(4);
  });

  it('when Redis drops both fetches in flight, reports each, backs off, fetches the room again, and gives back what they may have taken', async () => {
    const host = new FakeHost();
    const fetch = host.transitions.fetch;
    host.transitions.fetch = async (...args) => {
      const index = host.fetches;
      const got = await fetch(...args);
      if (index === 2 || index === 3) throw Object.assign(new Error('Socket closed unexpectedly'), { name: 'SocketClosedUnexpectedlyError' });
      return got;
    };
    const errors: (number | undefined)[] = [];
    let release = (): void => undefined;
    host.holdFetch = { index: 2, until: new Promise<void>((resolve) => (release = resolve)) };
    host.plan.push(0, 4, 1, 2, 3);
    const delivered: RedisDelivery[] = [];
    const consumer = new RedisConsumer(host.deps, {
      queues: ['q'], prefetch: 4, onDelivery: (d) => delivered.push(d as RedisDelivery),
      onError: (_err, retry) => errors.push(retry?.inMs),
    });
    consumer.start();
    await settleLoop();
    consumer.wake();
    await settleLoop();
    await settleLoop();
    await delivered[0]?.ack();
    await settleLoop();
    await settleLoop();
    await delivered[1]?.ack();
    await delivered[2]?.ack();
    expect(host.rooms).toEqual([4, 4, 1, 2]);
    release();
    await settleLoop();
    await settleLoop();
    // One report per failed fetch, the second waiting longer; nothing handed out meanwhile.
    expect(errors).toHaveLength(1);
    await host.clock.advance(errors[0] ?? 0);
    await settleLoop();
    expect(errors).toHaveLength(2);
    expect(errors[1]).toBeGreaterThanOrEqual(100);
    expect(delivered).toHaveLength(4);
    await host.clock.advance(errors[1] ?? 0);
    await settleLoop();
    await settleLoop();
    // The room the failed fetches had asked for is free again: the next fetch asks for all of it.
    expect(host.rooms.at(-1)).toBe(3);
    expect(delivered.map((d) => d.tag).slice(4)).toEqual(['tag-7', 'tag-8', 'tag-9']);
    // Their replies lost, both may have taken messages in Redis: once a fetch worked, each is
    // given to reclaim by its token prefix and lease expiry (lost-fetches.ts).
    expect(host.reclaimed.map((f) => ({ prefix: f.prefix, expiresAt: f.expiresAt }))).toEqual([host.leases[2], host.leases[3]]);
    expect(host.reclaimed[0]).toMatchObject({ queues: ['q'], buckets: host.deps.keys.buckets('q') });
    await consumer.close();
  });

  it('is woken by a settlement only while its window is full', async () => {
    const host = new FakeHost();
    const { consumer, delivered } = await woken(host, [0, 2], 2);
    expect(delivered).toHaveLength(2);
    expect(host.fetches).toBe(2);
    await delivered[0]?.ack(); // the window was full: room again, so it fetches
    await settleLoop();
    expect(host.fetches).toBe(3);
    await delivered[1]?.ack(); // room to spare and the queue just found empty: nothing to do
    await settleLoop();
    expect(host.fetches).toBe(3);
    await consumer.close();
  });

  it('frees room in the window when a settlement is sent, before Redis answers it', async () => {
    const host = new FakeHost();
    // Redis never answers an ack: the delivery stays held, but its task is done.
    host.transitions.ack = () => new Promise<boolean>(() => undefined);
    const { consumer, delivered } = await woken(host, [0, 2, 1], 2);
    expect(host.fetches).toBe(2);
    void delivered[0]?.ack();
    await settleLoop();
    await settleLoop();
    expect(host.fetches).toBe(3);
    expect(host.rooms[2]).toBe(1);
    expect(delivered).toHaveLength(3);
    expect(consumer.unsettled).toBe(3);
    expect(consumer.held()).toHaveLength(2);
    await consumer.close();
  });

  it('sizes the fetch after every settlement of the turn, not the first one', async () => {
    const host = new FakeHost();
    host.transitions.ack = () => new Promise<boolean>(() => undefined);
    const { consumer, delivered } = await woken(host, [0, 4, 4], 4);
    expect(host.fetches).toBe(2);
    // As a pool's tasks start in one turn: each ack a few promise steps after the last.
    for (const d of delivered) {
      void d.ack();
      await Promise.resolve();
      await Promise.resolve();
    }
    await settleLoop();
    await settleLoop();
    expect(host.rooms).toEqual([4, 4, 4]);
    await consumer.close();
  });

  it('polls again 1 ms after a poll found messages (a producer that sends no wake-ups)', async () => {
    const host = new FakeHost();
    host.plan.push(0, 1);
    const { consumer } = await started(host, 10);
    host.clock.advance(1);
    await settleLoop();
    expect(host.fetches).toBe(2);
    host.clock.advance(1);
    await settleLoop();
    expect(host.fetches).toBe(3);
    await consumer.close();
  });

  it('does not speed polling up for messages a wake-up announced', async () => {
    const host = new FakeHost();
    host.plan.push(0, 1);
    const { consumer } = await started(host, 10);
    consumer.wake();
    await settleLoop();
    expect(host.fetches).toBe(2);
    host.clock.advance(1);
    await settleLoop();
    expect(host.fetches).toBe(2);
    await consumer.close();
  });

  it('never polls less often than pollIntervalMs', async () => {
    const host = new FakeHost();
    const { consumer } = await started(host, 10);
    for (let i = 2; i <= 12; i++) {
      host.clock.advance(POLL_MS);
      await settleLoop();
      expect(host.fetches).toBe(i);
    }
    await consumer.close();
  });
});

describe('RedisConsumer settlements', () => {
  it('holds each fetched delivery until it is settled, and refuses a second settlement', async () => {
    const host = new FakeHost();
    const { consumer, delivered } = await woken(host, [0, 2], 10);
    expect(consumer.unsettled).toBe(2);
    await delivered[0]?.ack();
    expect(consumer.unsettled).toBe(1);
    await expect(delivered[0]?.ack()).rejects.toMatchObject({ code: 'CELERIAC_ERR_STATE' });
    await expect(delivered[0]?.reject({ requeue: true })).rejects.toMatchObject({ code: 'CELERIAC_ERR_STATE' });
    expect(consumer.unsettled).toBe(1);
    await consumer.close();
  });

  it('refuses settlements once the broker closes', async () => {
    const host = new FakeHost();
    const { consumer, delivered } = await woken(host, [0, 1], 10);
    await consumer.close();
    host.deps.lifecycle.state = 'closing';
    await expect(delivered[0]?.ack()).rejects.toThrow(/RedisBroker\.ack: the broker is closed/);
  });

  it('an ack whose lease was lost fails with LEASE_LOST (not STATE: it was not settled twice) and still frees its room in the window', async () => {
    const host = new FakeHost();
    host.transitions.ack = async () => false;
    const { consumer, delivered } = await woken(host, [0, 1], 1);
    expect(host.fetches).toBe(2);
    await expect(delivered[0]?.ack()).rejects.toMatchObject({ code: ErrorCodes.LEASE_LOST, message: expect.stringMatching(/lease of delivery tag-0 was lost/) });
    expect(consumer.unsettled).toBe(0);
    await settleLoop();
    expect(host.fetches).toBe(3);
    await consumer.close();
  });

  it('a requeue whose lease was lost is not an error: the message is delivered again anyway', async () => {
    const host = new FakeHost();
    host.transitions.requeue = async () => false;
    const { consumer, delivered } = await woken(host, [0, 1], 10);
    await delivered[0]?.reject({ requeue: true });
    expect(consumer.unsettled).toBe(0);
    await consumer.close();
  });

  it('a settlement that fails for want of Redis is retried, its lease kept, until Redis answers', async () => {
    const host = new FakeHost();
    let down = true;
    let calls = 0;
    host.transitions.ack = async () => {
      calls += 1;
      if (down) throw new Error('connection lost');
      return true;
    };
    const { consumer, delivered } = await woken(host, [0, 1], 10);
    let settled = false;
    const acked = delivered[0]!.ack().then(() => void (settled = true));
    await flushMicrotasks();
    // Still held, its lease renewed with the others', and not settled twice.
    expect(consumer.unsettled).toBe(1);
    expect(consumer.held().map((d) => d.tag)).toEqual([delivered[0]!.tag]);
    await expect(delivered[0]!.ack()).rejects.toMatchObject({ code: 'CELERIAC_ERR_STATE' });
    host.clock.advance(50);
    await flushMicrotasks();
    expect(calls).toBe(2);
    expect(settled).toBe(false);
    down = false;
    host.clock.advance(100);
    await acked;
    expect(calls).toBe(3);
    expect(consumer.unsettled).toBe(0);
    await consumer.close();
  });

  it('gives a failing settlement up after twice recoverAfterSec, as a transport error, and frees the window', async () => {
    const host = new FakeHost();
    host.transitions.ack = async () => {
      throw new Error('connection lost');
    };
    const { consumer, delivered } = await woken(host, [0, 1], 10);
    const acked = delivered[0]!.ack();
    acked.catch(() => undefined);
    for (let i = 0; i < 130 && consumer.unsettled > 0; i++) {
      host.clock.advance(1000);
      await flushMicrotasks();
    }
    await expect(acked).rejects.toMatchObject({ code: 'CELERIAC_ERR_TRANSPORT' });
    expect(consumer.unsettled).toBe(0);
    await consumer.close();
  });
});

/** Lets pending promise callbacks run (a few turns: settlements chain several awaits). */
async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

describe('RedisConsumer after failed fetches', () => {
  it('waits longer after each failure, whatever wakes it, tells onError when it retries and onRecovered once it works', async () => {
    const host = new FakeHost();
    let failuresLeft = 5;
    const fetch = host.transitions.fetch;
    host.transitions.fetch = async (...args) => {
      if (failuresLeft > 0) {
        failuresLeft--;
        host.fetches++;
        throw Object.assign(new Error("OOM command not allowed when used memory > 'maxmemory'."), { name: 'SimpleError' });
      }
      return fetch(...args);
    };
    const errors: { message: string; inMs: number | undefined }[] = [];
    let recovered = 0;
    const consumer = new RedisConsumer(host.deps, {
      queues: ['q'], prefetch: 10, onDelivery: () => undefined,
      onError: (err, retry) => errors.push({ message: err.message, inMs: retry?.inMs }),
      onRecovered: () => recovered++,
    });
    consumer.start();
    await settleLoop();
    for (let i = 0; i < 5; i++) {
      const fetches = host.fetches;
      const waitMs = errors.at(-1)?.inMs ?? 0;
      // Wake-ups (a publish during the outage) do not bring the next try forward.
      consumer.wake();
      await host.clock.advance(Math.max(0, waitMs - 1));
      await settleLoop();
      expect(host.fetches).toBe(fetches);
      await host.clock.advance(1);
      await settleLoop();
      expect(host.fetches).toBe(fetches + 1);
    }
    expect(errors).toHaveLength(5);
    expect(errors[0]?.message).toMatch(/^Redis error during fetch from q: OOM/);
    const waits = errors.map((e) => e.inMs ?? -1);
    // 100 ms doubling with equal jitter: each wait within [d/2, d].
    waits.forEach((w, i) => {
      expect(w).toBeGreaterThanOrEqual(50 * 2 ** i);
      expect(w).toBeLessThanOrEqual(100 * 2 ** i);
    });
    await settleLoop();
    expect(recovered).toBe(1);
    await consumer.close();
  });

  it('closes at once while it waits after a failure, giving back what the failed fetch may have taken', async () => {
    const host = new FakeHost();
    host.transitions.fetch = async () => {
      throw new Error('LOADING Redis is loading the dataset in memory');
    };
    const consumer = new RedisConsumer(host.deps, { queues: ['q'], prefetch: 10, onDelivery: () => undefined });
    consumer.start();
    await settleLoop();
    expect(host.reclaimed).toHaveLength(0);
    await consumer.close();
    expect(consumer.done).toBe(true);
    expect(host.reclaimed.map((f) => f.prefix)).toEqual([`${consumer.id}:0`]);
  });
});
