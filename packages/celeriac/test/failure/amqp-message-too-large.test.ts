/**
 * A message past RabbitMQ's `max_message_size` (128 MiB by default up to 3.13, 16 MiB from
 * 4.0; the shared server's is not ours to lower, so these messages are just past 128 MiB).
 * RabbitMQ closes the channel with a 406, and the publish fails with a bare "channel closed":
 * a send was retried three times with the whole message and failed as TRANSPORT, and a worker
 * retried storing an `rpc://` result for good while its caller waited. The refusal is now an
 * INVALID_ARGUMENT naming RabbitMQ's reason: the send fails at once, and the worker stores the
 * task's end as a FAILURE instead.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, Worker } from '../../src/index.js';
import { amqpAvailable, createVhost, deleteVhost, listQueues, TEST_AMQP_HOST } from '../support/amqp-env.js';

const ready = await amqpAvailable();
/** Just past 128 MiB of JSON text. */
const TOO_LARGE = 128 * 1024 * 1024 + 1024;
const REFUSED = /RabbitMQ refused .* as too large \(.*message size \d+ is larger than configured max size \d+.*\)/;

describe.runIf(ready)('failure: a message larger than RabbitMQ takes', () => {
  let vhost = '';
  let url = '';

  beforeAll(async () => {
    vhost = await createVhost('toolarge');
    url = `amqp://guest:guest@${TEST_AMQP_HOST}/${encodeURIComponent(vhost)}`;
  }, 60_000);

  afterAll(async () => {
    await deleteVhost(vhost);
  }, 60_000);

  it('a send fails at once with INVALID_ARGUMENT naming the limit, sent once and not retried', async () => {
    const publishes: string[] = [];
    const app = createApp({ broker: url, backend: 'memory://' }, { env: {}, logger: pino({ level: 'warn' }, { write: (line: string) => publishes.push(line) }) });
    const task = app.task('big.send', (text: string) => text.length);
    try {
      const err = (await task.applyAsync(['x'.repeat(TOO_LARGE)], { queue: 'toolarge' }).catch((e: unknown) => e)) as Error & { code?: string };
      expect(err.code).toBe('CELERIAC_ERR_INVALID_ARGUMENT');
      expect(err.message).toMatch(REFUSED);
      // No "broker unreachable ... retry" line: the refusal is not a connection that failed.
      expect(publishes.filter((l) => l.includes('retry'))).toEqual([]);
      // The broker is fine for the next send.
      await task.applyAsync(['small'], { queue: 'toolarge' });
      const listed = await listQueues(vhost, ['messages']);
      expect(listed).toMatch(/toolarge\s+1/);
    } finally {
      await app.close();
    }
  }, 60_000);

  it('an rpc:// result too large is stored as a FAILURE saying so, and the worker goes on', async () => {
    const app = createApp({ broker: url, backend: 'rpc://' }, { env: {}, logger: pino({ level: 'silent' }) });
    const task = app.task('big.result', (n: number) => 'r'.repeat(n));
    const worker = new Worker(app, { concurrency: 1, queues: ['toolarge-rpc'] });
    await worker.start();
    try {
      const big = await task.applyAsync([TOO_LARGE], { queue: 'toolarge-rpc' });
      const err = (await big.get({ timeoutMs: 30_000, propagate: false })) as unknown as Error;
      expect(err.name).toBe('EncodeError');
      expect(err.message).toMatch(REFUSED);
      const next = await task.applyAsync([3], { queue: 'toolarge-rpc' });
      expect(await next.get({ timeoutMs: 30_000 })).toBe('rrr');
    } finally {
      await worker.close();
      await app.close();
    }
  }, 90_000);
});
