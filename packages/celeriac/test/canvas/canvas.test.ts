/**
 * Canvas end to end on a real worker, on the memory broker/backend and on Redis: signatures,
 * chain, group, chord, nesting, map/starmap/chunks, and chords that end (FAILURE with
 * ChordError, errbacks called) when a header part fails or is revoked. Every wait is bounded.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { createClient } from 'redis';
import type { AsyncResult} from '../../src/index.js';
import { ChordError, GroupResult, chain, chord, chunks, group, map, starmap, TaskError } from '../../src/index.js';
import { REDIS_URL, shouldRunRedisTests } from '../support/redis.js';
import { ENVIRONMENTS, makeCanvasEnv, type CanvasEnv } from './support.js';

const redisUp = await shouldRunRedisTests('canvas on Redis');
/** `get()` through the hang detector (hang.ts): a workflow that does not finish says where. */
const settle = <R = unknown>(result: AsyncResult | GroupResult): Promise<R> => (current as CanvasEnv).settle<R>(result);

let current: CanvasEnv | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

async function setup(kind: (typeof ENVIRONMENTS)[number]) {
  const made = await makeCanvasEnv(kind);
  current = made.env;
  return made;
}

describe.each(ENVIRONMENTS.filter((k) => k === 'memory' || redisUp))('canvas on %s', (kind) => {
  it('a signature sends itself, with partial args, options and links', async () => {
    const { add, record, env } = await setup(kind);
    const r = await add.s(10).set({ countdown: 0 }).link(record.s('linked')).applyAsync([5]);
    expect(await settle(r)).toBe(15);
    await waitFor(() => env.recorded.length === 1, 'link ran', 10_000);
    expect(env.recorded[0]).toEqual([15, 'linked']);
  });

  it('chain passes each result on, respects si, and returns the last result with its parents', async () => {
    const { add, mul, record, env } = await setup(kind);
    const r = await chain(add.s(2, 2), add.s(4), mul.s(3)).applyAsync();
    expect(await settle(r)).toBe(24);
    expect(r.parent?.parent).not.toBeNull();
    expect(await settle(r.parent as AsyncResult)).toBe(8);
    expect(await settle(r.parent?.parent as AsyncResult)).toBe(4);
    const immutable = await chain(add.s(1, 1), record.si('ignores the 2')).applyAsync();
    expect(await settle(immutable)).toBe(1);
    expect(env.recorded).toEqual([['ignores the 2']]);
    // Ids are assigned up front: the root of every step is the first task.
    const meta = await env.backend.get(r.id);
    expect(meta?.parent_id).toBe(r.parent?.id);
  });

  it('a failing chain step fails the rest of the chain, so the caller does not wait forever', async () => {
    const { add, fail } = await setup(kind);
    const r = await chain(add.s(1, 1), fail.si('broken'), add.s(1), add.s(1)).applyAsync();
    const err = await settle(r).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskError);
    expect(err).toMatchObject({ name: 'RangeError', message: 'broken' });
  });

  it('group: one message per member, results in order, counts, save and restore', async () => {
    const { add, slow, env } = await setup(kind);
    const g = await group(slow.s(1, 150), add.s(1, 1), slow.s(3, 10)).applyAsync();
    expect(g).toBeInstanceOf(GroupResult);
    expect(await settle(g)).toEqual([1, 2, 3]);
    expect(await g.ready()).toBe(true);
    expect(await g.completedCount()).toBe(3);
    for (const id of g.ids) expect((await env.backend.get(id))?.group_id).toBe(g.id);
    await g.save();
    const restored = await GroupResult.restore(env.app, g.id);
    expect(restored?.ids).toEqual(g.ids);
    expect(await settle(restored as GroupResult)).toEqual([1, 2, 3]);
    // Partial args go to every mutable member.
    const partial = await group(add.s(1), add.s(2)).applyAsync([10]);
    expect(await settle(partial)).toEqual([11, 12]);
  });

  it('chord: the body gets the header results in header order', async () => {
    const { slow, tsum, ident } = await setup(kind);
    const r = await chord([slow.s(1, 200), slow.s(2, 0), slow.s(3, 100)], ident.s()).applyAsync();
    expect(await settle(r)).toEqual([1, 2, 3]);
    const total = await chord([slow.s(5, 0), slow.s(6, 0)], tsum.s()).applyAsync();
    expect(await settle(total)).toBe(11);
  });

  it('chord join keys are cleared once the body is sent', async () => {
    const { add, tsum, env } = await setup(kind);
    const gid = randomUUID();
    const r = await chord(group(add.s(1, 1), add.s(2, 2)).set({ taskId: gid }), tsum.s()).applyAsync();
    expect(await settle(r)).toBe(6);
    if (kind === 'redis') {
      const client = createClient({ url: REDIS_URL });
      await client.connect();
      try {
        const base = `${env.prefix}celery-taskset-meta-${gid}`;
        await waitFor(async () => (await client.exists([`${base}.j`, `${base}.s`, `${base}.t`])) === 0, 'join keys deleted', 10_000);
      } finally {
        client.destroy();
      }
    }
    // A fresh part for the same id finds no size: the join was cleared.
    const after = await env.backend.addChordPart(gid, { taskId: 'x', state: 'SUCCESS', result: 1, index: 0 }, { expiresSec: 10 });
    expect(after.total).toBeNull();
    await env.backend.clearChord(gid);
  });

  it('a chord with a failing header part ends: body FAILURE with ChordError naming the part, errbacks run', async () => {
    const { add, fail, tsum, record, env } = await setup(kind);
    const failing = fail.s('header broke').freeze();
    const body = tsum.s().linkError(record.s('body errback'));
    const r = await chord([add.s(1, 1), failing, add.s(2, 2)], body).applyAsync();
    const err = await settle(r).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChordError);
    expect((err as Error).message).toBe(`Dependency ${failing.id} raised RangeError('header broke')`);
    const meta = await env.backend.get(r.id);
    expect(meta?.status).toBe('FAILURE');
    expect(meta?.result).toMatchObject({ exc_type: 'ChordError', exc_module: 'celery.exceptions' });
    await waitFor(() => env.recorded.length === 1, 'body errback ran', 10_000);
    expect(env.recorded[0]).toEqual([r.id, 'body errback']);
  });

  it('a chord with a revoked header part ends with ChordError', async () => {
    const { add, tsum, env } = await setup(kind);
    const revoked = add.s(5, 5).freeze();
    await env.app.asyncResult(revoked.id as string).revoke();
    const r = await chord([add.s(1, 1), revoked], tsum.s()).applyAsync();
    const err = await settle(r).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChordError);
    expect((err as Error).message).toBe(`Dependency ${revoked.id} raised TaskRevokedError('revoked')`);
  });

  it('nesting: a chain inside a group, a group inside a chain (a chord), a chord inside a chain', async () => {
    const { add, mul, tsum } = await setup(kind);
    const g = await group(chain(add.s(1, 1), mul.s(10)), add.s(3, 3)).applyAsync();
    expect(await settle(g)).toEqual([20, 6]);
    const upgraded = await chain(add.s(1, 1), group(add.s(1), add.s(2)), tsum.s()).applyAsync();
    expect(await settle(upgraded)).toBe(7);
    const inner = chord([add.s(1), add.s(2)], tsum.s());
    const r = await chain(add.s(2, 2), inner, mul.s(2)).applyAsync();
    expect(await settle(r)).toBe(22);
  });

  it('a chord of chords, and a chord whose header holds chains', async () => {
    const { add, mul, tsum } = await setup(kind);
    const c1 = chord([add.s(1, 1), add.s(2, 2)], tsum.s());
    const c2 = chord([add.s(3, 3), add.s(4, 4)], tsum.s());
    const r = await chord([c1, c2], tsum.s()).applyAsync();
    expect(await settle(r)).toBe(20);
    const withChains = await chord([chain(add.s(1, 1), mul.s(3)), add.s(0, 1)], tsum.s()).applyAsync();
    expect(await settle(withChains)).toBe(7);
  });

  it('a failure deep inside a chord of chords still ends the outer chord', async () => {
    const { add, fail, tsum } = await setup(kind);
    const c1 = chord([add.s(1, 1), fail.si('inner')], tsum.s());
    const c2 = chord([add.s(3, 3)], tsum.s());
    const r = await chord([c1, c2], tsum.s()).applyAsync();
    const err = await settle(r).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChordError);
    // Python's repr of the inner message, which holds single quotes, uses double quotes.
    expect((err as Error).message).toMatch(/^Dependency \S+ raised ChordError\("Dependency \S+ raised RangeError\('inner'\)"\)$/);
  });

  it('map, starmap and chunks run as Celery built-in tasks', async () => {
    const { add, tsum } = await setup(kind);
    expect(await settle(await map(tsum.s(), [[1, 2], [3, 4]]).applyAsync())).toEqual([3, 7]);
    expect(await settle(await starmap(add, [[1, 2], [3, 4]]).applyAsync())).toEqual([3, 7]);
    const parts = await chunks(add, [[1, 1], [2, 2], [3, 3], [4, 4], [5, 5]], 2).applyAsync();
    expect(await settle(parts)).toEqual([[2, 4], [6, 8], [10]]);
  });
});
