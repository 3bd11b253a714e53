import { describe, expect, it } from 'vitest';
import { createTestApp } from '../testing/test-app.js';
import { EagerResult } from './async-result.js';
import { Ignore, Reject, TaskError } from './task-errors.js';

describe('eager mode', () => {
  it('runs the task in the caller without broker or backend', async () => {
    const { app, broker, backend } = createTestApp({ taskAlwaysEager: true });
    const add = app.task('e.add', (x: number, y: number) => x + y);
    const r = await add.delay(2, 3);
    expect(r).toBeInstanceOf(EagerResult);
    expect(await r.get()).toBe(5);
    expect(await r.state()).toBe('SUCCESS');
    expect(await broker.queueLength('celery')).toBe(0);
    expect(await backend.get(r.id)).toBeNull();
  });

  it('stores failures in the result, or throws with taskEagerPropagates', async () => {
    const a = createTestApp({ taskAlwaysEager: true });
    const bad = a.app.task('e.bad', () => {
      throw new TypeError('wrong');
    });
    const r = await bad.delay();
    expect(await r.state()).toBe('FAILURE');
    await expect(r.get()).rejects.toBeInstanceOf(TaskError);
    const b = createTestApp({ taskAlwaysEager: true, taskEagerPropagates: true });
    const bad2 = b.app.task('e.bad', () => {
      throw new TypeError('wrong');
    });
    await expect(bad2.delay()).rejects.toThrow(TypeError);
  });

  it('runs link callbacks and errbacks eagerly, with the bound context', async () => {
    const { app } = createTestApp({ taskAlwaysEager: true });
    const seen: unknown[] = [];
    const add = app.task('e.add', (x: number, y: number) => x + y);
    const record = app.task('e.record', { bind: true }, (ctx, value: unknown) => {
      seen.push([value, ctx.request.isEager, ctx.request.parentId !== null]);
      return value;
    });
    const fail = app.task('e.fail', () => {
      throw new Error('x');
    });
    const r = await add.applyAsync([1, 2], { link: record.s() });
    expect(await r.get()).toBe(3);
    expect((await r.children()).length).toBe(1);
    const f = await fail.applyAsync([], { linkError: record.s() });
    expect(await f.state()).toBe('FAILURE');
    expect(seen).toEqual([
      [3, true, true],
      [f.id, true, true],
    ]);
  });

  it('sends unknown task names to the broker even in eager mode', async () => {
    const { app, broker } = createTestApp({ taskAlwaysEager: true });
    await app.sendTask('elsewhere.task', [1]);
    expect(await broker.queueLength('celery')).toBe(1);
  });
});

describe('eager mode: retries, Reject and Ignore', () => {
  it('runs a retried task again at once with retries + 1, until it succeeds', async () => {
    const { app } = createTestApp({ taskAlwaysEager: true });
    const seen: number[] = [];
    const flaky = app.task('e.flaky', { bind: true }, (ctx) => {
      seen.push(ctx.request.retries);
      if (ctx.request.retries < 2) ctx.retry({ countdown: 60, exc: new Error('not yet') });
      return 'done';
    });
    const r = await flaky.delay();
    expect(await r.get()).toBe('done');
    expect(seen).toEqual([0, 1, 2]);
  });

  it('autoretryFor retries in eager mode and fails with the error once maxRetries is spent', async () => {
    const { app } = createTestApp({ taskAlwaysEager: true });
    let runs = 0;
    const always = app.task('e.always', { autoretryFor: [RangeError], maxRetries: 2 }, () => {
      runs++;
      throw new RangeError('still bad');
    });
    const r = await always.delay();
    expect(await r.state()).toBe('FAILURE');
    await expect(r.get()).rejects.toMatchObject({ excType: 'RangeError', message: 'still bad' });
    expect(runs).toBe(3);
  });

  it('Ignore and Reject end in IGNORED and REJECTED, as Celery\'s apply()', async () => {
    const { app } = createTestApp({ taskAlwaysEager: true });
    const ignored = app.task('e.ignored', () => {
      throw new Ignore();
    });
    const rejected = app.task('e.rejected', () => {
      throw new Reject({ requeue: true });
    });
    expect(await (await ignored.delay()).state()).toBe('IGNORED');
    expect(await (await rejected.delay()).state()).toBe('REJECTED');
  });

  it('fires the body signals and task hooks in the caller, and no publish signals', async () => {
    const { app } = createTestApp({ taskAlwaysEager: true });
    const seen: string[] = [];
    app.on('beforeTaskPublish', () => void seen.push('publish'));
    app.on('taskPrerun', (p) => void seen.push(`prerun:${p.request.isEager}`));
    app.on('taskSuccess', (p) => void seen.push(`success:${String(p.result)}`));
    app.on('taskPostrun', (p) => void seen.push(`postrun:${p.state}`));
    const add = app.task('e.hooked', { onSuccess: (r) => void seen.push(`onSuccess:${String(r)}`) }, (x: number) => x * 2);
    expect(await (await add.delay(4)).get()).toBe(8);
    expect(seen).toEqual(['prerun:true', 'onSuccess:8', 'success:8', 'postrun:SUCCESS']);
  });

  it('refuses a hook that is not a function, and names after for after_return', () => {
    const { app } = createTestApp({ taskAlwaysEager: true });
    expect(() => app.task('e.bad_hook', { onFailure: 'x' as never }, () => 1)).toThrow(/onFailure must be a function/);
    expect(() => app.task('e.after_return', { after_return: () => 1 } as never, () => 1)).toThrow(/named `after` here/);
  });
});
