import type { Channel, ConsumeMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import type { Held } from './amqp-delivery.js';
import { ORPHAN_MEMORY_MS, SettlementMemory, uncertainWindowMs, UNCERTAIN_SETTLEMENT_MS } from './settlement-memory.js';

/** A delivery of a message of its own (its correlation id and body), on `channel`. */
function held(n: number, channel: Channel, bytes = 0): Held {
  const content = bytes === 0 ? Buffer.from(`body ${n}`) : Buffer.alloc(bytes, n % 256);
  const msg = { content, properties: { correlationId: `id-${n}` }, fields: { deliveryTag: n } } as unknown as ConsumeMessage;
  return { msg, channel, queue: 'q' };
}

/** The same message delivered again on another channel. */
const again = (h: Held, channel: Channel): Held => ({ ...h, channel });

const ACK = { kind: 'ack' } as const;

describe('uncertainWindowMs', () => {
  it('lasts as long as a silent link goes unnoticed: three heartbeat intervals, plus 5 s; with no heartbeat, for ever', () => {
    expect(uncertainWindowMs(5)).toBe(20_000);
    expect(uncertainWindowMs(120)).toBe(365_000);
    expect(uncertainWindowMs(0)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('SettlementMemory', () => {
  const dead = {} as Channel;
  const next = {} as Channel;

  it('keeps for a redelivery what was sent within the window before the channel died, not what was sent before it', () => {
    let now = 1_000_000;
    const memory = new SettlementMemory({ now: () => now }, () => uncertainWindowMs(5));
    const early = held(1, dead);
    const late = held(2, dead);
    memory.noteSent(early, ACK);
    now += 1000;
    memory.noteSent(late, ACK);
    // The link died silently; the worker notices 19.5 s after the second ack, 20.5 s after the first.
    now += 19_500;
    memory.keepUncertain(dead);
    expect(memory.take(again(late, next))).toEqual(ACK);
    expect(memory.take(again(early, next))).toBeUndefined();
    // Taken once.
    expect(memory.take(again(late, next))).toBeUndefined();
  });

  it('with the default window (5 s), as before', () => {
    let now = 0;
    const memory = new SettlementMemory({ now: () => now });
    const h = held(1, dead);
    memory.noteSent(h, ACK);
    now += UNCERTAIN_SETTLEMENT_MS + 1;
    memory.keepUncertain(dead);
    expect(memory.take(again(h, next))).toBeUndefined();
  });

  it('with heartbeats off, keeps what the channel sent last however long ago, up to its count and ORPHAN_MEMORY_MS', () => {
    let now = 0;
    const memory = new SettlementMemory({ now: () => now }, () => uncertainWindowMs(0));
    const [recent, old] = [held(1, dead), held(2, dead)];
    memory.noteSent(old, ACK);
    now += ORPHAN_MEMORY_MS / 2;
    memory.noteSent(recent, ACK);
    now += ORPHAN_MEMORY_MS / 2 + 1;
    memory.keepUncertain(dead);
    expect(memory.take(again(recent, next))).toEqual(ACK);
    expect(memory.take(again(old, next))).toBeUndefined();
  });

  it('remembers a bounded number of settlements, the newest, however often channels die', () => {
    let now = 0;
    const memory = new SettlementMemory({ now: () => now }, () => uncertainWindowMs(0));
    const all: Held[] = [];
    // Ten channels die one after the other, each with 4,096 settlements sent on it.
    for (let c = 0; c < 10; c++) {
      const channel = {} as Channel;
      for (let i = 0; i < 4096; i++) {
        const h = held(c * 4096 + i, channel);
        all.push(h);
        memory.noteSent(h, ACK);
        now++;
      }
      memory.keepUncertain(channel);
    }
    const kept = all.filter((h) => memory.take(again(h, next)) !== undefined);
    expect(kept.length).toBe(4 * 4096);
    expect(kept[0]).toBe(all[all.length - 4 * 4096]);
  });

  it('holds at most 16 MiB of recent messages, the newest: each settlement keeps its message\'s body', () => {
    let now = 0;
    const memory = new SettlementMemory({ now: () => now }, () => uncertainWindowMs(120));
    const big = Array.from({ length: 100 }, (_, i) => held(i, dead, 1024 * 1024 - 1));
    for (const h of big) {
      memory.noteSent(h, ACK);
      now++;
    }
    memory.keepUncertain(dead);
    const kept = big.filter((h) => memory.take(again(h, next)) !== undefined);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThanOrEqual(16);
    expect(kept.at(-1)).toBe(big.at(-1));
  });
});
