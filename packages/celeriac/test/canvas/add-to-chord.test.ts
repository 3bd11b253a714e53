/**
 * `ctx.addToChord` (Celery's `Task.add_to_chord`) on a Celeriac worker, memory and Redis: a
 * running header part adds tasks, or a whole chord, to its own chord; the chord waits for
 * them (Redis `.t`, INCRBY) and the body gets their results too. Outside a chord it fails.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { chord } from '../../src/index.js';
import { shouldRunRedisTests } from '../support/redis.js';
import { ENVIRONMENTS, makeCanvasEnv, type CanvasEnv } from './support.js';

const redisUp = await shouldRunRedisTests('addToChord on Redis');

let current: CanvasEnv | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

describe.each(ENVIRONMENTS.filter((k) => k === 'memory' || redisUp))('ctx.addToChord on %s', (kind) => {
  async function setup() {
    const made = await makeCanvasEnv(kind);
    current = made.env;
    const { app } = made.env;
    const { add, tsum } = made;
    const addToAll = app.task('t.add_to_all', { bind: true }, async (ctx, nums: number[], val: number) => {
      for (const n of nums) await ctx.addToChord(add.s(n, val));
      return 0;
    });
    const addChord = app.task('t.add_chord', { bind: true }, async (ctx, nums: number[]) => {
      await ctx.addToChord(chord(nums.map((n) => add.s(n, n)), tsum.s()));
      return 0;
    });
    return { ...made, addToAll, addChord };
  }

  it('a header part adds tasks to its chord; the body gets every result', async () => {
    const { env, addToAll, ident } = await setup();
    const r = await chord([addToAll.s([1, 2, 3], 4)], ident.s()).applyAsync();
    expect(((await env.settle(r)) as number[]).sort((a, b) => a - b)).toEqual([0, 5, 6, 7]);
  });

  it('a header part adds a whole chord to its chord: it counts as one part, its body result', async () => {
    const { env, addChord, add, ident } = await setup();
    const r = await chord([addChord.s([1, 2, 3]), add.si(2, 2)], ident.s()).applyAsync();
    expect(((await env.settle(r)) as number[]).sort((a, b) => a - b)).toEqual([0, 4, 12]);
  });

  it('outside a chord it fails the task', async () => {
    const { env, addToAll } = await setup();
    const err = (await env.settle(await addToAll.delay([1], 1)).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe('Current task is not member of any chord');
  });
});
