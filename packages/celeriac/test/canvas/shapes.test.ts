/**
 * The hard canvas shapes (issue 26), on a Celeriac worker, memory and Redis: nested chords in
 * chains, groups in the middle of chains, chains of chords, large headers, group-tailed
 * chains in a chord header. Each expected value is what a Python Celery 5.2.6 worker returns
 * for the same workflow (test/interop/canvas-interop.test.ts checks that against Python).
 * Every wait goes through the hang detector (hang.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { chain, chord, group, signature, type App } from '../../src/index.js';
import type { Json } from '../../src/protocol/types.js';
import { shouldRunRedisTests } from '../support/redis.js';
import { settle } from './hang.js';
import { ENVIRONMENTS, makeCanvasEnv, type CanvasEnv } from './support.js';
import { SHAPES } from './shapes.js';

const redisUp = await shouldRunRedisTests('canvas shapes on Redis');

let current: CanvasEnv | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

describe.each(ENVIRONMENTS.filter((k) => k === 'memory' || redisUp))('hard canvas shapes on %s', (kind) => {
  async function setup() {
    const made = await makeCanvasEnv(kind);
    current = made.env;
    return made.env;
  }

  for (const shape of SHAPES) {
    it(`${shape.name}: ${shape.expected}`, async () => {
      const env = await setup();
      const r = await shape.build(sigs(env.app)).applyAsync();
      expect(await env.settle(r)).toEqual(JSON.parse(shape.expected));
    });
  }

  it('a group-tailed chain next to another header part: the whole header joins (Celery 5.2.6 can join early here)', async () => {
    const env = await setup();
    const { t, ti } = sigs(env.app);
    const r = await chord(group(chain(ti('t.ident', 42), group(t('t.ident'), t('t.ident'))), chain(ti('t.ident', 1), t('t.ident'))), t('t.ident')).applyAsync();
    expect(await env.settle(r)).toEqual([[42, 42], 1]);
  });

  it('ctx.request.properties: the message properties and delivery_info, as Celery\'s request', async () => {
    const env = await setup();
    const props = env.app.task('t.props', { bind: true }, (ctx) => ctx.request.properties as never);
    const r = await props.applyAsync([], { priority: 3 });
    const got = (await env.settle(r)) as Record<string, unknown>;
    expect(got).toMatchObject({ correlation_id: r.id, priority: 3, delivery_info: { routing_key: 'celery' } });
    expect(typeof got['reply_to']).toBe('string');
  });

  it('the hang detector fails a workflow that cannot finish with its pending parts and chord counters', async () => {
    const env = await setup();
    const { t } = sigs(env.app);
    // One header part goes to a queue no worker consumes: the chord can never join.
    const stuck = signature('t.add', [2, 2], {}, { queue: 'nobody-consumes-this' }, env.app).freeze();
    const r = await chord([t('t.add', 1, 1), stuck], t('t.tsum')).applyAsync();
    const err = (await settle(r, env.probe, 1000).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/^workflow did not finish in 1000 ms/);
    expect(err.message).toContain(`pending: `);
    expect(err.message).toMatch(new RegExp(`${stuck.id as string} PENDING t\\.add`));
    expect(err.message).toMatch(/size=2 parts=\[[0-9a-f-]+#0:SUCCESS\]/);
    if (kind === 'redis') expect(err.message).toMatch(/redis: \.s=2 \.t=- \.j=1/);
  });

  it('chain, group and chord composed in TypeScript keep their types and ids', async () => {
    const env = await setup();
    const r = await chain(group(signature('t.add', [1, 1], {}, {}, env.app), signature('t.add', [2, 2], {}, {}, env.app)), signature('t.tsum', [], {}, {}, env.app)).applyAsync();
    expect(await env.settle(r)).toBe(6);
    const c = await chord([signature('t.add', [1, 1], {}, {}, env.app)], signature('t.tsum', [], {}, {}, env.app)).applyAsync();
    expect(await env.settle(c)).toBe(2);
  });
});

/** Untyped signature builders over an app's canvas tasks: `t(name, ...args)`, `ti` immutable. */
export function sigs(app: App) {
  const t = (name: string, ...args: Json[]) => signature(name, args, {}, {}, app);
  const ti = (name: string, ...args: Json[]) => t(name, ...args).clone({ immutable: true });
  return { t, ti, chain, group, chord };
}
