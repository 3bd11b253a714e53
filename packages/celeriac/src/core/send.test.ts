/**
 * One send function (core/send): every way a task message leaves this process (sendTask,
 * sendTasks/applyAsyncMany, the canvas, a task's retry, beat) sends `task-sent` when
 * `taskSendSentEvent` is on, and retries a publish that failed on the connection the same way.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../backends/memory/memory-backend.js';
import { MemoryBroker } from '../brokers/memory/memory-broker.js';
import { Beat } from '../beat/beat.js';
import { chain, group } from '../canvas/primitives.js';
import { createApp } from '../create-app.js';
import { CeleriacError, ErrorCodes } from '../errors.js';
import { decodeEnvelope } from '../protocol/envelope.js';
import type { Message } from '../protocol/types.js';
import { FakeClock } from '../testing/fake-clock.js';
import { waitFor } from '../testing/wait-for.js';
import { Worker } from '../worker/worker.js';
import type { Settings } from './settings.js';
import type { PublishOptions, PublishRequest } from './spi/broker.js';

/** A memory broker that fails its next `failures` task publishes as a dead connection does, and records fanout events. */
class FlakyBroker extends MemoryBroker {
  failures = 0;
  attempts = 0;
  readonly sent: Record<string, unknown>[] = [];
  override async publish(message: Message, options: PublishOptions): Promise<void> {
    this.attempts++;
    if (this.failures > 0) {
      this.failures--;
      throw new CeleriacError(ErrorCodes.TRANSPORT, 'connect ECONNREFUSED 127.0.0.1:1');
    }
    await super.publish(message, options);
  }
  override async publishMany(batch: readonly PublishRequest[]): Promise<void> {
    this.attempts++;
    if (this.failures > 0) {
      this.failures--;
      throw new CeleriacError(ErrorCodes.TRANSPORT, 'connect ECONNREFUSED 127.0.0.1:1');
    }
    for (const { message, options } of batch) await super.publish(message, options);
  }
  override async publishFanout(exchange: string, routingKey: string, raw: string): Promise<number> {
    if (routingKey === 'task.sent') this.sent.push(JSON.parse(decodeEnvelope(raw).message.body) as Record<string, unknown>);
    return super.publishFanout(exchange, routingKey, raw);
  }
}

function setup(settings: Settings = {}, clock?: FakeClock) {
  const broker = new FlakyBroker(clock === undefined ? {} : { clock });
  const fast = { intervalStart: 0, intervalStep: 0.01, intervalMax: 0.01 };
  const app = createApp({ taskSendSentEvent: true, taskPublishRetryPolicy: fast, ...settings }, { broker, backend: new MemoryBackend(), ...(clock === undefined ? {} : { clock }), env: {}, logger: pino({ level: 'silent' }) });
  return { app, broker, sentIds: () => broker.sent.map((e) => e['uuid']) };
}

describe('every send path sends task-sent and retries a failed publish', () => {
  it('sendTask, sendTasks and applyAsyncMany', async () => {
    const { app, broker, sentIds } = setup();
    const add = app.task('t.add', (x: number, y: number) => x + y);
    broker.failures = 1;
    const one = await app.sendTask('t.add', [1, 2]);
    broker.failures = 1;
    const many = await app.sendTasks([{ name: 't.add', args: [1, 1] }, { name: 't.other', options: { queue: 'q2' } }]);
    broker.failures = 1;
    const mapped = await add.applyAsyncMany([[2, 2], [3, 3]]);
    expect(sentIds()).toEqual([one, ...many, ...mapped].map((r) => r.id));
    expect(broker.sent[2]).toMatchObject({ type: 'task-sent', name: 't.other', queue: 'q2', routing_key: 'q2' });
    expect(broker.attempts).toBe(6);
  });

  it('canvas: a group and a chain', async () => {
    const { app, sentIds } = setup();
    const add = app.task('t.add', (x: number, y: number) => x + y);
    const g = await group([add.s(1, 1), add.s(2, 2)]).applyAsync();
    const c = await chain(add.s(1, 1), add.s(5)).applyAsync();
    const ids = sentIds();
    for (const r of g.results) expect(ids).toContain(r.id);
    // A chain sends its first step; the rest go as the steps end.
    expect(ids).toContain(c.parent?.id);
  });

  it("a task's retry, published by the worker", async () => {
    const { app, broker, sentIds } = setup();
    let runs = 0;
    const flaky = app.task('t.flaky', { bind: true, maxRetries: 2 }, (ctx) => {
      runs++;
      if (runs === 1) {
        broker.failures = 1; // the retry's own publish fails once and is retried
        throw ctx.retry({ countdown: 0 });
      }
      return runs;
    });
    const worker = new Worker(app, { concurrency: 1 });
    await worker.start();
    try {
      const r = await flaky.delay();
      expect(await r.get({ timeoutMs: 5000 })).toBe(2);
      // Sent once by delay() and once by the retry (the same id, retries 1).
      await waitFor(() => broker.sent.length === 2 || undefined, 'two task-sent events');
      expect(sentIds()).toEqual([r.id, r.id]);
      expect(broker.sent.map((e) => e['retries'])).toEqual([0, 1]);
    } finally {
      await worker.close();
      await app.close();
    }
  });

  it("beat's entries", async () => {
    const clock = new FakeClock(Date.parse('2026-01-01T00:00:00Z'));
    const { app, broker } = setup({ beatSchedule: { tick: { task: 't.tick', schedule: 10 } } }, clock);
    const beat = new Beat(app, { holder: 'send-test' });
    for (let s = 0; s < 12 && broker.sent.length === 0; s++) {
      broker.failures = 1;
      await beat.tick();
      clock.advance(1000);
    }
    expect(broker.sent.map((e) => e['name'])).toEqual(['t.tick']);
    expect(await broker.queueLength('celery')).toBe(1);
  });

  it('no task-sent without taskSendSentEvent', async () => {
    const { app, broker } = setup({ taskSendSentEvent: false });
    await app.sendTask('t.add', [1]);
    await app.sendTasks([{ name: 't.add' }]);
    expect(broker.sent).toEqual([]);
  });
});
