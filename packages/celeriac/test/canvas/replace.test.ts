/**
 * `ctx.replace(signature)` end to end on a real worker, on memory and on Redis: the caller's
 * `get()` gets the replacement's final result (chain; group through `celery.accumulate`), a
 * replaced chain step continues its chain, a replaced chord header part still completes its
 * chord, the replaced task's link / linkError fire once, `replaced_task_nesting` travels and
 * counts, and no state is stored for the replaced run itself. Every wait is bounded.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { sleep, waitFor } from 'celeriac/testing';
import { chain, chord, createApp, group, ImproperlyConfigured, signature, TaskError, type App, type AsyncResult, type GroupResult, type ResultMeta } from '../../src/index.js';
import { shouldRunRedisTests } from '../support/redis.js';
import { ENVIRONMENTS, makeCanvasEnv, type CanvasEnv } from './support.js';

const redisUp = await shouldRunRedisTests('ctx.replace on Redis');
/** `get()` through the hang detector (hang.ts): a workflow that does not finish says where. */
const settle = <R = unknown>(result: AsyncResult | GroupResult): Promise<R> => (current as CanvasEnv).settle<R>(result);

let current: CanvasEnv | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

/** Registers the replacing tasks next to the canvas tasks. */
function defineReplacing(app: App, t: Awaited<ReturnType<typeof makeCanvasEnv>>) {
  return {
    // (x + 1) * 10, computed by a chain that replaces this task.
    toChain: app.task('r.to_chain', { bind: true }, (ctx, x: number) => ctx.replace(chain(t.add.s(x, 1), t.mul.s(10)))),
    // [x + 1, x * 10], computed by a group.
    toGroup: app.task('r.to_group', { bind: true }, (ctx, x: number) => ctx.replace(group(t.add.s(x, 1), t.mul.s(x, 10)))),
    toTask: app.task('r.to_task', { bind: true }, (ctx, x: number) => ctx.replace(t.add.s(x, 100))),
    toFail: app.task('r.to_fail', { bind: true }, (ctx, text: string) => ctx.replace(t.fail.si(text))),
    // Replaces itself n times, then reports the nesting counter it was run with.
    nest: app.task('r.nest', { bind: true }, (ctx, n: number) => (n > 0 ? ctx.replace(signature('r.nest', [n - 1])) : ctx.request.replacedTaskNesting)),
  };
}

async function setup(kind: (typeof ENVIRONMENTS)[number]) {
  const made = await makeCanvasEnv(kind);
  current = made.env;
  return { ...made, ...defineReplacing(made.env.app, made) };
}

/** Every status stored from now on, per task id. */
function recordStores(env: CanvasEnv): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const store = env.backend.store.bind(env.backend);
  env.backend.store = (meta: ResultMeta, options) => {
    seen.set(meta.task_id, [...(seen.get(meta.task_id) ?? []), meta.status]);
    return store(meta, options);
  };
  return seen;
}

describe.each(ENVIRONMENTS.filter((k) => k === 'memory' || redisUp))('ctx.replace on %s', (kind) => {
  it("replaced by a chain: the original caller's get() returns the chain's final result", async () => {
    const { toChain, env } = await setup(kind);
    const stores = recordStores(env);
    const r = await toChain.delay(1);
    expect(await settle(r)).toBe(20);
    // The replaced run stored nothing (Ignore); the chain's last step stored under the same id.
    expect(stores.get(r.id)).toEqual(['SUCCESS']);
    const meta = await env.backend.get(r.id);
    expect(meta).toMatchObject({ status: 'SUCCESS', result: 20, task_id: r.id });
  });

  it('replaced by a single task, and by a failing one: the result or the failure reaches the caller', async () => {
    const { toTask, toFail } = await setup(kind);
    expect(await settle(await toTask.delay(5))).toBe(105);
    const err = await settle(await toFail.delay('replacement broke')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskError);
    expect(err).toMatchObject({ name: 'RangeError', message: 'replacement broke' });
  });

  it('replaced by a group: the result is the list of the group results (celery.accumulate)', async () => {
    const { toGroup } = await setup(kind);
    const r = await toGroup.delay(3);
    expect(await settle(r)).toEqual([4, 30]);
  });

  it('a replaced task inside a chain: the chain continues with the replacement result', async () => {
    const { add, toChain, toGroup, tsum } = await setup(kind);
    const r = await chain(add.s(1, 1), toChain.s(), add.s(5)).applyAsync();
    expect(await settle(r)).toBe(35);
    // A group replacement mid-chain passes its list on.
    const g = await chain(add.s(1, 1), toGroup.s(), tsum.s()).applyAsync();
    expect(await settle(g)).toBe(23);
  });

  it('a replaced chord header part still completes its chord, its result in its position', async () => {
    const { add, ident, toChain, toGroup } = await setup(kind);
    const r = await chord([add.s(1, 1), toChain.s(2), add.s(3, 3), toGroup.s(1)], ident.s()).applyAsync();
    expect(await settle(r)).toEqual([2, 30, 6, [2, 10]]);
  });

  it('link and linkError of the replaced task fire once, with the final result or the task id', async () => {
    const { toChain, toGroup, toFail, record, env } = await setup(kind);
    const ok = await toChain.s(2).link(record.s('chain cb')).applyAsync();
    const grouped = await toGroup.s(2).link(record.s('group cb')).applyAsync();
    const bad = await toFail.s('x').linkError(record.s('eb')).applyAsync();
    expect(await settle(ok)).toBe(30);
    expect(await settle(grouped)).toEqual([3, 20]);
    await settle(bad).catch(() => undefined);
    await waitFor(() => env.recorded.length >= 3, 'callbacks ran', 10_000);
    // Bounds an absence: a duplicate would come from the replaced run or a step inside the replacement.
    await sleep(300);
    expect(env.recorded).toHaveLength(3);
    expect(env.recorded).toEqual(expect.arrayContaining([[30, 'chain cb'], [[3, 20], 'group cb'], [bad.id, 'eb']]));
  });

  it('replaced_task_nesting: a message property, one more per replace', async () => {
    const { nest, toTask, env } = await setup(kind);
    expect(await settle(await nest.delay(3))).toBe(3);
    // On the wire, where Celery 5.2.6 puts it: a property right after reply_to.
    const published: Record<string, unknown>[] = [];
    const publish = env.app.broker.publish.bind(env.app.broker);
    env.app.broker.publish = (message, options) => {
      if (message.headers['task'] === 't.add') published.push({ ...message.properties });
      return publish(message, options);
    };
    expect(await settle(await toTask.delay(1))).toBe(101);
    expect(published).toHaveLength(1);
    expect(published[0]?.['replaced_task_nesting']).toBe(1);
    expect(Object.keys(published[0] ?? {}).slice(0, 3)).toEqual(['correlation_id', 'reply_to', 'replaced_task_nesting']);
  });
});

describe('ctx.replace', () => {
  it('in eager mode runs the replacement at once and returns its result', async () => {
    const app = createApp({ taskAlwaysEager: true }, { env: {} });
    const add = app.task('e.add', (x: number, y: number) => x + y);
    const toChain = app.task('e.to_chain', { bind: true }, (ctx, x: number) => ctx.replace(chain(add.s(x, 1), add.s(10))));
    const toGroup = app.task('e.to_group', { bind: true }, (ctx, x: number) => ctx.replace(group(add.s(x, 1), add.s(x, 2))));
    expect(await (await toChain.delay(1)).get()).toBe(12);
    expect(await (await toGroup.delay(1)).get()).toEqual([2, 3]);
  });

  it('refuses a replacement that is part of a chord, and an empty chain', async () => {
    const app = createApp({ taskAlwaysEager: true, taskEagerPropagates: true }, { env: {} });
    const add = app.task('e.add', (x: number, y: number) => x + y);
    const withChord = app.task('e.with_chord', { bind: true }, (ctx) => ctx.replace(add.s(1, 1).set({ chord: add.s(0).toDict() })));
    const empty = app.task('e.empty', { bind: true }, (ctx) => ctx.replace(chain()));
    await expect(withChord.delay()).rejects.toThrow(/must not be part of a chord/);
    await expect(empty.delay()).rejects.toThrow(/^Cannot replace with an empty chain$/);
    // Celery's exception type, so a Python caller gets ImproperlyConfigured.
    await expect(empty.delay()).rejects.toMatchObject({ excType: 'ImproperlyConfigured', excModule: 'celery.exceptions' });
    await expect(withChord.delay()).rejects.toBeInstanceOf(ImproperlyConfigured);
  });
});
