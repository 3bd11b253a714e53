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

  async giveBack(): Promise<void> {}
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
    host.plan.push(0, 1);
    const { consumer, delivered } = await started(host, 10);
    consumer.wake();
    await settleLoop();
    expect(delivered).toHaveLength(1);
    expect(host.fetches).toBe(2);
    await consumer.close();
  });

  it('fetches again at once after a full batch', async () => {
    const host = new FakeHost();
    host.plan.push(0, 10);
    const { consumer, delivered } = await started(host, 0);
    consumer.wake();
    await settleLoop();
    expect(delivered).toHaveLength(10);
    expect(host.fetches).toBe(3);
    await consumer.close();
  });

  it('is woken by a settlement only while its window is full', async () => {
    const host = new FakeHost();
    host.plan.push(0, 2);
    const { consumer, delivered } = await started(host, 2);
    consumer.wake();
    await settleLoop();
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
