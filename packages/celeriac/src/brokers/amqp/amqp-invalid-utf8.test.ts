/**
 * One UTF-8 rule for a whole message on RabbitMQ, as on Redis (test/redis/broker/invalid-utf8):
 * a message whose header values, field names, properties or JSON body hold bytes that are not
 * UTF-8 is set aside as bad-encoding with FAILURE stored, never run; amqplib used to replace
 * those header bytes with U+FFFD and the task ran with altered headers. A real U+FFFD runs.
 */
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../../../test/support/amqp-env.js';
import type { App } from '../../core/app.js';
import { createApp } from '../../create-app.js';
import { waitFor } from '../../testing/wait-for.js';
import { echoBody, ECHO_TASK, startEchoWorker, type EchoWorker } from '../../../test/support/echo-worker.js';
import { SET_ASIDE_QUEUE } from './amqp-broker.js';

const ready = await amqpAvailable();

/** Text the publishing connection turns into bytes that are not UTF-8 on the way out (0xFF where the `!` is). */
const MARK = '~NOT!UTF8~';
const MARK_BYTES = Buffer.from(MARK);
MARK_BYTES[MARK.indexOf('!')] = 0xff;

/** A publisher whose socket writes {@link MARK_BYTES} for every {@link MARK}: RabbitMQ passes header and body bytes on as they are. */
async function rawPublisher(url: string): Promise<amqp.ChannelModel> {
  const conn = await amqp.connect(url);
  const stream = (conn as unknown as { connection: { stream: { write: (chunk: unknown, ...rest: unknown[]) => boolean } } }).connection.stream;
  const write = stream.write.bind(stream);
  const mark = Buffer.from(MARK);
  stream.write = (chunk: unknown, ...rest: unknown[]) => {
    if (!Buffer.isBuffer(chunk) || !chunk.includes(mark)) return write(chunk, ...rest);
    const out = Buffer.from(chunk);
    for (let at = out.indexOf(mark); at >= 0; at = out.indexOf(mark, at + 1)) MARK_BYTES.copy(out, at);
    return write(out, ...rest);
  };
  return conn;
}

describe.runIf(ready)('RabbitMQ: bytes that are not UTF-8 in a message', () => {
  let vhost = '';
  let app: App;
  let echo: EchoWorker | undefined;

  beforeAll(async () => {
    vhost = await createVhost('utf8');
    app = createApp({ broker: vhostUrl(vhost), backend: 'memory://', taskDefaultQueue: 'utf8' }, { env: {}, logger: pino({ level: 'silent' }) });
    echo = await startEchoWorker(app, 'utf8');
  });

  afterAll(async () => {
    await echo?.close();
    await deleteVhost(vhost);
  });

  it('sets aside a message with such bytes in a header, a nested header, a property or the body, with FAILURE stored; a real U+FFFD runs', async () => {
    const conn = await rawPublisher(vhostUrl(vhost));
    const ch = await conn.createChannel();
    const send = (word: string, headers: Record<string, unknown>, props: Partial<amqp.Options.Publish> = {}, arg: string = word): string => {
      const id = randomUUID();
      ch.sendToQueue('utf8', echoBody(arg), { contentType: 'application/json', contentEncoding: 'utf-8', correlationId: id, ...props, headers: { lang: 'py', task: ECHO_TASK, id, root_id: id, parent_id: null, group: null, ...headers } });
      return id;
    };
    const bad = {
      header: send('header', { note: `a${MARK}b` }),
      nested: send('nested', { stamps: { seen: [1, `a${MARK}b`] } }),
      name: send('name', { [`n${MARK}`]: 'x' }),
      bytes: send('bytes', { note: Buffer.from([0x61, 0xff, 0x62]) }),
      property: send('property', {}, { replyTo: `r${MARK}` }),
      body: send('body', {}, {}, `a${MARK}b`),
    };
    const real = send('real', { note: 'a\uFFFDb' }, {}, 'real \uFFFD');
    await ch.close();
    await conn.close();

    await waitFor(async () => (await app.backend.get(real))?.status === 'SUCCESS', 'the task with a real U+FFFD to succeed', 20_000);
    for (const [what, id] of Object.entries(bad)) {
      await waitFor(async () => (await app.backend.get(id))?.status === 'FAILURE', `FAILURE for the message with bad bytes in its ${what}`, 20_000);
      expect(await app.backend.get(id), what).toMatchObject({ status: 'FAILURE', result: { exc_type: 'DecodeError' } });
    }
    expect(echo?.runs).toEqual(['real \uFFFD']);

    const reader = await amqp.connect(vhostUrl(vhost));
    try {
      const rc = await reader.createChannel();
      const reasons = new Map<string, string>();
      for (let got = await rc.get(SET_ASIDE_QUEUE, { noAck: true }); got !== false; got = await rc.get(SET_ASIDE_QUEUE, { noAck: true })) {
        reasons.set(String(got.properties.headers?.['id']), String(got.properties.headers?.['x-celeriac-set-aside-reason']));
      }
      expect(reasons.size).toBe(6);
      for (const what of ['header', 'nested', 'name', 'bytes', 'property'] as const) expect(reasons.get(bad[what]), what).toMatch(/^bad-encoding: the message headers are not valid UTF-8/);
      expect(reasons.get(bad.body)).toBe('bad-encoding: Body is not valid UTF-8');
    } finally {
      await reader.close();
    }
  }, 60_000);
});
