import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createTestApp } from '../testing/test-app.js';
import { buildTaskMessage } from './producer.js';
import type { TaskRequest } from './request.js';
import { bindArguments, buildRequest, traceTask, type TraceEnvironment } from './trace.js';

describe('bindArguments', () => {
  const { app } = createTestApp();
  const withParams = app.task('k.params', { params: ['x', 'y', 'z'] }, (x: number, y: number, z?: number) => x + y + (z ?? 0));
  const without = app.task('k.none', (x: number) => x);

  it('passes args through when there are no kwargs', () => {
    expect(bindArguments(without, [1, 2], {})).toEqual([1, 2]);
  });

  it('places kwargs at the positions named by params', () => {
    expect(bindArguments(withParams, [], { y: 2, x: 1 })).toEqual([1, 2]);
    expect(bindArguments(withParams, [1], { z: 3 })).toEqual([1, undefined, 3]);
  });

  it('fails like Python on unknown or doubled names', () => {
    expect(() => bindArguments(withParams, [], { w: 1 })).toThrow(/unexpected keyword argument 'w'/);
    expect(() => bindArguments(withParams, [1], { x: 1 })).toThrow(/multiple values for argument 'x'/);
    expect(() => bindArguments(without, [], { x: 1 })).toThrow(TypeError);
    expect(() => bindArguments(without, [], { x: 1 })).toThrow(/declare the task option `params`/);
  });
});

describe('traceTask', () => {
  const { app } = createTestApp();
  const env: TraceEnvironment = {
    hostname: 'w@h',
    deliveryInfo: { exchange: '', routing_key: 'celery' },
    isEager: false,
    timeLimit: [null, null],
    signal: new AbortController().signal,
    log: pino({ level: 'silent' }),
    updateState: () => Promise.resolve(),
  };
  const run = (name: string, args: unknown[]) => traceTask(app.lookup(name)!, buildTaskMessage(app, name, args as never, {}, {}).message, env);
  app.task('k.plain', (x: number) => x * 2);
  app.task('k.throws', () => {
    throw new Error('boom');
  });
  app.task('k.async', async (x: number) => x + 1);

  it("gives a plain function's outcome at once, not in a promise (success and failure)", () => {
    expect(run('k.plain', [21])).toEqual({ ok: true, value: 42 });
    const failed = run('k.throws', []);
    expect(failed).not.toBeInstanceOf(Promise);
    expect((failed as { error: Error }).error.message).toBe('boom');
  });

  it("gives a promise of an async function's outcome", async () => {
    const outcome = run('k.async', [1]);
    expect(outcome).toBeInstanceOf(Promise);
    expect(await outcome).toEqual({ ok: true, value: 2 });
  });
});

describe('buildRequest', () => {
  it('gives ctx.request every field of TaskRequest, none left undefined', () => {
    const { app } = createTestApp();
    app.task('k.req', () => null);
    const request = buildRequest(buildTaskMessage(app, 'k.req', [], {}, {}).message, { hostname: 'w@h', deliveryInfo: { exchange: '', routing_key: 'celery' }, isEager: false, timeLimit: [null, null] });
    // Request takes its fields from TaskRequest rather than restating them: this record does
    // not compile until a new field is listed, and the test fails until the constructor sets it.
    const fields: Record<keyof TaskRequest, true> = {
      id: true, task: true, args: true, kwargs: true, retries: true, parentId: true, rootId: true, groupId: true, groupIndex: true,
      hostname: true, deliveryInfo: true, properties: true, eta: true, expires: true, timeLimit: true, ignoreResult: true,
      origin: true, replyTo: true, correlationId: true, isEager: true, headers: true, replacedTaskNesting: true,
    };
    for (const key of Object.keys(fields) as (keyof TaskRequest)[]) expect(request[key], key).not.toBeUndefined();
  });
});
