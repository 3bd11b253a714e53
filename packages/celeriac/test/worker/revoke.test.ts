/**
 * Revokes on the memory broker and backend: the worker's in-memory revoked set (loaded at
 * start, fed by backend notices, no backend call per message), revokes honoured before a
 * task starts, and terminate of a running task.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TaskRevokedError, type TaskEvent } from 'celeriac';
import { closeEnvs, deferred, flush, Gate, makeEnv, waitFor, waitForState } from './helpers.js';

afterEach(closeEnvs);

describe('the worker revoked set', () => {
  it('loads revokes stored before it started and asks the backend nothing per message', async () => {
    const env = makeEnv();
    let runs = 0;
    const t = env.app.task('t.victim', () => ++runs);
    const ok = env.app.task('t.ok', () => 'ok');
    const r = await t.delay();
    await r.revoke();
    const revoked = vi.spyOn(env.backend, 'revoked');
    const worker = await env.startWorker();
    await waitForState(env, r.id, 'REVOKED');
    expect(await (await ok.delay()).get({ timeoutMs: 2000 })).toBe('ok');
    expect(revoked).not.toHaveBeenCalled();
    expect(worker.revokedIds()).toEqual([r.id]);
    expect(runs).toBe(0);
  });

  it('learns of a revoke made while it runs (AsyncResult.revoke) and skips the task later', async () => {
    const env = makeEnv({}, { fakeClock: true });
    let runs = 0;
    const t = env.app.task('t.later', () => ++runs);
    const worker = await env.startWorker();
    const r = await t.applyAsync([], { countdown: 60 });
    await r.revoke();
    await waitFor(() => worker.revokedIds().includes(r.id), 'the notice');
    env.clock!.advance(60_000);
    const meta = await waitForState(env, r.id, 'REVOKED');
    expect(meta.result).toMatchObject({ exc_message: ['revoked'] });
    expect(runs).toBe(0);
  });

  it('worker.revoke() persists for workers started later, and skips a message waiting for a slot', async () => {
    const env = makeEnv();
    const gate = new Gate();
    const block = env.app.task('t.block', () => gate.enter());
    let runs = 0;
    const victim = env.app.task('t.victim', () => ++runs);
    const events: TaskEvent[] = [];
    const worker = await env.startWorker({ concurrency: 1 });
    worker.onTaskEvent((e) => events.push(e));
    await block.delay();
    await waitFor(() => gate.blocked === 1, 'the slot taken');
    const r = await victim.delay();
    await waitFor(() => worker.reserved === 1, 'the victim waiting for the slot');
    const result = await worker.revoke(r.id);
    expect(result).toEqual({ revoked: [r.id], terminated: [] });
    gate.releaseAll();
    await waitForState(env, r.id, 'REVOKED');
    expect(runs).toBe(0);
    expect(events.filter((e) => e.type === 'task-revoked')).toEqual([
      expect.objectContaining({ expired: false, terminated: false, signum: null }),
    ]);
    expect((await env.backend.revoked([r.id])).has(r.id)).toBe(true);
    const local = await worker.revoke(['a', 'b'], { persist: false });
    expect(local.revoked).toEqual(['a', 'b']);
    expect((await env.backend.revoked(['a'])).size).toBe(0);
  });

  it('rejects an unknown signal name', async () => {
    const env = makeEnv();
    const worker = await env.startWorker();
    await expect(worker.revoke('x', { terminate: true, signal: 'SIGNOPE' })).rejects.toThrow(/unknown signal/);
  });
});

describe('terminate', () => {
  it('stops a running task: signal aborted, REVOKED "terminated", slot freed, acked, event with signum', async () => {
    const env = makeEnv({ taskAcksLate: true });
    const started = deferred();
    let reason: unknown = null;
    const stubborn = env.app.task('t.stubborn', { bind: true }, async (ctx) => {
      ctx.signal.addEventListener('abort', () => (reason = ctx.signal.reason));
      started.resolve();
      // Ignores its signal and never ends: the async pool cannot kill it, only free its slot.
      await new Promise(() => undefined);
    });
    const next = env.app.task('t.next', () => 'ran');
    const events: TaskEvent[] = [];
    const worker = await env.startWorker({ concurrency: 1 });
    worker.onTaskEvent((e) => events.push(e));
    const r = await stubborn.delay();
    await started.promise;
    const n = await next.delay();
    await r.revoke({ terminate: true, signal: 'SIGKILL' });
    const meta = await waitForState(env, r.id, 'REVOKED');
    expect(meta.result).toEqual({ exc_type: 'TaskRevokedError', exc_message: ['terminated'], exc_module: 'celery.exceptions' });
    expect(reason).toBeInstanceOf(TaskRevokedError);
    expect(await n.get({ timeoutMs: 2000 })).toBe('ran');
    expect(env.broker.settlements(r.id)).toEqual(['ack']);
    expect(events.find((e) => e.type === 'task-revoked')).toMatchObject({ terminated: true, expired: false, signum: '9' });
    await expect(r.get({ timeoutMs: 1000 })).rejects.toMatchObject({ reason: 'terminated' });
  });

  it('worker.revoke with terminate names the tasks it stopped; a revoke without terminate lets it finish', async () => {
    const env = makeEnv();
    const gate = new Gate();
    const t = env.app.task('t.gated', () => gate.enter().then(() => 'finished'));
    const worker = await env.startWorker({ concurrency: 2 });
    const a = await t.delay();
    const b = await t.delay();
    await waitFor(() => gate.blocked === 2, 'both running');
    expect((await worker.revoke(a.id)).terminated).toEqual([]);
    expect((await worker.revoke(b.id, { terminate: true, signal: 'TERM' })).terminated).toEqual([b.id]);
    await waitForState(env, b.id, 'REVOKED');
    gate.releaseAll();
    expect(await a.get({ timeoutMs: 2000 })).toBe('finished');
    await flush();
    expect((await env.backend.get(b.id))?.status).toBe('REVOKED');
  });
});
