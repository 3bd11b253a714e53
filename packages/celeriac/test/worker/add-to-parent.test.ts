/**
 * `addToParent` (Celery's `add_to_parent`, on by default): tasks a task sends while a worker
 * runs it are recorded in its stored `children`, before its follow-ups, so `children()` and
 * `collect()` find them; `addToParent: false` leaves one out; an eager run records nothing.
 * The threads and prefork pools carry them back from their children (pools-children-suite.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { closeEnvs, makeEnv, waitForState } from './helpers.js';

afterEach(closeEnvs);

describe('addToParent', () => {
  it("a task's sends are its children, in send order, then its link callbacks; collect() walks them", async () => {
    const env = makeEnv();
    const add = env.app.task('atp.add', (x: number, y: number) => x + y);
    const fanOut = env.app.task('atp.fan_out', async (n: number) => {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) ids.push((await add.delay(i, 100)).id);
      await add.applyAsync([0, 0], { addToParent: false });
      return ids;
    });
    const count = env.app.task('atp.count', (ids: string[]) => ids.length);
    await env.startWorker();
    const r = await fanOut.applyAsync([3], { link: count.s() });
    const sent = (await r.get({ timeoutMs: 5000 })) as string[];
    const meta = await waitForState(env, r.id, 'SUCCESS');
    const childIds = meta.children.map((c) => c[0][0]);
    expect(childIds).toHaveLength(4);
    expect(childIds.slice(0, 3)).toEqual(sent);
    const seen: [string, unknown][] = [];
    for await (const [node, value] of r.collect({ timeoutMs: 5000 })) seen.push([node.id, value]);
    expect(seen).toEqual([[r.id, sent], [sent[0], 100], [sent[1], 101], [sent[2], 102], [childIds[3], 3]]);
  });

  it('a failed task keeps the children it sent before failing', async () => {
    const env = makeEnv();
    const add = env.app.task('atp.add', (x: number, y: number) => x + y);
    let sentId = '';
    const sendThenFail = env.app.task('atp.send_then_fail', async () => {
      sentId = (await add.delay(1, 1)).id;
      throw new RangeError('after sending');
    });
    await env.startWorker();
    const r = await sendThenFail.delay();
    const meta = await waitForState(env, r.id, 'FAILURE');
    expect(meta.children).toEqual([[[sentId, null], null]]);
  });

  it('an eager run records nothing (Celery: only a worker task is a parent)', async () => {
    const env = makeEnv({ taskAlwaysEager: true });
    const add = env.app.task('atp.add', (x: number, y: number) => x + y);
    const outer = env.app.task('atp.outer', async () => (await add.delay(1, 2)).get());
    const r = await outer.delay();
    expect(await r.get()).toBe(3);
    expect(await r.children()).toEqual([]);
  });
});
