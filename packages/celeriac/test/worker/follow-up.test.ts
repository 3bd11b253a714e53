/**
 * link / linkError run by the worker (docs/protocol.md §1.6): the callback gets the
 * result prepended (not for `si`), the errback gets the failed task's id, the parent's
 * stored `children` lists what it sent, and parent_id / root_id are carried.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { JsonObject, TaskRequest } from 'celeriac';
import { closeEnvs, makeEnv, waitFor, waitForState } from './helpers.js';

afterEach(closeEnvs);

interface Seen {
  args: unknown[];
  request: TaskRequest;
}

function setup() {
  const env = makeEnv();
  const seen: Seen[] = [];
  const add = env.app.task('t.add', (x: number, y: number) => x + y);
  const boom = env.app.task('t.boom', () => {
    throw new TypeError('boom');
  });
  const record = env.app.task('t.record', { bind: true }, (ctx, ...args: unknown[]) => {
    seen.push({ args, request: ctx.request });
    return args.length;
  });
  return { env, seen, add, boom, record };
}

describe('link (success callbacks)', () => {
  it('sends the callback with the result prepended, sets its parent/root ids, and lists it in children', async () => {
    const { env, seen, add, record } = setup();
    await env.startWorker();
    const r = await add.applyAsync([2, 3], { link: record.s('extra') });
    expect(await r.get({ timeoutMs: 2000 })).toBe(5);
    await waitFor(() => seen.length === 1, 'callback run');
    const cb = seen[0]!;
    expect(cb.args).toEqual([5, 'extra']);
    expect(cb.request.parentId).toBe(r.id);
    expect(cb.request.rootId).toBe(r.id);
    const meta = await env.backend.get(r.id);
    expect(meta?.children).toEqual([[[cb.request.id, null], null]]);
    expect((await r.children()).map((c) => c.id)).toEqual([cb.request.id]);
    const cbMeta = await waitForState(env, cb.request.id, 'SUCCESS');
    expect(cbMeta.parent_id).toBe(r.id);
    expect(cbMeta.result).toBe(2);
  });

  it('an immutable signature (si) does not get the result', async () => {
    const { env, seen, add, record } = setup();
    await env.startWorker();
    const r = await add.applyAsync([2, 3], { link: record.si('only', 'these') });
    await r.get({ timeoutMs: 2000 });
    await waitFor(() => seen.length === 1, 'callback run');
    expect(seen[0]?.args).toEqual(['only', 'these']);
  });

  it('sends every callback of a list, in order, all listed in children', async () => {
    const { env, seen, add, record } = setup();
    await env.startWorker();
    const r = await add.applyAsync([1, 1], { link: [record.s('a'), record.s('b')] });
    await r.get({ timeoutMs: 2000 });
    await waitFor(() => seen.length === 2, 'callbacks run');
    const children = (await env.backend.get(r.id))?.children ?? [];
    expect(children).toHaveLength(2);
    expect(seen.map((s) => s.args).sort()).toEqual([
      [2, 'a'],
      [2, 'b'],
    ]);
    expect(new Set(children.map((c) => c[0][0]))).toEqual(new Set(seen.map((s) => s.request.id)));
  });

  it('uses the task_id frozen in the signature options', async () => {
    const { env, seen, add, record } = setup();
    await env.startWorker();
    const sig = record.s().toDict();
    sig.options = { task_id: 'fixed-callback-id' };
    const r = await add.applyAsync([1, 2], { link: sig });
    await r.get({ timeoutMs: 2000 });
    await waitForState(env, 'fixed-callback-id', 'SUCCESS');
    expect(seen[0]?.request.id).toBe('fixed-callback-id');
    expect((await env.backend.get(r.id))?.children).toEqual([[['fixed-callback-id', null], null]]);
  });

  it('a callback of a callback keeps the first task as root', async () => {
    const { env, seen, add, record } = setup();
    await env.startWorker();
    const inner = record.s('inner').toDict();
    const outer = add.s(10).toDict();
    // Nested links travel as plain JSON inside the options, as Celery freezes them.
    outer.options = { link: [inner as unknown as JsonObject] };
    const r = await add.applyAsync([1, 2], { link: outer });
    await waitFor(() => seen.length === 1, 'grandchild run');
    const grandchild = seen[0]!.request;
    expect(seen[0]?.args).toEqual([13, 'inner']);
    await waitForState(env, r.id, 'SUCCESS'); // the grandchild may run before r's result is stored
    expect(grandchild.rootId).toBe(r.id);
    expect(grandchild.parentId).not.toBe(r.id);
    const childId = (await env.backend.get(r.id))?.children[0]?.[0][0];
    expect(grandchild.parentId).toBe(childId);
  });

  it('a failing task does not send its success callbacks', async () => {
    const { env, seen, boom, record, add } = setup();
    await env.startWorker();
    const r = await boom.applyAsync([], { link: record.s() });
    await waitForState(env, r.id, 'FAILURE');
    // A later task proves the worker had time to send anything it would have sent.
    await (await add.delay(1, 1)).get({ timeoutMs: 2000 });
    expect(seen).toEqual([]);
  });
});

describe('linkError (errbacks)', () => {
  it('sends the errback with the failed task id and lists it in the FAILURE children', async () => {
    const { env, seen, boom, record } = setup();
    await env.startWorker();
    const r = await boom.applyAsync([], { linkError: record.s('why') });
    await waitFor(() => seen.length === 1, 'errback run');
    expect(seen[0]?.args).toEqual([r.id, 'why']);
    expect(seen[0]?.request.parentId).toBe(r.id);
    expect(seen[0]?.request.rootId).toBe(r.id);
    const meta = await waitForState(env, r.id, 'FAILURE');
    expect(meta.children).toEqual([[[seen[0]!.request.id, null], null]]);
  });

  it('a successful task does not send its errbacks', async () => {
    const { env, seen, add, record } = setup();
    await env.startWorker();
    const r = await add.applyAsync([1, 2], { linkError: record.s() });
    await r.get({ timeoutMs: 2000 });
    await (await add.delay(0, 0)).get({ timeoutMs: 2000 });
    expect(seen).toEqual([]);
    expect((await env.backend.get(r.id))?.children).toEqual([]);
  });

  it('a callback that cannot be sent fails the task (as Celery does) instead of leaving it unfinished', async () => {
    const env = makeEnv({ taskAcksLate: true });
    const seen: unknown[] = [];
    const add = env.app.task('t.add', (x: number, y: number) => x + y);
    const onErr = env.app.task('t.on_err', (id: string) => void seen.push(id));
    const worker = await env.startWorker();
    const bad = add.s(1).toDict();
    bad.options = { priority: 42 }; // refused by the producer
    const r = await add.applyAsync([1, 2], { link: bad, linkError: onErr.s() });
    const meta = await waitForState(env, r.id, 'FAILURE');
    expect(meta.result).toMatchObject({ exc_type: 'CeleriacError', exc_message: [expect.stringContaining('priority')] });
    await waitFor(() => seen.length === 1, 'errback run');
    expect(seen).toEqual([r.id]);
    await waitFor(() => env.broker.settlements(r.id).length === 1, 'settled');
    expect(env.broker.settlements(r.id)).toEqual(['ack']);
    expect(worker.active + worker.reserved).toBe(0);
  });
});
