/**
 * Celery's AsyncResult/GroupResult habits: status/result/wait aliases, collect() walking the
 * children graph, forget() of parents and of unknown ids, and the handle not being a thenable.
 */
import { describe, expect, it } from 'vitest';
import { createTestApp } from '../testing/test-app.js';
import type { ResultMeta } from '../protocol/types.js';
import { AsyncResult } from './async-result.js';
import { GroupResult } from './group-result.js';
import { ResultTimeoutError, TaskError } from './task-errors.js';

function meta(id: string, status: string, result: ResultMeta['result'], extra: Partial<ResultMeta> = {}): ResultMeta {
  return { status, result, traceback: null, children: [], date_done: null, task_id: id, ...extra };
}
const failure = { exc_type: 'ValueError', exc_message: ['boom'], exc_module: 'builtins' };
const store = { expiresSec: null };

describe('AsyncResult, as a Celery user expects', () => {
  it('status(), result() and wait() are state(), info() and get()', async () => {
    const { app, backend } = createTestApp();
    const r = app.asyncResult<number>('a1');
    expect(await r.status()).toBe('PENDING');
    expect(await r.result()).toBeNull();
    await backend.store(meta('a1', 'PROGRESS', { done: 1 }), store);
    expect(await r.status()).toBe('PROGRESS');
    expect(await r.result()).toEqual({ done: 1 });
    await backend.store(meta('a1', 'SUCCESS', 5), store);
    expect(await r.wait({ timeoutMs: 1000 })).toBe(5);
    expect(await r.result()).toBe(5);
    await backend.store(meta('f1', 'FAILURE', failure), store);
    expect(await app.asyncResult('f1').result()).toBeInstanceOf(TaskError);
    await expect(app.asyncResult('f1').wait()).rejects.toBeInstanceOf(TaskError);
    expect(await app.asyncResult('f1').wait({ propagate: false })).toBeInstanceOf(TaskError);
  });

  it('is not a thenable: awaiting a send gives the handle, not the value', async () => {
    const { app, backend } = createTestApp();
    const r = await app.sendTask('any.task', [1]);
    expect(r).toBeInstanceOf(AsyncResult);
    expect('then' in r).toBe(false);
    await backend.store(meta(r.id, 'SUCCESS', 3), store);
    expect(await r.get().then((v) => `got ${String(v)}`)).toBe('got 3');
  });

  it('collect() walks children breadth first, groups as one node, and waits for each', async () => {
    const { app, backend } = createTestApp();
    await backend.store(meta('root', 'SUCCESS', 1, { children: [[['c1', null], null], [['g', null], [[['m1', null], null], [['m2', null], null]]]] }), store);
    await backend.store(meta('c1', 'SUCCESS', 2, { children: [[['c2', null], null]] }), store);
    await backend.store(meta('m1', 'SUCCESS', 3), store);
    await backend.store(meta('m2', 'SUCCESS', 4), store);
    const seen: [string, unknown][] = [];
    for await (const [node, value] of app.asyncResult('root').collect({ timeoutMs: 5000 })) {
      seen.push([node.id, value]);
      // c2 is stored only now: collect() must wait for it, not skip it.
      if (node.id === 'g') await backend.store(meta('c2', 'SUCCESS', 'late'), store);
    }
    expect(seen).toEqual([['root', 1], ['c1', 2], ['g', [3, 4]], ['c2', 'late'], ['m1', 3], ['m2', 4]]);
  });

  it('collect() throws the first failure met, or yields it with propagate: false', async () => {
    const { app, backend } = createTestApp();
    await backend.store(meta('p', 'SUCCESS', 1, { children: [[['bad', null], null]] }), store);
    await backend.store(meta('bad', 'FAILURE', failure), store);
    const ids: string[] = [];
    const walk = async (propagate: boolean) => {
      for await (const [node] of app.asyncResult('p').collect({ propagate, timeoutMs: 1000 })) ids.push(node.id);
    };
    await expect(walk(true)).rejects.toBeInstanceOf(TaskError);
    expect(ids).toEqual(['p']);
    ids.length = 0;
    await walk(false);
    expect(ids).toEqual(['p', 'bad']);
  });

  it('collect() of a task still pending times out per node', async () => {
    const { app } = createTestApp();
    const walk = async () => {
      for await (const _ of app.asyncResult('never').collect({ timeoutMs: 50 })) void _;
    };
    await expect(walk()).rejects.toBeInstanceOf(ResultTimeoutError);
  });

  it('forget() deletes the result and its parents; get() then waits as for PENDING; unknown ids are fine', async () => {
    const { app, backend } = createTestApp();
    await backend.store(meta('first', 'SUCCESS', 1), store);
    await backend.store(meta('second', 'SUCCESS', 2), store);
    const second = new AsyncResult('second', app, app.asyncResult('first'));
    await second.forget();
    expect(await backend.get('second')).toBeNull();
    expect(await backend.get('first')).toBeNull();
    expect(await second.status()).toBe('PENDING');
    await expect(second.get({ timeoutMs: 50 })).rejects.toBeInstanceOf(ResultTimeoutError);
    await expect(app.asyncResult('no-such-id').forget()).resolves.toBeUndefined();
  });
});

describe('GroupResult, as a Celery user expects', () => {
  it('join() is get(), children are the members, delete() drops only the saved group', async () => {
    const { app, backend } = createTestApp();
    const group = app.groupResult('grp', [app.asyncResult('x1'), app.asyncResult('x2')]);
    expect(group).toBeInstanceOf(GroupResult);
    expect(group.children.map((r) => r.id)).toEqual(['x1', 'x2']);
    await backend.store(meta('x1', 'SUCCESS', 1), store);
    await backend.store(meta('x2', 'SUCCESS', 2), store);
    expect(await group.join({ timeoutMs: 1000 })).toEqual([1, 2]);
    await group.save();
    expect(await GroupResult.restore(app, 'grp')).not.toBeNull();
    await group.delete();
    expect(await GroupResult.restore(app, 'grp')).toBeNull();
    expect(await backend.get('x1')).not.toBeNull();
  });

  it('revoke() passes terminate on to every member', async () => {
    const { app, backend } = createTestApp();
    const group = app.groupResult('grp2', [app.asyncResult('y1'), app.asyncResult('y2')]);
    await group.revoke({ terminate: true });
    expect([...(await backend.revoked(['y1', 'y2', 'y3']))].sort()).toEqual(['y1', 'y2']);
  });
});
