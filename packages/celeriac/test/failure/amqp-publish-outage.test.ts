/**
 * A send while RabbitMQ is unreachable: operations wait for the lost connection at most
 * `connectWaitMs` counted from when it went down, not `connectWaitMs` each. Before, every
 * attempt of every send waited the whole 30 s: a send to a RabbitMQ gone for good failed after
 * 120 s. Through a FaultProxy whose every connection is closed (a server gone away).
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { createApp, type App } from '../../src/index.js';
import { PublishError } from '../../src/core/publish-retry.js';
import { amqpAvailable, createVhost, deleteVhost, TEST_AMQP_HOST } from '../support/amqp-env.js';
import { FaultProxy } from '../support/fault-proxy.js';

const ready = await amqpAvailable();

describe.runIf(ready)('failure: sends while RabbitMQ is unreachable', () => {
  let vhost = '';
  let app: App;
  const proxy = new FaultProxy(Number(TEST_AMQP_HOST.split(':')[1] ?? 5672));

  beforeAll(async () => {
    vhost = await createVhost('outage');
    await proxy.start();
    app = createApp(
      {
        broker: `amqp://guest:guest@127.0.0.1:${proxy.port}/${encodeURIComponent(vhost)}`, backend: 'memory://',
        brokerTransportOptions: { connectWaitMs: 2000 }, taskPublishRetryPolicy: { maxRetries: 3, intervalStart: 0, intervalStep: 0.05, intervalMax: 0.05 },
      },
      { env: {}, logger: pino({ level: 'silent' }) },
    );
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await proxy.close();
    await deleteVhost(vhost);
  }, 60_000);

  it('fail within their retry intervals once the connection has been down for connectWaitMs, and land once it is back', async () => {
    await app.sendTask('out.task', [0], {}, { queue: 'outage' });
    proxy.cut();
    await waitFor(() => (app.broker.offline?.() === true ? true : undefined), 'the connection known to be down', 10_000);
    const timed = async (n: number) => {
      const started = performance.now();
      const err = await app.sendTask('out.task', [n], {}, { queue: 'outage' }).then(() => null, (e: unknown) => e);
      return { err, ms: performance.now() - started };
    };
    // The first send of the outage waits for what is left of connectWaitMs (four attempts took 8 s).
    const first = await timed(1);
    expect(first.err).toBeInstanceOf(PublishError);
    expect(first.ms).toBeLessThan(4000);
    const later = await timed(2);
    expect(later.err).toBeInstanceOf(PublishError);
    expect(later.ms).toBeLessThan(1500);
    expect((later.err as Error).message).toMatch(/after 4 attempts \(retryPolicy spent\): RabbitMQ at 127\.0\.0\.1:\d+ vhost "[^"]+" unreachable for 2000 ms: /);
    proxy.heal();
    // Back within a reconnect (at most 2 s apart): sends land again.
    await waitFor(async () => app.sendTask('out.task', [3], {}, { queue: 'outage' }).then(() => true, () => undefined), 'a send after the heal', 10_000);
    await waitFor(async () => ((await app.broker.queueLength('outage')) >= 2 ? true : undefined), 'the sends queued', 10_000);
  }, 60_000);
});
