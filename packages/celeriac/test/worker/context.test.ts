/**
 * What a running task sees on a worker: ctx.request, ctx.updateState, ctx.log; ids of
 * tasks sent from inside a task; and kwargs mapped onto positions with `params`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { GroupResult, type TaskRequest } from 'celeriac';
import { closeEnvs, deferred, makeEnv, waitFor, waitForState } from './helpers.js';

afterEach(closeEnvs);

describe('ctx.request', () => {
  it('carries id, task, args, kwargs, retries, parent/root ids, hostname and delivery info', async () => {
    const env = makeEnv();
    let seen: TaskRequest | null = null;
    const t = env.app.task('t.who', { bind: true, params: ['a', 'b'] }, (ctx, a: number, b: number) => {
      seen = ctx.request;
      return a + b;
    });
    const worker = await env.startWorker({ queues: ['jobs'], hostname: 'ctx@box' });
    const r = await t.applyAsync([1], { queue: 'jobs', kwargs: { b: 2 }, headers: { 'x-trace': 'abc' } });
    expect(await r.get({ timeoutMs: 2000 })).toBe(3);
    expect(seen).toMatchObject({
      id: r.id,
      task: 't.who',
      args: [1],
      kwargs: { b: 2 },
      retries: 0,
      parentId: null,
      rootId: r.id,
      groupId: null,
      hostname: worker.hostname,
      isEager: false,
      eta: null,
      expires: null,
      ignoreResult: false,
      correlationId: r.id,
      replyTo: env.app.replyTo,
      headers: { 'x-trace': 'abc' },
      deliveryInfo: { exchange: '', routing_key: 'jobs', redelivered: false, priority: 0 },
    });
    expect(seen!.hostname).toBe('ctx@box');
  });

  it('reports the time limits in force', async () => {
    const env = makeEnv({}, { fakeClock: true });
    let limits: readonly (number | null)[] = [];
    const t = env.app.task('t.limits', { bind: true, timeLimitSec: 30, softTimeLimitSec: 20 }, (ctx) => {
      limits = ctx.request.timeLimit;
    });
    await env.startWorker();
    await (await t.delay()).get({ timeoutMs: 2000 });
    expect(limits).toEqual([30, 20]);
  });
});

describe('ctx.updateState', () => {
  it('makes PROGRESS and its meta visible through AsyncResult while the task runs', async () => {
    const env = makeEnv();
    const reported = deferred();
    const release = deferred();
    const t = env.app.task('t.progress', { bind: true }, async (ctx, total: number) => {
      await ctx.updateState('PROGRESS', { done: 1, total });
      reported.resolve();
      await release.promise;
      return total;
    });
    await env.startWorker();
    const r = await t.delay(4);
    await reported.promise;
    expect(await r.state()).toBe('PROGRESS');
    expect(await r.info()).toEqual({ done: 1, total: 4 });
    expect(await r.ready()).toBe(false);
    const meta = await env.backend.get(r.id);
    expect(meta).toMatchObject({ status: 'PROGRESS', date_done: null, task_id: r.id });
    release.resolve();
    expect(await r.get({ timeoutMs: 2000 })).toBe(4);
    expect(await r.state()).toBe('SUCCESS');
  });
});

describe('hostile calls of the context', () => {
  it('refuses a state that is not a non-empty string, and event fields that are not an object', async () => {
    const env = makeEnv();
    const outcomes: string[] = [];
    const t = env.app.task('t.hostile', { bind: true }, async (ctx) => {
      for (const call of [() => ctx.updateState('' as never), () => ctx.updateState(5 as never, {}), () => ctx.sendEvent('task-progress', 'x' as never), () => ctx.sendEvent('task-progress', [1] as never)]) {
        outcomes.push(await Promise.resolve().then(call).then(() => 'taken', (err: Error & { code?: string }) => `${err.code}: ${err.message}`));
      }
      return 'done';
    });
    await env.startWorker();
    const r = await t.delay();
    expect(await r.get({ timeoutMs: 2000 })).toBe('done');
    expect(outcomes).toEqual([
      `CELERIAC_ERR_INVALID_ARGUMENT: ctx.updateState: the state must be a non-empty string such as 'PROGRESS', got ""`,
      `CELERIAC_ERR_INVALID_ARGUMENT: ctx.updateState: the state must be a non-empty string such as 'PROGRESS', got 5`,
      'CELERIAC_ERR_INVALID_ARGUMENT: ctx.sendEvent: fields must be an object of field names and values, got "x"',
      'CELERIAC_ERR_INVALID_ARGUMENT: ctx.sendEvent: fields must be an object of field names and values, got an array',
    ]);
    await expect(GroupResult.restore(env.app, 5 as never)).rejects.toThrow(/^GroupResult\.restore\(\): a group id must be a non-empty string, got 5$/);
  });
});

describe('ctx.log', () => {
  it('every line carries taskId, taskName and the worker name', async () => {
    const env = makeEnv();
    const t = env.app.task('t.chatty', { bind: true }, (ctx) => {
      ctx.log.info({ step: 1 }, 'hello from the task');
      ctx.log.warn('second line');
    });
    await env.startWorker({ hostname: 'logger@box' });
    const r = await t.delay();
    await r.get({ timeoutMs: 2000 });
    const first = env.lines.find((l) => l.msg === 'hello from the task');
    const second = env.lines.find((l) => l.msg === 'second line');
    expect(first).toMatchObject({ taskId: r.id, taskName: 't.chatty', worker: 'logger@box', step: 1 });
    expect(second).toMatchObject({ taskId: r.id, taskName: 't.chatty' });
  });

  it('the worker logs success with the task id and name', async () => {
    const env = makeEnv();
    const t = env.app.task('t.quiet', () => 1);
    await env.startWorker();
    const r = await t.delay();
    await r.get({ timeoutMs: 2000 });
    const line = await waitFor(() => env.lines.find((l) => l.taskId === r.id && String(l.msg).includes('succeeded')), 'success line');
    expect(line).toMatchObject({ taskName: 't.quiet' });
  });
});

describe('tasks sent from inside a task', () => {
  it('get parent_id = sender and root_id = the first task, two levels down', async () => {
    const env = makeEnv();
    const requests = new Map<string, TaskRequest>();
    const leaf = env.app.task('t.leaf', { bind: true }, (ctx) => {
      requests.set('leaf', ctx.request);
      return 'leaf';
    });
    const middle = env.app.task('t.middle', { bind: true }, async (ctx) => {
      requests.set('middle', ctx.request);
      return (await leaf.delay()).id;
    });
    const top = env.app.task('t.top', { bind: true }, async (ctx) => {
      requests.set('top', ctx.request);
      return (await middle.delay()).id;
    });
    await env.startWorker();
    const r = await top.delay();
    const middleId = (await r.get({ timeoutMs: 2000 })) as string;
    const leafId = (await env.app.asyncResult<string>(middleId).get({ timeoutMs: 2000 })) as string;
    await waitForState(env, leafId, 'SUCCESS');
    expect(requests.get('middle')).toMatchObject({ id: middleId, parentId: r.id, rootId: r.id });
    expect(requests.get('leaf')).toMatchObject({ id: leafId, parentId: middleId, rootId: r.id });
    expect((await env.backend.get(middleId))?.parent_id).toBe(r.id);
    expect((await env.backend.get(leafId))?.parent_id).toBe(middleId);
  });

  it('a plain (not async) task that sends gets the same ids', async () => {
    const env = makeEnv();
    let leafRequest: TaskRequest | null = null;
    const leaf = env.app.task('t.leaf2', { bind: true }, (ctx) => {
      leafRequest = ctx.request;
    });
    const sender = env.app.task('t.sender', () => leaf.delay().then((r) => r.id));
    await env.startWorker();
    const r = await sender.delay();
    const leafId = (await r.get({ timeoutMs: 2000 })) as string;
    await waitForState(env, leafId, 'SUCCESS');
    expect(leafRequest).toMatchObject({ id: leafId, parentId: r.id, rootId: r.id });
  });

  it('a task sent from outside any task has no parent and is its own root', async () => {
    const env = makeEnv();
    let request: TaskRequest | null = null;
    const t = env.app.task('t.plain', { bind: true }, (ctx) => {
      request = ctx.request;
    });
    await env.startWorker();
    const r = await t.delay();
    await r.get({ timeoutMs: 2000 });
    expect(request).toMatchObject({ parentId: null, rootId: r.id });
  });
});

describe('kwargs', () => {
  it('reach a task declared with params in the right positions', async () => {
    const env = makeEnv();
    const sub = env.app.task('t.sub', { params: ['x', 'y'] }, (x: number, y: number) => x - y);
    await env.startWorker();
    const r1 = await sub.applyAsync([], { kwargs: { y: 2, x: 10 } });
    const r2 = await sub.applyAsync([10], { kwargs: { y: 3 } });
    // As Python's apply_async(kwargs=...) would send them, by name.
    const r3 = await env.app.sendTask('t.sub', [], { x: 1, y: 5 });
    expect(await r1.get({ timeoutMs: 2000 })).toBe(8);
    expect(await r2.get({ timeoutMs: 2000 })).toBe(7);
    expect(await r3.get({ timeoutMs: 2000 })).toBe(-4);
  });

  it('a task without params fails with TypeError naming the kwarg', async () => {
    const env = makeEnv();
    env.app.task('t.noparams', (x: number) => x);
    await env.startWorker();
    const r = await env.app.sendTask('t.noparams', [], { x: 1 });
    const meta = await waitForState(env, r.id, 'FAILURE');
    expect(meta.result).toMatchObject({ exc_type: 'TypeError', exc_module: 'builtins' });
    expect(JSON.stringify(meta.result)).toContain("'x'");
  });

  it('an unknown kwarg and a doubled argument fail like Python', async () => {
    const env = makeEnv();
    env.app.task('t.two', { params: ['x', 'y'] }, (x: number, y: number) => x + y);
    await env.startWorker();
    const unknown = await env.app.sendTask('t.two', [1], { z: 1 });
    const doubled = await env.app.sendTask('t.two', [1], { x: 2 });
    const m1 = await waitForState(env, unknown.id, 'FAILURE');
    const m2 = await waitForState(env, doubled.id, 'FAILURE');
    expect(m1.result).toMatchObject({ exc_type: 'TypeError', exc_message: ["t.two() got an unexpected keyword argument 'z'"] });
    expect(m2.result).toMatchObject({ exc_type: 'TypeError', exc_message: ["t.two() got multiple values for argument 'x'"] });
  });
});
