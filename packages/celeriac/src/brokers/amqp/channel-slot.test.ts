/**
 * Operations sharing one channel (amqp/session.ts ChannelSlot): a sibling's 404 closes the
 * channel, and amqplib fails whatever was sent after it with "Channel ended, no reply will be
 * forthcoming". `runIdempotent` makes such an operation (a purge, a declare) once more on a new
 * channel; `run` lets the failure go up. Seen as a dashboard purge answering 503 while a
 * passive declare of a missing queue shared its channel. A vhost of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../../../test/support/amqp-env.js';
import { AmqpSession, ChannelSlot } from '../../amqp/session.js';
import { parseAmqpUrls } from '../../amqp/url.js';

const ready = await amqpAvailable();

describe.runIf(ready)('a channel slot shared by operations', () => {
  let vhost = '';
  let session: AmqpSession;
  let slot: ChannelSlot;
  beforeAll(async () => {
    vhost = await createVhost('channel-slot');
    session = new AmqpSession(parseAmqpUrls(vhostUrl(vhost)), { log: () => undefined });
    slot = new ChannelSlot(session, false);
    await slot.run((ch) => ch.assertQueue('slot-q', { durable: false }));
  }, 60_000);
  afterAll(async () => {
    await slot.close();
    await session.close();
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

  it('run lets that failure go up, and its own 404 too', async () => {
    await fill(2);
    const missing = slot.run((ch) => ch.checkQueue('slot-no-such-queue'));
    const purged = slot.run((ch) => ch.purgeQueue('slot-q'));
    await expect(missing).rejects.toMatchObject({ code: 404 });
    await expect(purged).rejects.toThrow(/^Channel (ended|closed)/);
    await expect(slot.runIdempotent((ch) => ch.checkQueue('slot-no-such-queue'))).rejects.toMatchObject({ code: 404 });
    expect((await slot.runIdempotent((ch) => ch.purgeQueue('slot-q'))).messageCount).toBe(2);
  }, 30_000);
});
