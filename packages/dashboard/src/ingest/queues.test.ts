/**
 * BrokerQueueReader (queues.ts) against a fake broker: counts go one after the other, a call
 * made while a poll of the same queues is in flight shares it (no pile-up behind a slow
 * broker), and each queue's age is read at most once per poll period, only when it has messages.
 */
import { describe, expect, it } from 'vitest';
import type { Broker } from 'celeriac/spi';
import { BrokerQueueReader } from './queues.js';

/** A broker whose counts answer when `release()` is called; `ages` plays the queue-age role. */
function fakeBroker(counts: Record<string, number>) {
  const calls: string[] = [];
  const ageCalls: string[] = [];
  let release: () => void = () => undefined;
  let gate = new Promise<void>((resolve) => (release = resolve));
  let inFlight = 0;
  let most = 0;
  const broker = {
    queueLength: async (q: string) => {
      calls.push(q);
      most = Math.max(most, ++inFlight);
      await gate;
      inFlight--;
      return counts[q] ?? 0;
    },
    queueWaitingSince: async (q: string) => {
      ageCalls.push(q);
      return 1000;
    },
  } as unknown as Broker;
  return {
    broker,
    calls,
    ageCalls,
    most: () => most,
    open: () => {
      release();
      gate = Promise.resolve();
    },
  };
}

describe('BrokerQueueReader', () => {
  it('counts one queue after the other, and a second call during a poll gets that poll', async () => {
    const f = fakeBroker({ a: 2, b: 0 });
    const reader = new BrokerQueueReader(f.broker, 60_000);
    const first = reader.lengths(['a', 'b']);
    const second = reader.lengths(['a', 'b']);
    expect(second).toBe(first);
    f.open();
    expect(await first).toEqual([
      { name: 'a', messages: 2, priorities: null, waitingSince: 1000 },
      { name: 'b', messages: 0, priorities: null, waitingSince: null },
    ]);
    expect(f.calls).toEqual(['a', 'b']);
    expect(f.most()).toBe(1);
    // Only the queue with messages was read, once; within the poll period it is not read again.
    await reader.lengths(['a', 'b']);
    expect(f.ageCalls).toEqual(['a']);
  });

  it('a call for other queues waits for the poll in flight', async () => {
    const f = fakeBroker({ a: 1, c: 1 });
    const reader = new BrokerQueueReader(f.broker, 0);
    const first = reader.lengths(['a']);
    const other = reader.lengths(['c']);
    expect(other).not.toBe(first);
    f.open();
    expect((await other)[0]).toMatchObject({ name: 'c', messages: 1 });
    expect(f.calls).toEqual(['a', 'c']);
    expect(f.most()).toBe(1);
  });

  it('a broker without the queue-age role tells no age', async () => {
    const f = fakeBroker({ a: 3 });
    f.open();
    const { queueWaitingSince: _, ...plain } = f.broker as unknown as Record<string, unknown>;
    expect(await new BrokerQueueReader(plain as unknown as Broker).lengths(['a'])).toEqual([{ name: 'a', messages: 3, priorities: null, waitingSince: null }]);
  });
});
