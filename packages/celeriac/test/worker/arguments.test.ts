/**
 * Argument checks, as a Celery user expects them: a call that does not fit the function
 * fails with Python's TypeError text (at the worker for a message sent by name, as from
 * Python or `celeriac call`; in the caller for `delay`), and a task's Standard Schema
 * (valibot here) is checked before the body runs, its output given to the body.
 */
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import * as v from 'valibot';
import { InvalidArguments, type StandardSchemaV1 } from 'celeriac';
import { closeEnvs, makeEnv, waitForState } from './helpers.js';

afterEach(closeEnvs);

describe('arity, checked at the worker and reported in Python words', () => {
  it('too few, too many, and wrong keyword arguments fail with TypeError as CPython words it; nothing runs', async () => {
    const env = makeEnv();
    let ran = 0;
    env.app.task('tasks.add', { params: ['x', 'y'] }, (x: number, y: number) => (ran++, x + y));
    await env.startWorker();
    const failure = async (args: unknown[], kwargs = {}) => {
      const r = await env.app.sendTask('tasks.add', args as never, kwargs);
      return (await waitForState(env, r.id, 'FAILURE')).result;
    };
    expect(await failure([1])).toEqual({ exc_type: 'TypeError', exc_message: ["add() missing 1 required positional argument: 'y'"], exc_module: 'builtins' });
    expect(await failure([])).toEqual({ exc_type: 'TypeError', exc_message: ["add() missing 2 required positional arguments: 'x' and 'y'"], exc_module: 'builtins' });
    expect(await failure([1, 2, 3])).toEqual({ exc_type: 'TypeError', exc_message: ['add() takes 2 positional arguments but 3 were given'], exc_module: 'builtins' });
    expect(await failure([], { x: 1 })).toEqual({ exc_type: 'TypeError', exc_message: ["add() missing 1 required positional argument: 'y'"], exc_module: 'builtins' });
    expect(ran).toBe(0);
    const ok = await env.app.sendTask('tasks.add', [], { x: 1, y: 2 });
    expect(await ok.get({ timeoutMs: 5000 })).toBe(3);
  });

  it('delay() with arguments that cannot fit rejects in the caller with the same TypeError, and sends nothing', async () => {
    const env = makeEnv();
    const add = env.app.task('tasks.add', (x: number, y: number) => x + y);
    const loose = add as unknown as { delay(...a: unknown[]): Promise<unknown> };
    await expect(loose.delay(1)).rejects.toThrow(new TypeError("add() missing 1 required positional argument: 'y'"));
    await expect(loose.delay(1, 2, 3)).rejects.toThrow(TypeError);
    expect(await env.broker.queueLength('celery')).toBe(0);
  });

  it('defaults and rest parameters are honoured; checkArity: false lets a function take what it is given', async () => {
    const env = makeEnv();
    const withDefault = env.app.task('t.default', (x: number, y: number = 10) => x + y);
    const rest = env.app.task('t.rest', (...xs: number[]) => xs.length);
    const unchecked = env.app.task('t.unchecked', { checkArity: false }, (x: number, y?: number) => [x, y ?? null] as const);
    await env.startWorker();
    expect(await (await withDefault.delay(1)).get({ timeoutMs: 5000 })).toBe(11);
    expect(await (await rest.delay(1, 2, 3, 4)).get({ timeoutMs: 5000 })).toBe(4);
    expect(await (await env.app.sendTask('t.unchecked', [1])).get({ timeoutMs: 5000 })).toEqual([1, null]);
    expect(await (await unchecked.delay(1, 2)).get({ timeoutMs: 5000 })).toEqual([1, 2]);
  });
});

describe('a Standard Schema per task', () => {
  const schema = v.tuple([v.string(), v.pipe(v.number(), v.integer(), v.minValue(1))]);

  it('valibot: arguments are validated before the body; bad ones fail as ValueError with the issues', async () => {
    const env = makeEnv();
    let ran = 0;
    const repeat = env.app.task('t.repeat', { schema }, (text, times) => (ran++, text.repeat(times)));
    expectTypeOf(repeat.delay).parameters.toEqualTypeOf<[string, number]>();
    await env.startWorker();
    expect(await (await repeat.delay('ab', 2)).get({ timeoutMs: 5000 })).toBe('abab');
    const bad = await env.app.sendTask('t.repeat', ['ab', 0]);
    const meta = await waitForState(env, bad.id, 'FAILURE');
    expect(meta.result).toMatchObject({ exc_type: 'ValueError', exc_module: 'builtins' });
    expect((meta.result as { exc_message: string[] }).exc_message[0]).toMatch(/^t\.repeat: arguments do not match the task's schema: \[1\]: Invalid value: Expected >=1 but received 0$/);
    const short = await env.app.sendTask('t.repeat', ['ab']);
    expect(((await waitForState(env, short.id, 'FAILURE')).result as { exc_message: string[] }).exc_message[0]).toMatch(/schema/);
    expect(ran).toBe(1);
  });

  it("the body gets the schema's output (a transform), sync or async schemas alike", async () => {
    const env = makeEnv();
    const trimmed = v.tuple([v.pipe(v.string(), v.trim(), v.toUpperCase())]);
    const shout = env.app.task('t.shout', { schema: trimmed }, (text) => `${text}!`);
    const asyncSchema: StandardSchemaV1<[number], [number]> = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: async (value) => (Array.isArray(value) && typeof value[0] === 'number' ? { value: [value[0] * 2] as [number] } : { issues: [{ message: 'want a number', path: [0] }] }),
      },
    };
    const double = env.app.task('t.double', { schema: asyncSchema, bind: true }, (_ctx, n) => n);
    await env.startWorker();
    expect(await (await shout.delay('  hi ')).get({ timeoutMs: 5000 })).toBe('HI!');
    expect(await (await double.delay(21)).get({ timeoutMs: 5000 })).toBe(42);
    const bad = await env.app.sendTask('t.double', ['x']);
    expect(((await waitForState(env, bad.id, 'FAILURE')).result as { exc_message: string[] }).exc_message[0]).toBe("t.double: arguments do not match the task's schema: [0]: want a number");
  });

  it('validateOnSend: a bad call rejects in the caller with InvalidArguments and sends nothing; a good one is sent as given', async () => {
    const env = makeEnv();
    const repeat = env.app.task('t.repeat', { schema, validateOnSend: true }, (text, times) => text.repeat(times));
    const loose = repeat as unknown as { delay(...a: unknown[]): Promise<unknown> };
    const err = await loose.delay('ab', 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArguments);
    expect((err as InvalidArguments).issues[0]!.message).toMatch(/Expected number/);
    expect(await env.broker.queueLength('celery')).toBe(0);
    await env.startWorker();
    expect(await (await repeat.delay('x', 3)).get({ timeoutMs: 5000 })).toBe('xxx');
  });

  it('a schema option that is not a Standard Schema is refused at definition', () => {
    const env = makeEnv();
    expect(() => env.app.task('t.bad', { schema: { parse: () => [] } as never }, () => 1)).toThrow(/schema must implement Standard Schema v1/);
  });
});
