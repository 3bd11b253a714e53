import { describe, expect, it } from 'vitest';
import type { AmqpBroker } from './brokers/amqp/amqp-broker.js';
import { RedisBroker } from './brokers/redis/redis-broker.js';
import { FakeClock } from './testing/fake-clock.js';
import { CeleriacError, ErrorCodes } from './errors.js';
import { createApp } from './index.js';

describe('brokerTransportOptions', () => {
  it('reach the Redis broker, with kombu\'s visibility_timeout name', async () => {
    const app = createApp(
      { broker: 'redis://127.0.0.1:6379/0', brokerTransportOptions: { visibility_timeout: 7200, recoverAfterSec: 30, fetchBatchSize: 10 } },
      { env: {} },
    );
    const broker = app.broker as RedisBroker;
    expect(broker).toBeInstanceOf(RedisBroker);
    expect(broker.options.visibilityTimeoutMs).toBe(7_200_000);
    expect(broker.options.recoverAfterMs).toBe(30_000);
    await app.close();
  });

  it('come from CELERY_BROKER_TRANSPORT_OPTIONS as JSON', async () => {
    const app = createApp({ broker: 'redis://127.0.0.1:6379/0' }, { env: { CELERY_BROKER_TRANSPORT_OPTIONS: '{"visibility_timeout": 60}' } });
    expect((app.broker as RedisBroker).options.visibilityTimeoutMs).toBe(60_000);
    await app.close();
  });

  it('reject unknown names, naming the known ones', () => {
    const app = createApp({ broker: 'redis://127.0.0.1:6379/0', brokerTransportOptions: { visibilityTimeout: 1 } }, { env: {} });
    let caught: unknown;
    try {
      void app.broker;
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CeleriacError);
    expect((caught as CeleriacError).code).toBe(ErrorCodes.CONFIG);
    expect((caught as Error).message).toMatch(/Unknown Redis broker transport option "visibilityTimeout"; known: master_name, visibility_timeout/);
  });

  it('RabbitMQ: lostTaskGraceSec is let through (the worker reads it), other unknown names are refused', async () => {
    const app = createApp({ broker: 'amqp://guest:guest@127.0.0.1:5672//', brokerTransportOptions: { lostTaskGraceSec: 5, connectionName: 'x' } }, { env: {} });
    expect(app.broker.kind).toBe('amqp');
    await app.close();
    const bad = createApp({ broker: 'amqp://guest:guest@127.0.0.1:5672//', brokerTransportOptions: { visibility_timeout: 5 } }, { env: {} });
    expect(() => bad.broker).toThrow(/Unknown RabbitMQ broker transport option "visibility_timeout"; known: .*lostTaskGraceSec/);
  });

  it("RabbitMQ: the broker reads due times on the app's clock", async () => {
    const clock = new FakeClock(Date.parse('2030-01-01T00:00:00Z'));
    const app = createApp({ broker: 'amqp://guest:guest@127.0.0.1:5672//' }, { env: {}, clock });
    expect((app.broker as AmqpBroker).clock).toBe(clock);
    await app.close();
  });

  it('must be an object', () => {
    expect(() => createApp({ brokerTransportOptions: [] as never }, { env: {} })).toThrow(/brokerTransportOptions: must be an object/);
  });
});
