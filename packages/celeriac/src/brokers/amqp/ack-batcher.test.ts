/**
 * AckBatcher against a recording channel: the acks of one turn leave as one
 * `basic.ack(multiple=true)` when they form a run from the oldest unsettled delivery, one by
 * one otherwise, and never cover a delivery that is still unsettled.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { AckBatcher } from './ack-batcher.js';

function recording(fail = false): { channel: Channel; acks: [number, boolean][] } {
  const acks: [number, boolean][] = [];
  const channel = {
    ack(msg: ConsumeMessage, allUpTo = false) {
      if (fail) throw new Error('Channel closed');
      acks.push([msg.fields.deliveryTag, allUpTo]);
    },
  } as unknown as Channel;
  return { channel, acks };
}

const msg = (tag: number) => ({ fields: { deliveryTag: tag } }) as ConsumeMessage;

function deliver(batcher: AckBatcher, n: number): ConsumeMessage[] {
  const msgs = Array.from({ length: n }, (_, i) => msg(i + 1));
  for (const m of msgs) batcher.delivered(m);
  return msgs;
}

describe('AckBatcher', () => {
  it('sends the acks of one turn as one multiple ack when they run from the oldest delivery', async () => {
    const { channel, acks } = recording();
    const b = new AckBatcher(channel);
    const msgs = deliver(b, 5);
    await Promise.all(msgs.map((m) => b.ack(m)));
    expect(acks).toEqual([[5, true]]);
  });

  it('acks one by one past an unsettled delivery, and never covers it', async () => {
    const { channel, acks } = recording();
    const b = new AckBatcher(channel);
    const [m1, m2, m3, m4] = deliver(b, 4) as [ConsumeMessage, ConsumeMessage, ConsumeMessage, ConsumeMessage];
    await Promise.all([b.ack(m3), b.ack(m2)]);
    expect(acks).toEqual([
      [3, false],
      [2, false],
    ]);
    acks.length = 0;
    // 1 settles: the run 1..3 was sent already but for 1, so 1 goes alone (not multiple).
    await b.ack(m1);
    expect(acks).toEqual([[1, false]]);
    acks.length = 0;
    await b.ack(m4);
    expect(acks).toEqual([[4, false]]);
  });

  it('lets a multiple ack cross deliveries settled otherwise (rejected)', async () => {
    const { channel, acks } = recording();
    const b = new AckBatcher(channel);
    const [m1, m2, m3] = deliver(b, 3) as [ConsumeMessage, ConsumeMessage, ConsumeMessage];
    b.sentOtherwise(m2);
    await Promise.all([b.ack(m1), b.ack(m3)]);
    expect(acks).toEqual([[3, true]]);
  });

  it('batches again once the head moves on, over many turns', async () => {
    const { channel, acks } = recording();
    const b = new AckBatcher(channel);
    const msgs = deliver(b, 3000);
    for (let i = 0; i < 3000; i += 100) await Promise.all(msgs.slice(i, i + 100).map((m) => b.ack(m)));
    expect(acks).toHaveLength(30);
    expect(acks.every(([, multiple]) => multiple)).toBe(true);
    expect(acks.at(-1)).toEqual([3000, true]);
  });

  it('rejects every ack of the turn when the channel refuses them', async () => {
    const { channel } = recording(true);
    const b = new AckBatcher(channel);
    const msgs = deliver(b, 2);
    const results = await Promise.allSettled(msgs.map((m) => b.ack(m)));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});
