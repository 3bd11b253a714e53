import { describe, expect, it } from 'vitest';
import type { AmqpBroker } from './brokers/amqp/amqp-broker.js';
import { RedisBroker } from './brokers/redis/redis-broker.js';
import type { RedisBackend } from './backends/redis/redis-backend.js';
import { fromCelery } from './core/celery-config.js';
import { FakeClock } from './testing/fake-clock.js';
import { CeleriacError, ErrorCodes } from './errors.js';
import { createApp } from './index.js';
import { amqpBrokerOptions } from './transports.js';
import { systemClock } from './core/clock.js';

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

  it("set the bounds of a Redis broker's set-aside store (docs/workers.md said they were transport options; they were refused as unknown)", async () => {
    const app = createApp({ broker: 'redis://127.0.0.1:6379/0', brokerTransportOptions: { setAsideMaxCount: 50, setAsideMaxBytes: 1 << 20, deadLetterMaxCount: 60, deadLetterMaxBytes: 2 << 20, setAsideMaxRecordBytes: 4096 } }, { env: {} });
    const { setAside } = (app.broker as RedisBroker).options;
    expect(setAside.malformed).toEqual({ maxCount: 50, maxBytes: 1 << 20, maxRecordBytes: 4096 });
    expect(setAside['dead-letter']).toEqual({ maxCount: 60, maxBytes: 2 << 20, maxRecordBytes: 4096 });
    await app.close();
    const bad = createApp({ broker: 'redis://127.0.0.1:6379/0', brokerTransportOptions: { setAsideMaxCount: -1 } }, { env: {} });
    expect(() => bad.broker).toThrow(/setAsideMaxCount must be a positive integer, got -1/);
    await bad.close();
  });

  it('set the idle poll of a Redis broker: quietPollIntervalMs and quietAfterMs', async () => {
    const app = createApp({ broker: 'redis://127.0.0.1:6379/0', brokerTransportOptions: { quietPollIntervalMs: 3000, quietAfterMs: 60_000 } }, { env: {} });
    const o = (app.broker as RedisBroker).options;
    expect([o.quietPollIntervalMs, o.quietAfterMs]).toEqual([3000, 60_000]);
    await app.close();
  });

  it('set the Redis broker\'s commandTimeoutMs, so a longer waitReplicasTimeoutMs can be given room', async () => {
    const app = createApp({ broker: 'redis://127.0.0.1:6379/0', brokerTransportOptions: { commandTimeoutMs: 90_000, waitReplicas: 1, waitReplicasTimeoutMs: 60_000 } }, { env: {} });
    const o = (app.broker as RedisBroker).options;
    expect([o.commandTimeoutMs, o.waitReplicasTimeoutMs]).toEqual([90_000, 60_000]);
    await app.close();
    const cut = createApp({ broker: 'redis://127.0.0.1:6379/0', brokerTransportOptions: { waitReplicas: 1, waitReplicasTimeoutMs: 60_000 } }, { env: {} });
    expect(() => cut.broker).toThrow(/waitReplicasTimeoutMs \(60000\) must be at least 1000 ms below commandTimeoutMs \(30000\)/);
    await cut.close();
  });

  it("give a RabbitMQ broker the app's brokerUseSsl and brokerLoginMethod, the method in capitals whatever its case", () => {
    const ssl = { ca_certs: '/ca.pem' };
    const ctx = { clock: systemClock, transportOptions: {}, log: () => undefined, brokerUrl: 'amqp://h//', replyTo: 'r', resultExpiresSec: null, brokerUseSsl: ssl, brokerLoginMethod: 'external' };
    expect(amqpBrokerOptions(ctx)).toMatchObject({ useSsl: ssl, loginMethod: 'EXTERNAL' });
    expect(amqpBrokerOptions({ ...ctx, brokerUseSsl: false, brokerLoginMethod: null })).not.toHaveProperty('loginMethod');
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
    expect((caught as Error).message).toMatch(/Unknown Redis broker transport option "visibilityTimeout"; known: master_name, sentinel_kwargs, visibility_timeout/);
  });

  it('RabbitMQ: lostTaskGraceSec is let through (the worker reads it), other unknown names are refused', async () => {
    const app = createApp({ broker: 'amqp://guest:guest@127.0.0.1:5672//', brokerTransportOptions: { lostTaskGraceSec: 5, connectionName: 'x' } }, { env: {} });
    expect(app.broker.kind).toBe('amqp');
    await app.close();
    const bad = createApp({ broker: 'amqp://guest:guest@127.0.0.1:5672//', brokerTransportOptions: { visibility_timeout: 5 } }, { env: {} });
    expect(() => bad.broker).toThrow(/Unknown RabbitMQ broker transport option "visibility_timeout"; known: .*lostTaskGraceSec/);
  });

  it('RabbitMQ: refuses a queueMaxPriority or connectWaitMs RabbitMQ cannot use, when the broker is made', async () => {
    const broker = (options: Record<string, unknown>) => createApp({ broker: 'amqp://guest:guest@127.0.0.1:5672//', brokerTransportOptions: options }, { env: {} });
    for (const queueMaxPriority of [256, -1, 2.5, '10']) {
      expect(() => broker({ queueMaxPriority }).broker).toThrow(expect.objectContaining({ code: ErrorCodes.CONFIG, message: expect.stringMatching(/^queueMaxPriority must be a whole number from 0 to 255 \(RabbitMQ's x-max-priority\), or null, got /) }));
    }
    for (const connectWaitMs of [0, -5, 'x', Infinity]) {
      expect(() => broker({ connectWaitMs }).broker).toThrow(/^connectWaitMs must be a number of milliseconds > 0, got /);
    }
    for (const fine of [{ queueMaxPriority: 0 }, { queueMaxPriority: 255 }, { queueMaxPriority: null }, { connectWaitMs: 500 }]) {
      const app = broker(fine);
      expect(app.broker.kind).toBe('amqp');
      await app.close();
    }
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

describe('resultBackendTransportOptions', () => {
  const sentinels = 'sentinel://127.0.0.1:26379;sentinel://127.0.0.1:26380/1';

  it("give a sentinel:// backend its master, by Celery's master_name, and its timeouts", async () => {
    const app = createApp({ backend: sentinels, resultBackendTransportOptions: { master_name: 'mymaster', connectTimeoutMs: 500, commandTimeoutMs: 2000 } }, { env: {} });
    const backend = app.backend as RedisBackend;
    expect(backend.options.target.sentinel).toEqual({ masterName: 'mymaster', nodes: [{ host: '127.0.0.1', port: 26379 }, { host: '127.0.0.1', port: 26380 }] });
    expect(backend.options.target.db).toBe(1);
    expect([backend.options.connectTimeoutMs, backend.options.commandTimeoutMs]).toEqual([500, 2000]);
    await app.close();
  });

  it("come from CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS, and from fromCelery's result_backend_transport_options", async () => {
    const fromEnv = createApp({ backend: sentinels }, { env: { CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS: '{"master_name": "env-master"}' } });
    expect((fromEnv.backend as RedisBackend).options.target.sentinel?.masterName).toBe('env-master');
    const celery = fromCelery({ result_backend: sentinels, result_backend_transport_options: { master_name: 'celery-master' } });
    expect(celery.resultBackendTransportOptions).toEqual({ master_name: 'celery-master' });
    const fromConfig = createApp(celery, { env: {} });
    expect((fromConfig.backend as RedisBackend).options.target.sentinel?.masterName).toBe('celery-master');
    await Promise.all([fromEnv.close(), fromConfig.close()]);
  });

  it("are the backend's, not the broker's: the broker's master_name does not name the backend's master", () => {
    const app = createApp({ broker: `${sentinels.replace('/1', '/0')}`, backend: sentinels, brokerTransportOptions: { master_name: 'broker-master' } }, { env: {} });
    expect(() => app.backend).toThrow(/needs \?master_name=<name> \(or the master_name transport option\)/);
  });

  it("lose to a master name in the URL, as the broker's do", async () => {
    const app = createApp({ backend: `${sentinels}?master_name=in-url`, resultBackendTransportOptions: { master_name: 'option' } }, { env: {} });
    expect((app.backend as RedisBackend).options.target.sentinel?.masterName).toBe('in-url');
    await app.close();
  });

  it("put Celery 5.3+'s global_keyprefix before the result keys, with its `_` unless it ends in one of `:_-.`", async () => {
    const prefixOf = async (global_keyprefix: string) => {
      const app = createApp({ backend: 'redis://127.0.0.1:6379/0', resultBackendTransportOptions: { global_keyprefix } }, { env: {} });
      const prefix = (app.backend as RedisBackend).options.keyPrefix;
      await app.close();
      return prefix;
    };
    expect(await Promise.all(['tenant', 'tenant:', 'tenant_', 'tenant-', 'tenant.', ''].map(prefixOf))).toEqual(['tenant_', 'tenant:', 'tenant_', 'tenant-', 'tenant.', '']);
    expect(() => createApp({ backend: 'redis://127.0.0.1:6379/0', resultBackendTransportOptions: { global_keyprefix: 7 } }, { env: {} }).backend).toThrow(/global_keyprefix must be a string, got 7/);
  });

  it('refuse unknown names and bad values, naming what is expected', () => {
    const open = (options: Record<string, unknown>) => () => createApp({ backend: sentinels, resultBackendTransportOptions: options }, { env: {} }).backend;
    expect(open({ visibility_timeout: 5 })).toThrow(/Unknown Redis result backend transport option "visibility_timeout"; known: master_name, sentinel_kwargs, global_keyprefix, connectTimeoutMs, commandTimeoutMs/);
    expect(open({ master_name: '' })).toThrow(/master_name must be a non-empty string, got ""/);
    expect(open({ master_name: 7 })).toThrow(/master_name must be a non-empty string, got 7/);
    expect(open({ master_name: 'm', connectTimeoutMs: '500' })).toThrow(/connectTimeoutMs must be a positive number of milliseconds, got "500"/);
    expect(open({ master_name: 'm', commandTimeoutMs: -1 })).toThrow(/commandTimeoutMs must be a positive number/);
    expect(() => createApp({ resultBackendTransportOptions: 'x' as never }, { env: {} })).toThrow(/resultBackendTransportOptions: must be an object/);
  });

  it('are not read by the other backends (Celery reads them for Redis only)', async () => {
    const app = createApp({ backend: 'memory://', resultBackendTransportOptions: { master_name: 'm' } }, { env: {} });
    expect(app.backend.kind).toBe('memory');
    await app.close();
  });
});
