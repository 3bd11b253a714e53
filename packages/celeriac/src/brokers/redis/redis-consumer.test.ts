import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../testing/fake-clock.js';
import { RedisConsumer, RedisDelivery, type RedisConsumerHost } from './redis-consumer.js';

const POLL_MS = 50;

/** Lets the fetch loop run until it waits again (its steps are promise continuations). */
const settleLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A broker stand-in: each fetch takes the next planned batch size (0 once the plan runs out). */
class FakeHost implements RedisConsumerHost {
  readonly clock = new FakeClock();
  readonly pollIntervalMs = POLL_MS;
  readonly fetchBatchSize = 10;
  readonly plan: number[] = [];
  fetches = 0;
  /** Runs while a fetch is in flight. */
  duringFetch: () => void = () => undefined;
  #seq = 0;

  async fetch(consumer: RedisConsumer, queues: readonly string[], max: number): Promise<RedisDelivery[]> {
    this.fetches++;
    this.duringFetch();
    const n = Math.min(max, this.plan.shift() ?? 0);
    return Array.from({ length: n }, () => {
      const seq = this.#seq++;
      consumer.unsettled++;
      return new RedisDelivery(this, consumer, queues[0] as string, queues[0] as string, '{}', `tag-${seq}`, `token-${seq}`, seq);
    });
  }

  async settle(delivery: RedisDelivery): Promise<void> {
    delivery.consumer.unsettled--;
    delivery.consumer.roomFreed();
  }

  giveBack: (deliveries: readonly RedisDelivery[]) => Promise<void> = () => Promise.resolve();
  queuesChanged(): void {}
  detach(): void {}
}

async function started(host: FakeHost, prefetch: number): Promise<{ consumer: RedisConsumer; delivered: RedisDelivery[] }> {
  const delivered: RedisDelivery[] = [];
  const consumer = new RedisConsumer(host, { queues: ['q'], prefetch, onDelivery: (d) => delivered.push(d as RedisDelivery) });
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

  it('sends the next fetch before it hands out a full batch', async () => {
    const host = new FakeHost();
    host.plan.push(0, 10);
    const fetchesAtDelivery: number[] = [];
    const consumer = new RedisConsumer(host, { queues: ['q'], prefetch: 0, onDelivery: () => fetchesAtDelivery.push(host.fetches) });
    consumer.start();
    await settleLoop();
    consumer.wake();
    await settleLoop();
    await settleLoop();
    expect(fetchesAtDelivery).toEqual(Array.from({ length: 10 }, () => 3));
    expect(host.fetches).toBe(3);
    await consumer.close();
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
    const given: RedisDelivery[] = [];
    host.giveBack = async (deliveries) => {
      given.push(...deliveries);
    };
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const fetch = host.fetch.bind(host);
    host.fetch = async (consumer, queues, max) => {
      if (host.fetches === 2) await held; // the fetch sent ahead (the third) waits
      return fetch(consumer, queues, max);
    };
    const { consumer, delivered } = await woken(host, [0, 10, 4], 0, 2);
    expect(delivered).toHaveLength(10);
    const closed = consumer.close();
    release();
    await closed;
    expect(given).toHaveLength(4);
    expect(delivered).toHaveLength(10);
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
