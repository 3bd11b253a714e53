/**
 * A worker, retries and beat on RabbitMQ quorum queues (issue 48 §2): a retry's countdown and a
 * beat entry's countdown go through kombu's `celery_delayed_*` queues (seen waiting there),
 * and a quorum queue's `x-delivery-limit` caps how often a task that requeues itself runs,
 * its last delivery set aside as a dead letter instead of dropped by RabbitMQ; on a classic
 * queue, `workerMaxDeliveries` does. Its own vhost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amqpAvailable } from '../support/amqp-env.js';
import { quorumVhost, type QuorumVhost } from '../support/quorum-vhost.js';
import { Beat } from '../../src/exports/beat.js';
import { Reject, Worker, type App, type Settings } from '../../src/index.js';
import { waitFor } from 'celeriac/testing';

const ready = await amqpAvailable();

describe.runIf(ready)('worker, retries and beat on quorum queues', () => {
  let q: QuorumVhost;
  const workers: Worker[] = [];
  const make = (settings: Settings, level?: string) => q.app(settings, level);
  const start = async (app: App, queues: string[]) => {
    const w = new Worker(app, { queues, concurrency: 2 });
    workers.push(w);
    await w.start();
    return w;
  };
  const count = (queue: string) => q.count(queue);
  /** Messages waiting in one level of the ladder now. */
  const waiting = (level: number) => count(`celery_delayed_${level}`);

  beforeAll(async () => {
    q = await quorumVhost('qworker');
  }, 60_000);
  afterAll(async () => {
    for (const w of workers) await w.close({ deadlineMs: 2000 });
    await q?.close();
  }, 60_000);

  it("a retry's countdown waits in celery_delayed_* and the task runs again after it", async () => {
    const app = make({});
    const runs: number[] = [];
    const flaky = app.task('q.flaky', { bind: true, maxRetries: 3 }, async (ctx, x: number) => {
      runs.push(Date.now());
      if (runs.length === 1) throw ctx.retry({ countdown: 1 });
      return x * 2;
    });
    await start(app, ['celery']);
    const r = await flaky.delay(21);
    // 1 s: bit 0 set, so the retried message waits in level 0 for a second.
    await waitFor(async () => (await waiting(0)) === 1, 'the retried message in celery_delayed_0', 10_000);
    expect(await r.get({ timeoutMs: 15_000 })).toBe(42);
    expect(runs).toHaveLength(2);
    expect((runs[1] as number) - (runs[0] as number)).toBeGreaterThanOrEqual(1000);
  }, 30_000);

  it("beat sends an entry's countdown through the ladder, in the beat store's transaction", async () => {
    const app = make({ beatLeaseTtlSec: 3, beatMaxLoopIntervalSec: 1 });
    const seen: { at: number; sentAt: number }[] = [];
    app.task('q.tick', (sentAt: number) => void seen.push({ at: Date.now(), sentAt }));
    await start(app, ['beatq']);
    const beatApp = make({ beatLeaseTtlSec: 3, beatMaxLoopIntervalSec: 1 });
    const beat = new Beat(beatApp, { schedule: { tick: { task: 'q.tick', schedule: 1, args: [0], options: { queue: 'beatq', countdown: 2 } } } });
    await beat.start();
    try {
      // 2 s: bit 1 set, so each run waits in level 1 first.
      await waitFor(async () => (await waiting(1)) >= 1, 'a beat run in celery_delayed_1', 15_000);
      await waitFor(() => seen.length >= 2, 'two beat runs delivered', 20_000);
    } finally {
      await beat.close();
    }
  }, 40_000);

  it('x-delivery-limit N: a task that requeues itself runs N times, and the last delivery is set aside, not dropped', async () => {
    const app = make({ taskQueues: { limited: { queueArguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 2 } } } });
    let runs = 0;
    app.task('q.again', { acksLate: true }, () => {
      runs++;
      throw new Reject({ requeue: true, reason: 'not yet' });
    });
    await start(app, ['limited']);
    await app.sendTask('q.again', [], {}, { queue: 'limited' });
    await waitFor(async () => (await count('celeriac.deadletters')) === 1, 'the dead letter', 15_000);
    const ch = await q.conn.createChannel();
    try {
      const msg = await ch.get('celeriac.deadletters', { noAck: true });
      expect(msg).not.toBe(false);
      const headers = (msg as { properties: { headers: Record<string, unknown> } }).properties.headers;
      expect(String(headers['x-celeriac-set-aside-reason'])).toMatch(/x-delivery-limit 2 of the queue/);
      expect(headers['x-celeriac-set-aside-from']).toBe('limited');
    } finally {
      await ch.close();
    }
    expect(runs).toBe(2);
    expect(await count('limited')).toBe(0);
  }, 30_000);

  it('on a classic queue a task that requeues itself runs workerMaxDeliveries times, then is dead-lettered: FAILURE and task-failed', async () => {
    // Before: a classic queue gave no count and the copies carried none, so it ran for ever.
    const app = make({ workerMaxDeliveries: 3, taskQueues: { plainq: { queueArguments: { 'x-queue-type': 'classic' } } } });
    let runs = 0;
    app.task('q.bounce', { acksLate: true }, () => {
      runs++;
      throw new Reject({ requeue: true, reason: 'not yet' });
    });
    const worker = await start(app, ['plainq']);
    const failed: string[] = [];
    worker.onTaskEvent((e) => {
      if (e.type === 'task-failed') failed.push((e.error as Error).name);
    });
    const r = await app.sendTask('q.bounce', [], {}, { queue: 'plainq' });
    await expect(r.get({ timeoutMs: 15_000 })).rejects.toMatchObject({ excType: 'DeliveryLimitExceeded' });
    await waitFor(async () => (await count('celeriac.deadletters')) >= 1, 'the dead letter', 15_000);
    expect(runs).toBe(3);
    expect(failed).toEqual(['DeliveryLimitExceeded']);
    expect(await count('plainq')).toBe(0);
  }, 30_000);
});
