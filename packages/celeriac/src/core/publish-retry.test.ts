/**
 * Publish retry (Celery's `retry`/`retry_policy`): interval math, policy merging and checks,
 * and the app's sends against a broker that fails a given number of publishes. The same
 * against a real redis-server that is down, comes back, and flaps: test/failure/publish-retry.test.ts.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../backends/memory/memory-backend.js';
import { MemoryBroker } from '../brokers/memory/memory-broker.js';
import { createApp } from '../create-app.js';
import { CeleriacError, ErrorCodes } from '../errors.js';
import type { Message } from '../protocol/types.js';
import { DEFAULT_PUBLISH_RETRY_POLICY, PublishError, mergeRetryPolicy, retryInterval } from './publish-retry.js';
import type { Settings } from './settings.js';
import type { PublishOptions, PublishRequest } from './spi/broker.js';

/** A memory broker whose next `failures` publishes fail as a dead connection does. */
class FlakyBroker extends MemoryBroker {
  attempts = 0;
  constructor(
    public failures: number,
    private readonly error: () => Error = () => new CeleriacError(ErrorCodes.TRANSPORT, 'Redis error during connect: connect ECONNREFUSED 127.0.0.1:1'),
  ) {
    super();
  }
  override async publish(message: Message, options: PublishOptions): Promise<void> {
    this.attempts++;
    if (this.failures > 0) {
      this.failures--;
      throw this.error();
    }
    await super.publish(message, options);
  }
  override async publishMany(batch: readonly PublishRequest[]): Promise<void> {
    this.attempts++;
    if (this.failures > 0) {
      this.failures--;
      throw this.error();
    }
    for (const { message, options } of batch) await super.publish(message, options);
  }
}

function setup(broker: FlakyBroker, settings: Settings = {}) {
  const lines: { msg: string; retry?: number; delaySec?: number }[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]), done()) });
  const fast = { intervalStart: 0.01, intervalStep: 0.01, intervalMax: 0.02 };
  const app = createApp({ taskPublishRetryPolicy: fast, ...settings }, { broker, backend: new MemoryBackend(), env: {}, logger: pino({ level: 'warn' }, sink) });
  return { app, lines };
}

describe('publish retry policy', () => {
  it('intervals grow by step from start and stop at max, as kombu', () => {
    const p = mergeRetryPolicy({ intervalStart: 0.5, intervalStep: 0.25, intervalMax: 1 }, undefined);
    expect([0, 1, 2, 3, 4].map((n) => retryInterval(p, n))).toEqual([0.5, 0.75, 1, 1, 1]);
    expect(DEFAULT_PUBLISH_RETRY_POLICY).toEqual({ maxRetries: 3, intervalStart: 0, intervalStep: 0.2, intervalMax: 1 });
  });

  it('a call policy merges over the app policy; snake_case names are Celery\'s', () => {
    expect(mergeRetryPolicy({ maxRetries: 7, intervalMax: 2 }, { interval_step: 0.5 } as never)).toEqual({ maxRetries: 7, intervalStart: 0, intervalStep: 0.5, intervalMax: 2 });
    expect(mergeRetryPolicy({}, { maxRetries: null })).toMatchObject({ maxRetries: null });
    expect(() => mergeRetryPolicy({}, { maxRetries: 1.5 })).toThrow(/maxRetries must be an integer/);
    expect(() => createApp({ taskPublishRetryPolicy: { nope: 1 } as never }, { env: {} })).toThrow(/taskPublishRetryPolicy.*unknown field "nope"/);
  });
});

describe('sending while the broker is unreachable', () => {
  it('retries a failed publish and sends once the broker answers, logging each retry', async () => {
    const broker = new FlakyBroker(2);
    const { app, lines } = setup(broker);
    const r = await app.sendTask('any.task', [1]);
    expect(broker.attempts).toBe(3);
    expect(await broker.queueLength('celery')).toBe(1);
    const retries = lines.filter((l) => l.msg.includes('broker unreachable'));
    expect(retries.map((l) => l.retry)).toEqual([1, 2]);
    expect(retries[0]?.msg).toContain(`send task any.task[${r.id}]`);
    expect(retries[0]?.msg).toContain('retry 1/3');
  });

  it('fails with a PublishError carrying the cause once maxRetries is spent', async () => {
    const broker = new FlakyBroker(100);
    const { app } = setup(broker, { taskPublishRetryPolicy: { maxRetries: 2, intervalStart: 0, intervalStep: 0.01, intervalMax: 0.01 } });
    const err = await app.sendTask('any.task', [1]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishError);
    expect(err).toMatchObject({ code: ErrorCodes.TRANSPORT, attempts: 3 });
    expect((err as Error).message).toMatch(/could not send task any\.task\[.+\] after 3 attempts \(retryPolicy spent\): .*ECONNREFUSED/);
    expect((err as Error).cause).toMatchObject({ code: ErrorCodes.TRANSPORT });
    expect(broker.attempts).toBe(3);
    expect(await broker.queueLength('celery')).toBe(0);
  });

  it('retry: false (call or setting) tries once; a call may turn it back on', async () => {
    const broker = new FlakyBroker(1);
    const { app } = setup(broker);
    await expect(app.sendTask('any.task', [], {}, { retry: false })).rejects.toMatchObject({ code: ErrorCodes.TRANSPORT, attempts: 1 });
    expect(broker.attempts).toBe(1);
    const off = setup(new FlakyBroker(1), { taskPublishRetry: false });
    await expect(off.app.sendTask('any.task')).rejects.toBeInstanceOf(PublishError);
    const on = new FlakyBroker(1);
    await setup(on, { taskPublishRetry: false }).app.sendTask('any.task', [], {}, { retry: true });
    expect(on.attempts).toBe(2);
  });

  it('a call retryPolicy bounds that call only', async () => {
    const broker = new FlakyBroker(100);
    const { app } = setup(broker);
    await expect(app.sendTask('any.task', [], {}, { retryPolicy: { maxRetries: 0 } })).rejects.toMatchObject({ attempts: 1 });
    broker.failures = 2;
    broker.attempts = 0;
    await app.sendTask('any.task', [], {}, { retryPolicy: { maxRetries: null, intervalStart: 0 } });
    expect(broker.attempts).toBe(3);
  });

  it('errors that are not the connection are not retried', async () => {
    const broker = new FlakyBroker(1, () => new CeleriacError(ErrorCodes.STATE, 'broker closed'));
    const { app } = setup(broker);
    await expect(app.sendTask('any.task')).rejects.toMatchObject({ code: ErrorCodes.STATE });
    expect(broker.attempts).toBe(1);
  });

  it('sendTasks retries the batch under one policy; delay() and applyAsync() too', async () => {
    const broker = new FlakyBroker(2);
    const { app } = setup(broker);
    const results = await app.sendTasks([{ name: 'a' }, { name: 'b' }]);
    expect(results).toHaveLength(2);
    expect(broker.attempts).toBe(3);
    expect(await broker.queueLength('celery')).toBe(2);
    const batch = new FlakyBroker(1);
    await expect(setup(batch).app.sendTasks([{ name: 'a' }, { name: 'b', options: { retry: false } }])).rejects.toMatchObject({ attempts: 1 });
    const add = app.task('t.add', (x: number, y: number) => x + y);
    broker.failures = 1;
    await add.delay(1, 2);
    broker.failures = 1;
    await add.applyAsync([1, 2], { retryPolicy: { maxRetries: 1 } });
    expect(await broker.queueLength('celery')).toBe(4);
  });
});
