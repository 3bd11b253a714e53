/**
 * `link` / `linkError` are typed against the task: a callback's first parameter must accept
 * the task's return type, an errback's the failed task's id. The `@ts-expect-error` lines are
 * the test (`npm run typecheck` fails if one of them compiles); the runtime part shows the
 * typed forms still send what they did.
 */
import { describe, expect, it } from 'vitest';
import { createTestApp } from '../testing/test-app.js';
import { chain } from '../canvas/primitives.js';

function tasks() {
  const { app } = createTestApp({ taskAlwaysEager: true });
  const add = app.task('t.add', (x: number, y: number) => x + y);
  const double = app.task('t.double', (n: number) => n * 2);
  const shout = app.task('t.shout', (s: string) => s.toUpperCase());
  const alarm = app.task('t.alarm', (taskId: string, why: string) => `${why}: ${taskId}`);
  const seen: unknown[] = [];
  const record = app.task('t.record', (value: unknown) => void seen.push(value));
  return { app, add, double, shout, alarm, record, seen };
}

/** Compiled, never run: each wrong form below must fail to type-check. */
export function linkTypes(): void {
  const { add, double, shout, alarm, record } = tasks();
  void add.applyAsync([1, 2], { link: double.s(), linkError: alarm.s('why') });
  void add.applyAsync([1, 2], { link: [double.s(), record.s(), shout.si('x'), chain(double.s(), double.s())] });
  void add.applyAsyncMany([[1, 2]], { link: double.s() });
  void add.applyAsync([1, 2], { link: { task: 'py.untyped', args: [], kwargs: {}, options: {}, subtask_type: null, immutable: false } });
  // @ts-expect-error: shout's first parameter is a string; add returns a number
  void add.applyAsync([1, 2], { link: shout.s() });
  // @ts-expect-error: the same inside a list
  void add.applyAsync([1, 2], { link: [double.s(), shout.s()] });
  // @ts-expect-error: a chain whose first step takes a string
  void add.applyAsync([1, 2], { link: chain(shout.s(), shout.s()) });
  // @ts-expect-error: applyAsyncMany checks its links too
  void add.applyAsyncMany([[1, 2]], { link: shout.s() });
  // @ts-expect-error: every argument given: the result would be one argument too many
  void add.applyAsync([1, 2], { link: double.s(3) });
  // @ts-expect-error: an errback receives the failed task's id, a string
  void add.applyAsync([1, 2], { linkError: double.s() });
  // Signature.link / linkError follow the signature's own return type.
  void double.s().link(double.s()).linkError(alarm.s('why'));
  // @ts-expect-error: double returns a number; shout takes a string
  void double.s().link(shout.s());
  // @ts-expect-error: an errback receives the failed task's id, a string
  void double.s().linkError(double.s());
}

describe('typed link / linkError', () => {
  it('a callback typed to the result receives it', async () => {
    const { add, record, double, seen } = tasks();
    await add.applyAsync([1, 2], { link: [record.s(), double.s()] });
    expect(seen).toEqual([3]);
  });
});
