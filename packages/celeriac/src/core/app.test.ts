import { describe, expect, expectTypeOf, it } from 'vitest';
import { CeleriacError, ErrorCodes } from '../errors.js';
import { createApp } from '../index.js';
import { createTestApp } from '../testing/test-app.js';
import type { AsyncResult } from './async-result.js';
import type { TaskContext } from './context.js';

describe('app.task', () => {
  it('registers both forms and infers types', async () => {
    const { app } = createTestApp({ taskAlwaysEager: true });
    const add = app.task('t.add', (x: number, y: number) => x + y);
    const crawl = app.task('t.crawl', { bind: true, softTimeLimitSec: 30 }, async (ctx, url: string) => {
      expectTypeOf(ctx).toEqualTypeOf<TaskContext>();
      return url.length;
    });
    // Celery's built-in canvas tasks (celery.*) are registered on every app, as in Celery.
    expect([...app.tasks.keys()].filter((name) => !name.startsWith('celery.'))).toEqual(['t.add', 't.crawl']);
    expectTypeOf(add.delay).parameters.toEqualTypeOf<[number, number]>();
    expectTypeOf(crawl.delay).parameters.toEqualTypeOf<[string]>();
    expectTypeOf(add.delay(1, 2)).resolves.toEqualTypeOf<AsyncResult<number>>();
    expectTypeOf(crawl.delay('u')).resolves.toEqualTypeOf<AsyncResult<number>>();
    // @ts-expect-error: wrong argument type is a compile error
    void add.delay('1', 2).catch(() => undefined);
    // @ts-expect-error: missing argument is a compile error
    void crawl.delay().catch(() => undefined);
    expect(await (await crawl.delay('abc')).get()).toBe(3);
  });

  it('rejects duplicate names, missing functions and bad options', () => {
    const { app } = createTestApp();
    app.task('dup', () => 1);
    expect(() => app.task('dup', () => 2)).toThrow(expect.objectContaining({ code: ErrorCodes.DUPLICATE_TASK }));
    expect(() => app.task('nofn', {} as never, undefined as never)).toThrow(/last argument must be the task function/);
    expect(() => app.task('', () => 1)).toThrow(/non-empty string name/);
    expect(() => app.task('p', { priority: 11 }, () => 1)).toThrow(/priority/);
    // 0 and null mean no limit (as in Celery); Infinity, NaN and negatives are refused at registration.
    expect(() => app.task('l0', { timeLimitSec: 0, softTimeLimitSec: null }, () => 1)).not.toThrow();
    for (const bad of [Infinity, NaN, -1]) expect(() => app.task(`l${String(bad)}`, { timeLimitSec: bad }, () => 1)).toThrow(expect.objectContaining({ code: 'CELERIAC_ERR_INVALID_ARGUMENT', message: expect.stringMatching(/timeLimitSec must be a finite number of seconds >= 0, or null/) as unknown }));
  });

  it('refuses options after the function, options of the wrong shape and mistyped flags, naming each', () => {
    const { app } = createTestApp();
    const fn = () => 1;
    const refused = (options: unknown, message: RegExp) =>
      expect(() => app.task('t', options as never, fn)).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT, message: expect.stringMatching(message) as unknown }));
    // Celery's decorator has no place for options after the function: they were dropped unread.
    const define = app.task.bind(app) as (...args: unknown[]) => unknown;
    expect(() => define('late', fn, { maxRetries: 3 })).toThrow(/the options go before the function, app\.task\(name, options, fn\)/);
    refused(5, /Task "t": options must be an object, got number/);
    refused([], /options must be an object, got an array/);
    for (const key of ['bind', 'acksLate', 'acksOnFailureOrTimeout', 'ignoreResult', 'trackStarted', 'retryJitter', 'rejectOnWorkerLost', 'checkArity', 'validateOnSend']) {
      refused({ [key]: 'true' }, new RegExp(`${key} must be true or false, got "true"`));
      refused({ [key]: 1 }, new RegExp(`${key} must be true or false, got 1`));
    }
    refused({ queue: 5 }, /queue must be a non-empty string, got 5/);
    refused({ queue: '' }, /queue must be a non-empty string, got ""/);
    refused({ params: 'a,b' }, /params must be a list of parameter names/);
    expect(app.lookup('t')).toBeUndefined();
    // null is no options, as Celery's None; false flags are flags.
    expect(app.task('none', null as never, fn).name).toBe('none');
    expect(app.task('flags', { acksLate: false, ignoreResult: true, queue: 'q' }, fn).options).toMatchObject({ acksLate: false, ignoreResult: true, queue: 'q' });
  });

  it('applyAsync checks args at run time too', () => {
    const { app } = createTestApp();
    const t = app.task('a', (x: number) => x);
    expect(() => t.applyAsync(5 as never)).toThrow(/args must be an array/);
  });
});

describe('createApp', () => {
  it('defaults to the embedded memory adapters', () => {
    const app = createApp({}, { env: {} });
    expect(app.broker.kind).toBe('memory');
    expect(app.backend.kind).toBe('memory');
    expect(app.brokerUrl).toBe('memory://');
  });

  it('fails fast on an unknown scheme, naming the known ones', () => {
    let caught: unknown;
    try {
      createApp({ broker: 'nosuch://host' }, { env: {} });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CeleriacError);
    expect((caught as CeleriacError).code).toBe(ErrorCodes.UNKNOWN_TRANSPORT);
    expect((caught as Error).message).toMatch(/No broker adapter for nosuch:\/\/host; known schemes: memory:\/\//);
  });

  it('overrides URLs before first use only, and hides passwords', () => {
    const app = createApp({}, { env: {} });
    app.overrideSettings({ broker: 'memory://user:secret@host/0' });
    expect(app.brokerUrl).toBe('memory://user:**@host/0');
    expect(() => app.overrideSettings({ broker: 'nosuch://x' })).toThrow(/known schemes/);
    void app.broker;
    expect(() => app.overrideSettings({ broker: 'memory://' })).toThrow(expect.objectContaining({ code: ErrorCodes.STATE }));
  });

  it('overrides other settings as createApp checks them: routes recompiled, log level applied', () => {
    const app = createApp({ workerConcurrency: 3 }, { env: {} });
    app.overrideSettings({ workerConcurrency: 7, taskRoutes: { 'a.*': 'fast' }, logLevel: 'error' });
    expect(app.settings.workerConcurrency).toBe(7);
    expect(app.route('a.b')).toMatchObject({ queue: 'fast' });
    expect(app.log.level).toBe('error');
    expect(Object.isFrozen(app.settings)).toBe(true);
    expect(() => app.overrideSettings({ workerConcurrency: -1 })).toThrow(expect.objectContaining({ code: ErrorCodes.CONFIG, message: expect.stringMatching(/workerConcurrency: must be 0 or more/) }));
    expect(() => app.overrideSettings({ nope: 1 } as never)).toThrow(/Unknown setting "nope"/);
    expect(app.settings.workerConcurrency).toBe(7);
  });
});
