/**
 * The socket of an AMQP session (amqp/session.ts) has Nagle's algorithm off, as py-amqp's
 * (TCP_NODELAY): amqplib leaves it on unless told, and a turn's frames, already sent in one
 * writev, would otherwise wait for RabbitMQ to acknowledge the previous turn's. A vhost of its own.
 */
import { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../../../test/support/amqp-env.js';
import { AmqpSession } from '../../amqp/session.js';
import { parseAmqpUrls } from '../../amqp/url.js';

const ready = await amqpAvailable();

describe.runIf(ready)('amqp session socket', () => {
  let vhost = '';
  beforeAll(async () => {
    vhost = await createVhost('session-socket');
  }, 60_000);
  afterAll(async () => {
    await deleteVhost(vhost);
  }, 60_000);

  it('turns Nagle off on the connection it opens', async () => {
    const spy = vi.spyOn(Socket.prototype, 'setNoDelay');
    const session = new AmqpSession(parseAmqpUrls(vhostUrl(vhost)), { log: () => undefined });
    try {
      const model = await session.connection();
      const stream = (model as unknown as { connection: { stream: Socket } }).connection.stream;
      const calls = spy.mock.contexts.map((ctx, i) => [ctx === stream, spy.mock.calls[i]?.[0]]).filter(([mine]) => mine === true);
      expect(calls.at(-1)).toEqual([true, true]);
    } finally {
      spy.mockRestore();
      await session.close();
    }
  }, 30_000);
});
