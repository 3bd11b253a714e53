/**
 * Operations on RabbitMQ share the broker's admin channel (declarations.ts, amqp/session.ts
 * ChannelSlot): one refused with a 404 or 406 (a missing queue, a queue that exists with other
 * arguments) closes that channel, and amqplib fails whatever was sent after it with "Channel
 * ended, no reply will be forthcoming". That must not fail the declarations sent beside it, nor
 * a purge (seen as a dashboard purge answering 503): `runIdempotent` makes such an operation
 * once more on a new channel, `run` lets the failure go up. A vhost of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../../../test/support/amqp-env.js';
import { ChannelSlot } from '../../amqp/channel-slot.js';
import { AmqpSession } from '../../amqp/session.js';
import { parseAmqpUrls } from '../../amqp/url.js';
import { CLASSIC_TOPOLOGY } from '../../core/queue-topology.js';
import { AmqpBroker } from './amqp-broker.js';

const ready = await amqpAvailable();

describe.runIf(ready)('amqp operations beside a refused one on a shared channel', () => {
  let vhost = '';
  let prioritised: AmqpBroker;
  let plain: AmqpBroker;
  let session: AmqpSession;
  let slot: ChannelSlot;
  beforeAll(async () => {
    vhost = await createVhost('declare-concurrent');
    prioritised = new AmqpBroker(vhostUrl(vhost), { log: () => undefined, queues: CLASSIC_TOPOLOGY, queueMaxPriority: 10 });
    plain = new AmqpBroker(vhostUrl(vhost), { log: () => undefined, queues: CLASSIC_TOPOLOGY });
    await prioritised.declareQueue('with-priority');
    session = new AmqpSession(parseAmqpUrls(vhostUrl(vhost)), { log: () => undefined });
    slot = new ChannelSlot(session, false);
    await slot.run((ch) => ch.assertQueue('slot-q', { durable: false }));
  }, 60_000);
  afterAll(async () => {
    await prioritised?.close();
    await plain?.close();
    await slot?.close();
    await session?.close();
    await deleteVhost(vhost);
  }, 60_000);

  const fill = async (n: number) => {
    for (let i = 0; i < n; i++) await slot.run(async (ch) => ch.sendToQueue('slot-q', Buffer.from(`m${i}`)));
    await expect.poll(async () => (await slot.run((ch) => ch.checkQueue('slot-q'))).messageCount).toBe(n);
  };

  it('runIdempotent makes a purge again when a sibling 404 ended the channel under it', async () => {
    await fill(3);
    const missing = slot.run((ch) => ch.checkQueue('slot-no-such-queue'));
    const purged = slot.runIdempotent((ch) => ch.purgeQueue('slot-q'));
    await expect(missing).rejects.toMatchObject({ code: 404 });
    expect((await purged).messageCount).toBe(3);
  }, 30_000);

  it('run lets that failure go up, and runIdempotent its own 404', async () => {
    await fill(2);
    const missing = slot.run((ch) => ch.checkQueue('slot-no-such-queue'));
    const purged = slot.run((ch) => ch.purgeQueue('slot-q'));
    await expect(missing).rejects.toMatchObject({ code: 404 });
    await expect(purged).rejects.toThrow(/^Channel (ended|closed)/);
    await expect(slot.runIdempotent((ch) => ch.checkQueue('slot-no-such-queue'))).rejects.toMatchObject({ code: 404 });
    expect((await slot.runIdempotent((ch) => ch.purgeQueue('slot-q'))).messageCount).toBe(2);
  }, 30_000);

  it('a 406 fails its own declaration only', async () => {
    const others = Array.from({ length: 20 }, (_, i) => `beside-${i}`);
    const settled = await Promise.allSettled([plain.declareQueue('with-priority'), ...others.map((q) => plain.declareQueue(q))]);
    expect(settled[0]?.status).toBe('rejected');
    expect(String((settled[0] as PromiseRejectedResult).reason)).toMatch(/PRECONDITION_FAILED|inequivalent/);
    expect(settled.slice(1).map((s) => (s.status === 'fulfilled' ? 'ok' : String((s as PromiseRejectedResult).reason)))).toEqual(others.map(() => 'ok'));
    for (const q of others) expect(await plain.queueLength(q)).toBe(0);
  }, 60_000);
});
