/**
 * When the worker acknowledges (docs/protocol.md §2.6, §8.4): early ack before the task
 * runs, late ack after it, reject without requeue when acksOnFailureOrTimeout is off;
 * and the STARTED state with trackStarted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Settings, TaskOptions } from 'celeriac';
import { closeEnvs, deferred, flush, makeEnv, waitFor, waitForState } from './helpers.js';

afterEach(closeEnvs);

/**
 * Runs one task that records `run:`/`end:` around its body; returns the shared timeline
 * (settlements as they complete) and the settlements asked for when the body began.
 */
async function timelineOf(settings: Settings, options: TaskOptions & { bind?: false }, fail = false) {
  const env = makeEnv(settings);
  let requestedAtRun: string[] = [];
  const task = env.app.task('t.step', options, async (id: string) => {
    requestedAtRun = env.broker.requested.filter((e) => e.endsWith(id));
    env.timeline.push(`run:${id}`);
    await flush(1);
    env.timeline.push(`end:${id}`);
    if (fail) throw new TypeError('boom');
    return id;
  });
  await env.startWorker();
  const id = 'task-1';
  await task.applyAsync([id], { taskId: id });
  await waitForState(env, id, fail ? 'FAILURE' : 'SUCCESS');
  await flush();
  return { env, id, timeline: env.timeline.filter((e) => e.endsWith(id)), requestedAtRun };
}

describe('early ack (default)', () => {
  it('sends the ack as the task starts, before its body runs (as Celery does)', async () => {
    const { env, id, requestedAtRun } = await timelineOf({}, {});
    expect(requestedAtRun).toEqual(['ack:task-1']);
    expect(env.broker.settlements(id)).toEqual(['ack']);
  });

  it('a failing task was already acked: nothing more is settled', async () => {
    const { env, id, requestedAtRun } = await timelineOf({ taskAcksOnFailureOrTimeout: false }, {}, true);
    expect(requestedAtRun).toEqual(['ack:task-1']);
    expect(env.broker.settlements(id)).toEqual(['ack']);
  });

  it('per-task acksLate: false wins over taskAcksLate: true', async () => {
    const { env, id, requestedAtRun } = await timelineOf({ taskAcksLate: true }, { acksLate: false });
    expect(requestedAtRun).toEqual(['ack:task-1']);
    expect(env.broker.settlements(id)).toEqual(['ack']);
  });

  it('the body does not wait for the ack reply; the delivery is handled once it is in; a failed ack is logged', async () => {
    const env = makeEnv();
    const reply = deferred();
    env.broker.beforeSettle = (kind) => (kind === 'ack' ? reply.promise : Promise.resolve());
    const ran = deferred();
    const t = env.app.task('t.quick', () => {
      ran.resolve();
      return 'done';
    });
    const worker = await env.startWorker();
    const r = await t.delay();
    await ran.promise; // ran while its ack is unanswered
    expect(await r.get({ timeoutMs: 2000 })).toBe('done');
    await flush();
    expect(worker.active).toBe(1); // its handling waits for the ack's reply
    reply.reject(new Error('connection lost'));
    await waitFor(() => worker.active === 0, 'the delivery handled');
    const line = env.lines.find((l) => String(l.msg).startsWith('early ack failed'));
    expect(line).toMatchObject({ taskId: r.id, taskName: 't.quick' });
    expect(env.broker.settlements(r.id)).toEqual([]);
  });
});

describe('late ack', () => {
  it('setting taskAcksLate acks after the task finished', async () => {
    const { timeline } = await timelineOf({ taskAcksLate: true }, {});
    expect(timeline).toEqual(['deliver:task-1', 'run:task-1', 'end:task-1', 'ack:task-1']);
  });

  it('per-task acksLate: true acks after the task finished', async () => {
    const { timeline } = await timelineOf({}, { acksLate: true });
    expect(timeline).toEqual(['deliver:task-1', 'run:task-1', 'end:task-1', 'ack:task-1']);
  });

  it('holds the message unacked while the task runs', async () => {
    const env = makeEnv({ taskAcksLate: true });
    const started = deferred();
    const release = deferred();
    const t = env.app.task('t.hold', async () => {
      started.resolve();
      await release.promise;
      return 'ok';
    });
    await env.startWorker();
    const r = await t.delay();
    await started.promise;
    await flush();
    expect(env.broker.settlements(r.id)).toEqual([]);
    release.resolve();
    await r.get({ timeoutMs: 2000 });
    await flush();
    expect(env.broker.settlements(r.id)).toEqual(['ack']);
  });

  it('acks a failed task by default (acksOnFailureOrTimeout true)', async () => {
    const { env, id, timeline } = await timelineOf({ taskAcksLate: true }, {}, true);
    expect(timeline.at(-1)).toBe('ack:task-1');
    expect(env.broker.settlements(id)).toEqual(['ack']);
  });

  it('acksOnFailureOrTimeout false: a failed task is rejected without requeue and its FAILURE stored', async () => {
    const { env, id } = await timelineOf({ taskAcksLate: true, taskAcksOnFailureOrTimeout: false }, {}, true);
    expect(env.broker.settlements(id)).toEqual(['reject']);
    expect(env.broker.of('reject', id)[0]?.requeue).toBe(false);
    expect(await env.broker.queueLength('celery')).toBe(0);
    expect((await env.backend.get(id))?.result).toMatchObject({ exc_type: 'TypeError' });
  });

  it('per-task acksOnFailureOrTimeout: false rejects the failure', async () => {
    const { env, id } = await timelineOf({ taskAcksLate: true }, { acksOnFailureOrTimeout: false }, true);
    expect(env.broker.settlements(id)).toEqual(['reject']);
  });

  it('a successful late-ack task is acked even with acksOnFailureOrTimeout false', async () => {
    const { env, id } = await timelineOf({ taskAcksLate: true, taskAcksOnFailureOrTimeout: false }, {});
    expect(env.broker.settlements(id)).toEqual(['ack']);
  });
});

describe('trackStarted', () => {
  async function seeStarted(settings: Settings, options: TaskOptions & { bind?: false }) {
    const env = makeEnv(settings);
    const started = deferred();
    const release = deferred();
    const t = env.app.task('t.tracked', options, async () => {
      started.resolve();
      await release.promise;
      return 'done';
    });
    const worker = await env.startWorker({ hostname: 'tracker@box' });
    const r = await t.delay();
    await started.promise;
    const meta = await waitForState(env, r.id, 'STARTED');
    expect(meta).toMatchObject({ status: 'STARTED', result: { pid: process.pid, hostname: worker.hostname }, date_done: null, task_id: r.id });
    expect(await r.state()).toBe('STARTED');
    release.resolve();
    expect(await r.get({ timeoutMs: 2000 })).toBe('done');
  }

  it('setting taskTrackStarted stores STARTED with pid and hostname while the task runs', async () => {
    await seeStarted({ taskTrackStarted: true }, {});
  });

  it('per-task trackStarted: true does the same', async () => {
    await seeStarted({}, { trackStarted: true });
  });

  it('without it the task stays PENDING while running', async () => {
    const env = makeEnv();
    const started = deferred();
    const release = deferred();
    const t = env.app.task('t.untracked', async () => {
      started.resolve();
      await release.promise;
    });
    await env.startWorker();
    const r = await t.delay();
    await started.promise;
    await flush();
    expect(await r.state()).toBe('PENDING');
    release.resolve();
    await r.get({ timeoutMs: 2000 });
  });
});
