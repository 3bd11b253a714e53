/**
 * Warm and cold shutdown: stop fetching, give prefetched messages back, let running tasks
 * finish within the deadline, then abandon them (late ack: back to the queue; early ack:
 * FAILURE WorkerLostError). State goes running -> draining -> closed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Worker, WorkerLostError, type WorkerState } from 'celeriac';
import { Gate, closeEnvs, deferred, flush, makeEnv, waitFor, waitForState } from './helpers.js';

afterEach(closeEnvs);

describe('warm shutdown', () => {
  it('stops fetching, restores prefetched messages, lets the running task finish and store its result', async () => {
    const env = makeEnv();
    const gate = new Gate();
    const block = env.app.task('t.block', async (n: number) => {
      await gate.enter();
      return n;
    });
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await block.delay(i));
    const worker = await env.startWorker({ concurrency: 1, prefetchMultiplier: 3, shutdownTimeoutSec: 30 });
    await waitFor(() => gate.blocked === 1, 'first task running');
    await flush(10);
    // Early ack: 1 running (acked) + 3 reserved; 2 left in the queue.
    expect(worker.reserved).toBe(3);
    expect(await env.broker.queueLength('celery')).toBe(2);

    const states: WorkerState[] = [worker.state];
    const closing = worker.close();
    states.push(worker.state);
    await waitFor(async () => (await env.broker.queueLength('celery')) === 5, 'reserved messages restored');
    expect(env.broker.of('restore')).toHaveLength(3);
    expect(worker.state).toBe('draining');
    expect(worker.reserved).toBe(0);

    // Publishing more while draining: nothing is fetched.
    await block.delay(99);
    await flush(10);
    expect(await env.broker.queueLength('celery')).toBe(6);

    gate.releaseOne();
    await closing;
    states.push(worker.state);
    expect(states).toEqual(['running', 'draining', 'closed']);
    expect(await results[0]!.get({ timeoutMs: 2000 })).toBe(0);
    expect(gate.started).toBe(1);
    // The restored ones went back to the front, in their original order.
    const next = await env.startWorker({ concurrency: 1, prefetchMultiplier: 1 });
    gate.releaseAll();
    const values = [];
    for (const r of results.slice(1)) values.push(await r.get({ timeoutMs: 2000 }));
    expect(values).toEqual([1, 2, 3, 4, 5]);
    await next.close();
  });

  it('past the deadline a late-ack task goes back to the queue; a new worker runs it to SUCCESS once', async () => {
    const env = makeEnv({ taskAcksLate: true });
    let attempts = 0;
    let successes = 0;
    const firstStarted = deferred();
    let firstReason: unknown = null;
    const slow = env.app.task('t.slow', { bind: true }, async (ctx) => {
      attempts++;
      if (attempts === 1) {
        firstStarted.resolve();
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
        firstReason = ctx.signal.reason;
        // Even if the abandoned run ends later, its outcome is ignored.
        return 'from the abandoned run';
      }
      successes++;
      return 'second run';
    });
    const worker = await env.startWorker({ concurrency: 1 });
    const r = await slow.delay();
    await firstStarted.promise;
    await worker.close({ deadlineMs: 20 });
    expect(worker.state).toBe('closed');
    expect(firstReason).toBeInstanceOf(WorkerLostError);
    expect(env.broker.settlements(r.id)).toEqual(['restore']);
    expect(await env.broker.queueLength('celery')).toBe(1);
    expect(await r.state()).toBe('PENDING');

    await env.startWorker({ concurrency: 1 });
    expect(await r.get({ timeoutMs: 2000 })).toBe('second run');
    expect(attempts).toBe(2);
    expect(successes).toBe(1);
    await flush();
    expect(env.broker.settlements(r.id)).toEqual(['restore', 'ack']);
    expect(await env.broker.queueLength('celery')).toBe(0);
  });

  it('past the deadline an early-ack task gets FAILURE WorkerLostError and is not requeued', async () => {
    const env = makeEnv();
    const started = deferred();
    const hang = env.app.task('t.hang', async () => {
      started.resolve();
      await new Promise(() => undefined);
    });
    const worker = await env.startWorker();
    const events: string[] = [];
    worker.onTaskEvent((e) => events.push(e.type));
    const r = await hang.delay();
    await started.promise;
    await worker.close({ deadlineMs: 20 });
    const meta = await waitForState(env, r.id, 'FAILURE');
    expect(meta.result).toMatchObject({ exc_type: 'WorkerLostError', exc_module: 'billiard.exceptions' });
    // Before: no task-failed, so a dashboard or `celery events` showed it STARTED for good.
    expect(events).toEqual(['task-received', 'task-started', 'task-failed']);
    expect(env.broker.settlements(r.id)).toEqual(['ack']);
    expect(await env.broker.queueLength('celery')).toBe(0);
    expect(env.lines.some((l) => l.level === 40 && String(l.msg).includes('shutdown deadline passed'))).toBe(true);
  });

  it('close() is idempotent and an idle worker closes at once', async () => {
    const env = makeEnv();
    const worker = await env.startWorker();
    const a = worker.close();
    const b = worker.close();
    expect(a).toBe(b);
    await a;
    expect(worker.state).toBe('closed');
  });

  it('close() twice on a never-started worker stays closed without a shutdown pass', async () => {
    const env = makeEnv();
    const worker = new Worker(env.app, { hostname: 'idle@box' });
    await worker.close();
    const again = worker.close();
    expect(worker.state).toBe('closed');
    await again;
    expect(worker.state).toBe('closed');
    expect(env.lines.some((l) => String(l.msg).includes('warm shutdown'))).toBe(false);
  });

  it('close() while start() is still connecting leaves the worker closed and consuming nothing', async () => {
    const env = makeEnv();
    let runs = 0;
    const t = env.app.task('t.never', () => ++runs);
    await t.delay();
    const worker = new Worker(env.app, { hostname: 'early@box' });
    const starting = worker.start();
    expect(worker.state).toBe('starting');
    const closing = worker.close();
    await Promise.allSettled([starting, closing]);
    await flush(10);
    expect(worker.state).toBe('closed');
    expect(runs).toBe(0);
    expect(env.broker.of('deliver')).toHaveLength(0);
    expect(await env.broker.queueLength('celery')).toBe(1);
  });

  it('close() while the mailbox subscribes leaves no heartbeat behind: nothing is sent on the event bus after the close', async () => {
    const env = makeEnv({}, { fakeClock: true });
    const clock = env.clock!;
    const held = deferred();
    let subscribing = false;
    const subscribe = env.broker.subscribeFanout.bind(env.broker);
    env.broker.subscribeFanout = async (exchange, bindingKey, listener) => {
      subscribing = true;
      await held.promise;
      return subscribe(exchange, bindingKey, listener);
    };
    const sent: string[] = [];
    const publish = env.broker.publishFanout.bind(env.broker);
    env.broker.publishFanout = (exchange, routingKey, raw) => {
      sent.push(routingKey);
      return publish(exchange, routingKey, raw);
    };
    const worker = new Worker(env.app, { hostname: 'early@box' });
    const starting = worker.start();
    await waitFor(() => subscribing, 'the mailbox subscribing');
    // The close runs to its end while the subscription is still pending; then it completes.
    await worker.close();
    expect(worker.state).toBe('closed');
    sent.length = 0;
    held.resolve();
    await Promise.allSettled([starting]);
    await flush(10);
    // Heartbeats every 2 s: ten minutes of them, had one been armed after the close.
    clock.advance(10 * 60_000);
    await flush(10);
    expect(sent).toEqual([]);
    expect(clock.pendingTimers).toBe(0);
  });

  it('a message delivered just as close() begins is given back, never started', async () => {
    const env = makeEnv();
    const gate = new Gate();
    const block = env.app.task('t.block', () => gate.enter());
    const worker = await env.startWorker({ concurrency: 1, prefetchMultiplier: 4 });
    const first = await block.delay();
    await waitFor(() => gate.blocked === 1, 'first task running');
    let closing: Promise<void> | null = null;
    env.broker.onDelivered = () => {
      closing ??= worker.close({ deadlineMs: 50 });
    };
    const second = await block.delay();
    await waitFor(() => closing !== null, 'close to begin');
    await closing;
    expect(worker.state).toBe('closed');
    expect(gate.started).toBe(1);
    expect(env.broker.settlements(second.id)).toEqual(['restore']);
    expect(await env.broker.queueLength('celery')).toBe(1);
    expect((await env.backend.get(first.id))?.result).toMatchObject({ exc_type: 'WorkerLostError' });
    gate.releaseAll();
  });
});

describe('cold shutdown (terminate)', () => {
  it('abandons running tasks at once, without waiting for the shutdown timeout', async () => {
    const env = makeEnv();
    const lateStarted = deferred();
    const earlyStarted = deferred();
    const hangLate = env.app.task('t.hang_late', { acksLate: true }, async () => {
      lateStarted.resolve();
      await new Promise(() => undefined);
    });
    const hangEarly = env.app.task('t.hang_early', async () => {
      earlyStarted.resolve();
      await new Promise(() => undefined);
    });
    // 600 s: if terminate() waited for the deadline, the test would time out.
    const worker = await env.startWorker({ concurrency: 2, shutdownTimeoutSec: 600 });
    const late = await hangLate.delay();
    const early = await hangEarly.delay();
    await Promise.all([lateStarted.promise, earlyStarted.promise]);
    await worker.terminate();
    expect(worker.state).toBe('closed');
    expect(env.broker.settlements(late.id)).toEqual(['restore']);
    expect(await env.broker.queueLength('celery')).toBe(1);
    expect((await waitForState(env, early.id, 'FAILURE')).result).toMatchObject({ exc_type: 'WorkerLostError' });
    expect(await late.state()).toBe('PENDING');
  });

  it('during a warm shutdown, terminate() cuts the wait short', async () => {
    const env = makeEnv({ taskAcksLate: true });
    const started = deferred();
    const hang = env.app.task('t.hang', async () => {
      started.resolve();
      await new Promise(() => undefined);
    });
    const worker = await env.startWorker({ shutdownTimeoutSec: 600 });
    const r = await hang.delay();
    await started.promise;
    const warm = worker.close();
    expect(worker.state).toBe('draining');
    await worker.terminate();
    await warm;
    expect(worker.state).toBe('closed');
    expect(env.broker.settlements(r.id)).toEqual(['restore']);
  });
});
