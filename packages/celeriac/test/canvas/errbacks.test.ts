/**
 * Errbacks as Celery 5.2.6 calls them, on a Celeriac worker, memory and Redis: a new-style
 * errback (`errbackStyle: 'request'`) is called in the failing worker with the failed
 * request, the error and the traceback, for a task, a chain, a group with several failing
 * members, a chord, a chord inside a chain; old-style errbacks are still sent with the failed
 * id; a failed chord lists the errbacks it sent in its `children`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ChordError, chain, chord, group, signature, type App, type TaskRequest } from '../../src/index.js';
import { waitFor } from '../../src/testing/index.js';
import { shouldRunRedisTests } from '../support/redis.js';
import { ENVIRONMENTS, makeCanvasEnv, type CanvasEnv } from './support.js';

const redisUp = await shouldRunRedisTests('canvas errbacks on Redis');

let current: CanvasEnv | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

interface Seen {
  id: string;
  task: string;
  error: unknown;
  traceback: string | null;
  extra: unknown[];
}

function defineErrbacks(app: App) {
  const seen: Seen[] = [];
  const onError = app.task('t.on_error', { errbackStyle: 'request' }, (request: TaskRequest, error?: unknown, traceback?: string | null, tag?: string) => {
    seen.push({ id: request.id, task: request.task, error, traceback: traceback ?? null, extra: tag === undefined ? [] : [tag] });
    return null;
  });
  // `.s()` types one prepended argument; a new-style errback gets three, so extra arguments go through `signature()`.
  const tagged = (tag: string) => signature('t.on_error', [tag], {}, {}, app);
  return { seen, onError, tagged };
}

describe.each(ENVIRONMENTS.filter((k) => k === 'memory' || redisUp))('errbacks on %s', (kind) => {
  async function setup() {
    const made = await makeCanvasEnv(kind);
    current = made.env;
    return { ...made, ...defineErrbacks(made.env.app) };
  }
  const failed = (env: CanvasEnv, r: { get(): Promise<unknown> } & Parameters<CanvasEnv['settle']>[0]) => env.settle(r).catch((e: unknown) => e);

  it('a task: new-style gets (request, error, traceback, ...args); old-style gets the id', async () => {
    const { env, fail, record, seen, tagged } = await setup();
    const r = await fail.s('broken').linkError(tagged('tag')).linkError(record.s('old')).applyAsync();
    expect(await failed(env, r)).toMatchObject({ name: 'RangeError', message: 'broken' });
    await waitFor(() => seen.length === 1 && env.recorded.length === 1, 'both errbacks');
    expect(seen[0]).toMatchObject({ id: r.id, task: 't.fail', extra: ['tag'] });
    expect(seen[0]?.error).toBeInstanceOf(RangeError);
    expect(seen[0]?.traceback).toContain('RangeError: broken');
    expect(env.recorded).toEqual([[r.id, 'old']]);
  });

  it('a chain: called once, for the step that failed', async () => {
    const { env, add, fail, seen, onError } = await setup();
    const r = await chain(add.s(1, 1), fail.si('step 2'), add.s(1)).applyAsync([], { linkError: onError.s() });
    await failed(env, r);
    await waitFor(() => seen.length === 1, 'errback');
    expect(seen[0]).toMatchObject({ task: 't.fail', id: r.parent?.id });
  });

  it('a group with several failing members: once per failing member', async () => {
    const { env, add, fail, seen, onError } = await setup();
    const g = await group(fail.si('a'), add.si(1, 1), fail.si('b')).set({ linkError: onError.s() }).applyAsync();
    await failed(env, g);
    await waitFor(() => seen.length === 2, 'two errbacks');
    expect(new Set(seen.map((s) => s.id))).toEqual(new Set([g.ids[0], g.ids[2]]));
  });

  it('a chord: the body errbacks get the body request and ChordError; the sent ones are the failed body children', async () => {
    const { env, add, fail, tsum, record, seen, onError } = await setup();
    const r = await chord([add.s(1, 1), fail.si('header')], tsum.s().linkError(onError.s()).linkError(record.s('old'))).applyAsync();
    expect(await failed(env, r)).toBeInstanceOf(ChordError);
    await waitFor(() => seen.length === 1 && env.recorded.length === 1, 'both errbacks');
    expect(seen[0]).toMatchObject({ id: r.id, task: 't.tsum' });
    expect(seen[0]?.error).toBeInstanceOf(ChordError);
    expect(env.recorded).toEqual([[r.id, 'old']]);
    const children = (await env.backend.get(r.id))?.children ?? [];
    expect(children).toHaveLength(1);
    // One group of the errbacks sent, as Celery records it.
    expect(children[0]?.[1]).toHaveLength(1);
    const ebId = children[0]?.[1]?.[0]?.[0][0] as string;
    expect(await env.settle(env.app.asyncResult(ebId))).toBe(2);
  });

  it('a chord inside a chain, and a chain whose tail is a chord', async () => {
    const { env, add, fail, tsum, seen, tagged } = await setup();
    const inner = await chain(add.si(1, 1), chord([fail.si('x'), add.si(2, 2)], tsum.s()).linkError(tagged('inner')), add.s(1)).applyAsync();
    await failed(env, inner);
    await waitFor(() => seen.length === 1, 'inner errback');
    expect(seen[0]).toMatchObject({ extra: ['inner'], task: 't.tsum' });
    const tail = await chain(add.si(1, 1), chord([add.s(1), fail.si('y')], tsum.s())).applyAsync([], { linkError: tagged('tail') });
    await failed(env, tail);
    // A chain gives its errbacks to a chord step's body, not to its header (as Celery does).
    await waitFor(() => seen.some((s) => s.extra[0] === 'tail'), 'tail errback');
    expect(seen.filter((s) => s.extra[0] === 'tail').map((s) => s.id)).toEqual([tail.id]);
  });

  it('an errback that throws is logged; the other errbacks still run', async () => {
    const { env, fail, seen, onError } = await setup();
    const bad = env.app.task('t.bad_errback', { errbackStyle: 'request' }, () => {
      throw new Error('errback broke');
    });
    const r = await fail.s('z').linkError(bad.s()).linkError(onError.s()).applyAsync();
    await failed(env, r);
    await waitFor(() => seen.length === 1, 'second errback');
    expect((await env.backend.get(r.id))?.status).toBe('FAILURE');
  });

  it('refuses errbackStyle request with bind, and an unknown style', async () => {
    const { env } = await setup();
    expect(() => env.app.task('t.x', { errbackStyle: 'request', bind: true }, () => 1)).toThrow(/drop bind/);
    expect(() => env.app.task('t.y', { errbackStyle: 'other' as 'id' }, () => 1)).toThrow(/errbackStyle/);
  });
});
