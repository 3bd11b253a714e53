/**
 * The worker reports each step of a task's life through `onTaskEvent`, in order, and a
 * listener that throws neither breaks the task nor silences other listeners.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TaskEvent } from 'celeriac';
import { closeEnvs, makeEnv, waitFor, waitForState } from './helpers.js';

afterEach(closeEnvs);

const brief = (e: TaskEvent) => `${e.type}:${e.message.headers.task}`;

describe('task events', () => {
  it('received, started, succeeded for a task that returns; failed with its traceback for one that throws', async () => {
    const env = makeEnv();
    const ok = env.app.task('t.ok', (x: number) => x * 2);
    const bad = env.app.task('t.bad', () => {
      throw new RangeError('nope');
    });
    const worker = await env.startWorker({ concurrency: 1 });
    const events: TaskEvent[] = [];
    worker.onTaskEvent((e) => events.push(e));
    const r1 = await ok.delay(21);
    await waitForState(env, r1.id, 'SUCCESS');
    const r2 = await bad.delay();
    await waitForState(env, r2.id, 'FAILURE');
    await waitFor(() => events.length >= 6, 'six events');
    expect(events.map(brief)).toEqual([
      'task-received:t.ok',
      'task-started:t.ok',
      'task-succeeded:t.ok',
      'task-received:t.bad',
      'task-started:t.bad',
      'task-failed:t.bad',
    ]);
    const succeeded = events[2] as Extract<TaskEvent, { type: 'task-succeeded' }>;
    expect(succeeded.result).toBe(42);
    expect(succeeded.runtime).toBeGreaterThanOrEqual(0);
    const failed = events[5] as Extract<TaskEvent, { type: 'task-failed' }>;
    expect(failed.error).toBeInstanceOf(RangeError);
    expect(failed.traceback).toContain('RangeError: nope');
  });

  it('a revoked or expired task reports task-revoked with the reason flags', async () => {
    const env = makeEnv();
    const t = env.app.task('t.victim', () => 1);
    const revoked = await t.delay();
    await revoked.revoke();
    const expired = await t.applyAsync([], { expires: new Date(Date.now() - 1000) });
    const worker = await env.startWorker({ concurrency: 1 });
    const events: TaskEvent[] = [];
    worker.onTaskEvent((e) => events.push(e));
    await waitForState(env, expired.id, 'REVOKED');
    await waitForState(env, revoked.id, 'REVOKED');
    await waitFor(() => events.filter((e) => e.type === 'task-revoked').length === 2, 'two revoked events');
    const byId = new Map(events.filter((e) => e.type === 'task-revoked').map((e) => [e.message.headers.id, e]));
    expect(byId.get(revoked.id)).toMatchObject({ expired: false, terminated: false, signum: null });
    expect(byId.get(expired.id)).toMatchObject({ expired: true, terminated: false });
  });

  it('a throwing listener is logged; the task still succeeds and other listeners still hear', async () => {
    const env = makeEnv();
    const ok = env.app.task('t.ok', () => 'done');
    const worker = await env.startWorker();
    worker.onTaskEvent(() => {
      throw new Error('listener bug');
    });
    const heard: string[] = [];
    const stop = worker.onTaskEvent((e) => heard.push(e.type));
    const r = await ok.delay();
    await expect(r.get({ timeoutMs: 2000 })).resolves.toBe('done');
    await waitFor(() => heard.includes('task-succeeded'), 'succeeded heard');
    expect(env.lines.some((l) => l.msg === 'task event listener threw')).toBe(true);
    stop();
    const r2 = await ok.delay();
    await r2.get({ timeoutMs: 2000 });
    expect(heard.filter((t) => t === 'task-succeeded')).toHaveLength(1);
  });
});
