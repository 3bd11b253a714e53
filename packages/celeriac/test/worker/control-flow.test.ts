/**
 * Reject, Ignore, acksOnFailureOrTimeout and rejectOnWorkerLost on the memory broker: what
 * is stored, which event is emitted and how the message is settled.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Ignore, Reject, WorkerLostError, type TaskEvent } from 'celeriac';
import { closeEnvs, flush, makeEnv, waitFor, waitForState } from './helpers.js';

afterEach(closeEnvs);

describe('Reject', () => {
  it('with requeue and late acks: back to the queue marked redelivered, runs again, task-rejected emitted', async () => {
    const env = makeEnv({ taskAcksLate: true });
    const runs: boolean[] = [];
    const t = env.app.task('t.requeue', { bind: true }, (ctx) => {
      runs.push(ctx.request.deliveryInfo.redelivered ?? false);
      if (runs.length === 1) throw new Reject({ requeue: true, reason: 'not now' });
      return 'second time';
    });
    const events: TaskEvent[] = [];
    const worker = await env.startWorker();
    worker.onTaskEvent((e) => events.push(e));
    const r = await t.delay();
    expect(await r.get({ timeoutMs: 2000 })).toBe('second time');
    expect(runs).toEqual([false, true]);
    // The ack follows the stored result (and its follow-ups), so wait for it.
    await waitFor(() => env.broker.settlements(r.id).length === 2, 'second settlement');
    expect(env.broker.settlements(r.id)).toEqual(['reject', 'ack']);
    expect(env.broker.of('reject', r.id)[0]?.requeue).toBe(true);
    expect(events.filter((e) => e.type === 'task-rejected')).toEqual([expect.objectContaining({ type: 'task-rejected', requeue: true })]);
  });

  it('without requeue: the message is dropped and no state is stored (PENDING, as Celery 5.2.6)', async () => {
    const env = makeEnv({ taskAcksLate: true });
    const t = env.app.task('t.drop', () => {
      throw new Reject({ reason: 'bad input' });
    });
    const events: TaskEvent[] = [];
    const worker = await env.startWorker();
    worker.onTaskEvent((e) => events.push(e));
    const r = await t.delay();
    await waitFor(() => env.broker.settlements(r.id).length === 1, 'settled');
    expect(env.broker.of('reject', r.id)[0]?.requeue).toBe(false);
    expect(await r.state()).toBe('PENDING');
    expect(events.map((e) => e.type)).toEqual(['task-received', 'task-started', 'task-rejected']);
    expect(await env.broker.queueLength('celery')).toBe(0);
  });

  it('with requeue but an early ack: the message is already gone, nothing more happens', async () => {
    const env = makeEnv();
    let runs = 0;
    const t = env.app.task('t.early', () => {
      runs++;
      throw new Reject({ requeue: true });
    });
    await env.startWorker();
    const r = await t.delay();
    await waitFor(() => env.lines.some((l) => /Reject\(requeue\) needs late acks/.test(l.msg)), 'the reason logged');
    await flush();
    expect(env.broker.settlements(r.id)).toEqual(['ack']);
    expect(runs).toBe(1);
  });
});

describe('Ignore', () => {
  it('acks, stores nothing and sends no follow-up', async () => {
    const env = makeEnv({ taskAcksLate: true });
    let linked = 0;
    env.app.task('t.link', () => ++linked);
    const t = env.app.task('t.ignore', () => {
      throw new Ignore();
    });
    await env.startWorker();
    const r = await t.applyAsync([], { link: env.app.tasks.get('t.link')!.s(), linkError: env.app.tasks.get('t.link')!.s() });
    await waitFor(() => env.broker.settlements(r.id).length === 1, 'settled');
    expect(env.broker.settlements(r.id)).toEqual(['ack']);
    await flush();
    expect(await r.state()).toBe('PENDING');
    expect(linked).toBe(0);
  });
});

describe('acksOnFailureOrTimeout and rejectOnWorkerLost', () => {
  it('a failed late-ack task is acked, or dropped when acksOnFailureOrTimeout is off', async () => {
    const env = makeEnv({ taskAcksLate: true });
    env.app.task('t.fail', () => {
      throw new Error('boom');
    });
    env.app.task('t.fail_drop', { acksOnFailureOrTimeout: false }, () => {
      throw new Error('boom');
    });
    await env.startWorker();
    const a = await env.app.sendTask('t.fail');
    const b = await env.app.sendTask('t.fail_drop');
    await waitForState(env, a.id, 'FAILURE');
    await waitForState(env, b.id, 'FAILURE');
    await waitFor(() => env.broker.settlements(b.id).length === 1, 'settled');
    expect(env.broker.settlements(a.id)).toEqual(['ack']);
    expect(env.broker.of('reject', b.id)[0]?.requeue).toBe(false);
  });

  it('a task whose worker was lost is redelivered with rejectOnWorkerLost (after a backoff), otherwise FAILURE', async () => {
    const env = makeEnv({ taskAcksLate: true, workerRedeliveryDelaySec: 0.01 });
    let lostRuns = 0;
    // A pool reports a dead process or thread as a WorkerLostError outcome; thrown here to drive that path.
    env.app.task('t.lost_requeue', { rejectOnWorkerLost: true }, () => {
      lostRuns++;
      if (lostRuns === 1) throw new WorkerLostError('thread exited');
      return 'ran again';
    });
    env.app.task('t.lost_fail', () => {
      throw new WorkerLostError('thread exited');
    });
    await env.startWorker();
    const a = await env.app.sendTask('t.lost_requeue');
    expect(await a.get({ timeoutMs: 2000 })).toBe('ran again');
    // The ack follows the stored result (and its follow-ups), so wait for it.
    await waitFor(() => env.broker.settlements(a.id).length === 2, 'second settlement');
    expect(env.broker.settlements(a.id)).toEqual(['defer', 'ack']);
    const b = await env.app.sendTask('t.lost_fail');
    const meta = await waitForState(env, b.id, 'FAILURE');
    expect(meta.result).toMatchObject({ exc_type: 'WorkerLostError', exc_module: 'billiard.exceptions' });
    await waitFor(() => env.broker.settlements(b.id).length === 1, 'settlement');
    expect(env.broker.settlements(b.id)).toEqual(['ack']);
  });

  it('taskRejectOnWorkerLost is the app-wide default', async () => {
    const env = makeEnv({ taskAcksLate: true, taskRejectOnWorkerLost: true, workerRedeliveryDelaySec: 0.01 });
    let runs = 0;
    env.app.task('t.lost', () => {
      if (++runs === 1) throw new WorkerLostError('process died');
      return runs;
    });
    await env.startWorker();
    const r = await env.app.sendTask('t.lost');
    expect(await r.get({ timeoutMs: 2000 })).toBe(2);
  });
});
