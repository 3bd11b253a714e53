/**
 * One UTF-8 rule for a whole message on Redis. A reply is decoded as UTF-8 with bytes that are
 * not UTF-8 replaced by U+FFFD, so such bytes in an envelope's headers used to pass silently
 * (the task ran with altered headers) while the same bytes in its body set the message aside.
 * Now an envelope that holds bytes that are not UTF-8, anywhere, is set aside as a bad body
 * is, with FAILURE stored so its caller's get() ends; a real U+FFFD (valid UTF-8) still runs.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClientType } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../../src/backends/redis/redis-backend.js';
import { RedisBroker } from '../../../src/brokers/redis/redis-broker.js';
import { createApp, type App } from '../../../src/index.js';
import { echoBody, ECHO_TASK, startEchoWorker, type EchoWorker } from '../../support/echo-worker.js';
import { waitFor } from '../../../src/testing/wait-for.js';
import { deletePrefix, newPrefix, prefixedUrl, rawClient, redisAvailable, TEST_REDIS_URL } from './redis-test-env.js';

const available = await redisAvailable();
const prefix = newPrefix();

/** A Celery envelope of task t.echo(word) whose `note` header is `note` (raw bytes). */
function envelope(id: string, note: Buffer, word = 'hi'): Buffer {
  const body = echoBody(word).toString('base64');
  const head = `{"body": "${body}", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"lang": "py", "task": "${ECHO_TASK}", "id": "${id}", "root_id": "${id}", "parent_id": null, "group": null, "note": "`;
  const tail = `"}, "properties": {"correlation_id": "${id}", "reply_to": "", "delivery_mode": 2, "delivery_info": {"exchange": "", "routing_key": "utf8"}, "priority": 0, "body_encoding": "base64", "delivery_tag": "${randomUUID()}"}}`;
  return Buffer.concat([Buffer.from(head), note, Buffer.from(tail)]);
}

describe.skipIf(!available)('Redis: bytes that are not UTF-8 in an envelope', () => {
  let raw: RedisClientType;
  let app: App;
  let echo: EchoWorker | undefined;

  beforeAll(async () => {
    raw = await rawClient();
    app = createApp({ taskDefaultQueue: 'utf8' }, { env: {}, broker: new RedisBroker(prefixedUrl(prefix), { pollIntervalMs: 20 }), backend: new RedisBackend({ url: TEST_REDIS_URL, keyPrefix: prefix }) });
    echo = await startEchoWorker(app, 'utf8');
  });

  afterAll(async () => {
    await echo?.close();
    await deletePrefix(raw, prefix);
    await raw?.close();
  });

  it('sets aside an envelope whose header holds a byte that is not UTF-8, with FAILURE stored; a real U+FFFD runs', async () => {
    const bad = randomUUID();
    const real = randomUUID();
    await raw.lPush(`${prefix}utf8`, envelope(bad, Buffer.from([0x61, 0xff, 0x62]), 'bad'));
    await raw.lPush(`${prefix}utf8`, envelope(real, Buffer.from('a\uFFFDb', 'utf8'), 'real'));
    await waitFor(async () => (await app.backend.get(real))?.status === 'SUCCESS', 'the task with a real U+FFFD to succeed', 10_000);
    await waitFor(async () => (await raw.lLen(`${prefix}celeriac.setaside`)) === 1, 'the set-aside record', 10_000);
    const [record] = (await raw.lRange(`${prefix}celeriac.setaside`, 0, -1)).map((r) => JSON.parse(r) as { reason: string; raw: string });
    expect(record?.reason).toMatch(/^bad-encoding: the envelope is not valid UTF-8/);
    expect(record?.raw).toContain(bad);
    expect(echo?.runs).toEqual(['real']);
    expect(await app.backend.get(bad)).toMatchObject({ status: 'FAILURE', result: { exc_type: 'DecodeError' } });
  });
});
