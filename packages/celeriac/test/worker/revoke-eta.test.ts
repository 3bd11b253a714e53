/**
 * Tasks that must not run now: revoked and expired ones (REVOKED stored, never run), and
 * countdown / ETA ones (held by the broker, run only once due), with a fake clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TaskRevokedError } from 'celeriac';
import { buildTaskMessage } from '../../src/core/producer.js';
import { encodeTaskMessage } from '../../src/protocol/task-message.js';
import { closeEnvs, deferred, flush, makeEnv, waitFor, waitForState } from './helpers.js';

afterEach(closeEnvs);

describe('revoked and expired', () => {
  it('a task revoked before the worker receives it is not run: REVOKED "revoked", acked', async () => {
    const env = makeEnv();
    let runs = 0;
    const t = env.app.task('t.victim', () => ++runs);
    const r = await t.delay();
    await r.revoke();
    await env.startWorker();
    const meta = await waitForState(env, r.id, 'REVOKED');
    expect(meta).toMatchObject({
      status: 'REVOKED',
      result: { exc_type: 'TaskRevokedError', exc_message: ['revoked'], exc_module: 'celery.exceptions' },
      date_done: expect.any(String),
    });
    const err = await r.get({ timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskRevokedError);
    expect((err as TaskRevokedError).reason).toBe('revoked');
    await flush();
    expect(runs).toBe(0);
    expect(env.broker.settlements(r.id)).toEqual(['ack']);
  });

  it('late ack: a revoked task is acked too (not requeued)', async () => {
    const env = makeEnv({ taskAcksLate: true });
    let runs = 0;
    const t = env.app.task('t.victim', () => ++runs);
    const r = await t.delay();
    await r.revoke();
    await env.startWorker();
    await waitForState(env, r.id, 'REVOKED');
    await flush();
    expect(env.broker.settlements(r.id)).toEqual(['ack']);
    expect(runs).toBe(0);
  });

  it('an expired task is not run: REVOKED "expired", and its id is remembered as revoked', async () => {
    const env = makeEnv();
    let runs = 0;
    const t = env.app.task('t.victim', () => ++runs);
    const r = await t.applyAsync([], { expires: new Date(Date.now() - 1000) });
    const worker = await env.startWorker();
    const meta = await waitForState(env, r.id, 'REVOKED');
    expect(meta.result).toEqual({ exc_type: 'TaskRevokedError', exc_message: ['expired'], exc_module: 'celery.exceptions' });
    await expect(r.get({ timeoutMs: 2000 })).rejects.toMatchObject({ reason: 'expired' });
    // In the worker's revoked set, as Celery; not written to the backend (every worker can see the expiry itself).
    expect(worker.revokedIds()).toEqual([r.id]);
    expect((await env.backend.revoked([r.id])).has(r.id)).toBe(false);
    expect(runs).toBe(0);
  });

  it('a task whose expiry passes while it waits for a pool slot is not run: REVOKED "expired", task-revoked (as Celery looks again before it runs)', async () => {
    // Before: it was judged on arrival only, and ran once a slot came up, long after it expired.
    const env = makeEnv({}, { fakeClock: true });
    const hold = deferred();
    const started = deferred();
    const ran: string[] = [];
    const slow = env.app.task('t.slow', async () => {
      started.resolve();
      await hold.promise;
    });
    const quick = env.app.task('t.quick', () => void ran.push('quick'));
    const worker = await env.startWorker({ concurrency: 1 });
    const events: string[] = [];
    worker.onTaskEvent((e) => events.push(`${e.message.headers.task}:${e.type}${e.type === 'task-revoked' && e.expired ? ':expired' : ''}`));
    await slow.delay();
    await started.promise;
    const r = await quick.applyAsync([], { expires: 10 });
    await waitFor(() => events.includes('t.quick:task-received'), 'prefetched');
    env.clock!.advance(10_000);
    hold.resolve();
    const meta = await waitForState(env, r.id, 'REVOKED');
    expect(meta.result).toEqual({ exc_type: 'TaskRevokedError', exc_message: ['expired'], exc_module: 'celery.exceptions' });
    await flush();
    expect(ran).toEqual([]);
    expect(events.filter((e) => e.startsWith('t.quick'))).toEqual(['t.quick:task-received', 't.quick:task-revoked:expired']);
    expect(worker.revokedIds()).toEqual([r.id]);
    expect(env.broker.settlements(r.id)).toEqual(['ack']);
  });

  it('a task that expires in the future runs', async () => {
    const env = makeEnv();
    const t = env.app.task('t.fresh', () => 'ran');
    const r = await t.applyAsync([], { expires: 60 });
    await env.startWorker();
    expect(await r.get({ timeoutMs: 2000 })).toBe('ran');
  });

  it('expiry is judged by the injected clock', async () => {
    const env = makeEnv({}, { fakeClock: true });
    let runs = 0;
    const t = env.app.task('t.victim', () => ++runs);
    const r = await t.applyAsync([], { expires: 10 });
    env.clock?.advance(10_000);
    await env.startWorker();
    await waitForState(env, r.id, 'REVOKED');
    expect(runs).toBe(0);
  });
});

describe('countdown and ETA (fake clock)', () => {
  it('a countdown task does not run before its time and runs once after', async () => {
    const env = makeEnv({}, { fakeClock: true });
    const clock = env.clock!;
    const sent = clock.now();
    const ranAt: number[] = [];
    const t = env.app.task('t.later', () => {
      ranAt.push(clock.now());
      return 'on time';
    });
    await env.startWorker();
    const r = await t.applyAsync([], { countdown: 10 });
    await flush();
    // Held by the broker, not in the queue and not in the worker.
    expect(await env.broker.queueLength('celery')).toBe(0);
    expect(env.broker.of('deliver')).toHaveLength(0);
    clock.advance(9_999);
    await flush();
    expect(ranAt).toEqual([]);
    expect(await r.state()).toBe('PENDING');
    clock.advance(1);
    expect(await r.get({ timeoutMs: 2000 })).toBe('on time');
    expect(ranAt).toEqual([sent + 10_000]);
    expect(env.broker.of('defer')).toHaveLength(0);
  });

  it('an eta (Date) works like a countdown', async () => {
    const env = makeEnv({}, { fakeClock: true });
    const clock = env.clock!;
    let runs = 0;
    const t = env.app.task('t.eta', () => ++runs);
    await env.startWorker();
    const r = await t.applyAsync([], { eta: new Date(clock.now() + 5_000) });
    clock.advance(4_000);
    await flush();
    expect(runs).toBe(0);
    clock.advance(1_000);
    expect(await r.get({ timeoutMs: 2000 })).toBe(1);
  });

  it('a message put straight in the queue with a future ETA (as Python does) is deferred, not run early', async () => {
    const env = makeEnv({}, { fakeClock: true });
    const clock = env.clock!;
    const ranAt: number[] = [];
    env.app.task('t.py_eta', () => {
      ranAt.push(clock.now());
      return 'ok';
    });
    await env.startWorker();
    const out = buildTaskMessage(env.app, 't.py_eta', [], {}, { countdown: 30 });
    const id = out.message.headers.id;
    const eta = clock.now() + 30_000;
    expect(out.message.headers.eta).not.toBeNull();
    // No deliverAt: the broker hands it out at once, the worker must hold off.
    await env.broker.publish(encodeTaskMessage(out.message), { exchange: '', routingKey: 'celery' });
    await waitFor(() => env.broker.of('defer', id).length === 1, 'defer');
    expect(env.broker.of('defer', id)[0]?.deliverAt).toBe(eta);
    expect(ranAt).toEqual([]);
    clock.advance(29_999);
    await flush();
    expect(ranAt).toEqual([]);
    expect(env.broker.of('deliver', id)).toHaveLength(1);
    clock.advance(1);
    await waitForState(env, id, 'SUCCESS');
    expect(ranAt).toEqual([eta]);
    expect(env.broker.settlements(id)).toEqual(['defer', 'ack']);
  });

  it('a queued message whose ETA has passed runs at once', async () => {
    const env = makeEnv({}, { fakeClock: true });
    env.app.task('t.past', () => 'ok');
    await env.startWorker();
    const out = buildTaskMessage(env.app, 't.past', [], {}, { countdown: 5 });
    env.clock!.advance(6_000);
    await env.broker.publish(encodeTaskMessage(out.message), { exchange: '', routingKey: 'celery' });
    await waitForState(env, out.message.headers.id, 'SUCCESS');
    expect(env.broker.of('defer')).toHaveLength(0);
  });
});
