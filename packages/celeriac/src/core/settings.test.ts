import { describe, expect, expectTypeOf, it } from 'vitest';
import { CeleriacError, ErrorCodes } from '../errors.js';
import { SETTINGS, parseSettingText, resolveSettings, settingProblem, type ResolvedSettings, type Settings } from './settings.js';

describe('resolveSettings', () => {
  it('brokerConnectionRetryIntervals: kombu\'s backoff by default, another from code or the environment, bad ones refused', () => {
    expect(resolveSettings({}, {}).brokerConnectionRetryIntervals).toEqual({ intervalStart: 2, intervalStep: 2, intervalMax: 30 });
    const env = { CELERIAC_BROKER_CONNECTION_RETRY_INTERVALS: '{"intervalStart":0.2,"intervalStep":0.1,"intervalMax":0.5}' };
    expect(resolveSettings({}, env).brokerConnectionRetryIntervals).toEqual({ intervalStart: 0.2, intervalStep: 0.1, intervalMax: 0.5 });
    expect(() => resolveSettings({ brokerConnectionRetryIntervals: { intervalStart: 1, intervalStep: 1 } as never }, {})).toThrow(/intervalMax must be a number/);
    expect(() => resolveSettings({ brokerConnectionRetryIntervals: { intervalStart: -1, intervalStep: 1, intervalMax: 5 } }, {})).toThrow(/intervalStart must be a number of seconds, 0 or more/);
    expect(() => resolveSettings({ brokerConnectionRetryIntervals: { intervalStart: 1, intervalStep: 1, intervalMax: 0 } }, {})).toThrow(/intervalMax must be above 0/);
    expect(() => resolveSettings({ brokerConnectionRetryIntervals: { intervalStart: 0, intervalStep: 0, intervalMax: 5 } }, {})).toThrow(/cannot both be 0/);
    expect(resolveSettings({ brokerConnectionRetryIntervals: { intervalStart: 0, intervalStep: 0.5, intervalMax: 5 } }, {}).brokerConnectionRetryIntervals.intervalStart).toBe(0);
    expect(() => resolveSettings({ brokerConnectionRetryIntervals: { interval_start: 1 } as never }, {})).toThrow(/unknown name interval_start/);
  });

  it('fills every default and freezes the result', () => {
    const s = resolveSettings({}, {});
    expect(s.broker).toBe('memory://');
    expect(s.backend).toBe('memory://');
    expect(s.taskDefaultQueue).toBe('celery');
    expect(s.resultExpires).toBe(86_400);
    expect(s.workerPrefetchMultiplier).toBe(4);
    expect(Object.isFrozen(s)).toBe(true);
    for (const spec of SETTINGS) expect(s).toHaveProperty(spec.name);
  });

  it('reads the Celery env vars users keep in .env', () => {
    const s = resolveSettings({}, { CELERY_BROKER_URL: 'memory://b', CELERY_RESULT_BACKEND: 'memory://r' });
    expect(s.broker).toBe('memory://b');
    expect(s.backend).toBe('memory://r');
  });

  it('reads CELERIAC_* before CELERY_* and parses types', () => {
    const s = resolveSettings({}, {
      CELERIAC_TASK_ACKS_LATE: 'yes',
      CELERY_TASK_ACKS_LATE: 'false',
      CELERY_WORKER_CONCURRENCY: '3',
      CELERIAC_RESULT_EXPIRES: 'none',
      CELERY_TASK_ROUTES: '{"a.*": "q1"}',
      CELERY_TASK_TIME_LIMIT: '2.5',
    });
    expect(s.taskAcksLate).toBe(true);
    expect(s.workerConcurrency).toBe(3);
    expect(s.resultExpires).toBeNull();
    expect(s.taskRoutes).toEqual({ 'a.*': 'q1' });
    expect(s.taskTimeLimit).toBe(2.5);
  });

  it('lets explicit settings win over the environment; undefined falls through', () => {
    const env = { CELERY_BROKER_URL: 'memory://env' };
    expect(resolveSettings({ broker: 'memory://code' }, env).broker).toBe('memory://code');
    expect(resolveSettings({ broker: undefined }, env).broker).toBe('memory://env');
    expect(resolveSettings({ broker: '' }, {}).broker).toBe('memory://');
    expect(resolveSettings({}, { CELERY_TASK_DEFAULT_PRIORITY: '3' }).taskDefaultPriority).toBe(3);
    expect(() => resolveSettings({}, { CELERY_TASK_DEFAULT_PRIORITY: '1.5' })).toThrow(/an integer or null/);
  });

  it('rejects unknown names with a suggestion', () => {
    expect(() => resolveSettings({ task_acks_late: true } as never, {})).toThrow(/Unknown setting "task_acks_late".*Did you mean taskAcksLate/);
    // Celery names that are not the camelCase of ours.
    expect(() => resolveSettings({ broker_url: 'memory://' } as never, {})).toThrow(/Unknown setting "broker_url"\. Did you mean broker\?/);
    expect(() => resolveSettings({ BROKER_URL: 'memory://' } as never, {})).toThrow(/Did you mean broker\?/);
    expect(() => resolveSettings({ result_backend: 'memory://' } as never, {})).toThrow(/Unknown setting "result_backend"\. Did you mean backend\?/);
    expect(() => resolveSettings({ worker_autoscaler: '4,1' } as never, {})).toThrow(/Did you mean workerAutoscale\?/);
    expect(() => resolveSettings({ constructor: 1 } as never, {})).toThrow(/^Unknown setting "constructor"\. See/);
  });

  it.each([
    [{ workerConcurrency: 0 }, /workerConcurrency: must be greater than 0/],
    [{ workerConcurrency: 1.5 }, /expected an integer/],
    [{ taskAcksLate: 'yes' }, /taskAcksLate: expected a boolean/],
    [{ broker: 'localhost:6379' }, /must be a URL/],
    [{ taskDefaultPriority: 12 }, /0 to 9/],
    [{ taskRoutes: { x: 3 } }, /route "x" must be a queue name/],
    [{ logLevel: 'loud' }, /must be one of/],
  ])('rejects %j', (input, message) => {
    const attempt = () => resolveSettings(input as never, {});
    expect(attempt).toThrow(CeleriacError);
    expect(attempt).toThrow(message);
  });

  it('names the env var when its value is bad', () => {
    let caught: unknown;
    try {
      resolveSettings({}, { CELERY_TASK_ACKS_LATE: 'maybe' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CeleriacError);
    expect((caught as CeleriacError).code).toBe(ErrorCodes.CONFIG);
    expect((caught as Error).message).toMatch(/CELERY_TASK_ACKS_LATE="maybe"/);
    expect(() => resolveSettings({}, { CELERY_WORKER_CONCURRENCY: 'many' })).toThrow(/expected a number/);
    expect(() => resolveSettings({}, { CELERY_TASK_ROUTES: '{' })).toThrow(/expected JSON/);
  });
});

describe('the settings table is the one source', () => {
  it('each default passes its own row (type and check), and names are unique', () => {
    for (const spec of SETTINGS) expect([spec.name, settingProblem(spec, spec.default)]).toEqual([spec.name, null]);
    expect(new Set(SETTINGS.map((s) => s.name)).size).toBe(SETTINGS.length);
  });

  it('derives the Settings type from the rows', () => {
    expectTypeOf<Settings['workerPool']>().toEqualTypeOf<'async' | 'threads' | 'prefork' | 'solo' | undefined>();
    expectTypeOf<ResolvedSettings['taskTimeLimit']>().toEqualTypeOf<number | null>();
    // @ts-expect-error: a value outside the row's type does not compile
    const bad: Settings = { workerConcurrency: '3' };
    // @ts-expect-error: nor does a name the table does not have
    const unknown: Settings = { workerConcurency: 3 };
    void [bad, unknown];
  });

  it('parses text forms as the environment and the CLI give them, with Celery log level names', () => {
    const spec = (name: string) => SETTINGS.find((s) => s.name === name)!;
    expect(parseSettingText(spec('logLevel'), ' WARNING ')).toBe('warn');
    expect(parseSettingText(spec('logLevel'), 'critical')).toBe('fatal');
    expect(resolveSettings({}, { CELERIAC_LOG_LEVEL: 'Debug' }).logLevel).toBe('debug');
    expect(parseSettingText(spec('taskTimeLimit'), 'none')).toBeNull();
    expect(() => parseSettingText(spec('workerConcurrency'), 'lots')).toThrow('expected a number');
    expect(settingProblem(spec('workerConcurrency'), 0)).toBe('must be greater than 0');
    expect(settingProblem(spec('workerConcurrency'), 1.5)).toMatch(/expected an integer/);
  });
});

describe('names of 0.1 without a unit (deprecated)', () => {
  it('still set their setting, with one DeprecationWarning per name; both names at once are refused', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const a = resolveSettings({ workerShutdownTimeout: 5, beatLeaseTtl: 9 }, {});
      const b = resolveSettings({ workerShutdownTimeout: 6 }, {});
      expect([a.workerShutdownTimeoutSec, a.beatLeaseTtlSec, b.workerShutdownTimeoutSec]).toEqual([5, 9, 6]);
      expect(Object.keys(a)).not.toContain('workerShutdownTimeout');
      await new Promise((r) => setImmediate(r));
      const ours = warnings.filter((w) => (w as { code?: string }).code === 'CELERIAC_DEP_SETTING').map((w) => w.message);
      expect(ours).toEqual([
        'setting workerShutdownTimeout is deprecated: use workerShutdownTimeoutSec (the same number of seconds); see docs/upgrading.md',
        'setting beatLeaseTtl is deprecated: use beatLeaseTtlSec (the same number of seconds); see docs/upgrading.md',
      ]);
    } finally {
      process.off('warning', onWarning);
    }
    expect(() => resolveSettings({ beatMisfireGrace: 1, beatMisfireGraceSec: 2 }, {})).toThrow(/beatMisfireGrace and beatMisfireGraceSec are one setting: give only beatMisfireGraceSec/);
  });

  it('their environment variables of 0.1 are still read', () => {
    expect(resolveSettings({}, { CELERY_WORKER_SHUTDOWN_TIMEOUT: '7', CELERIAC_BEAT_LEASE_TTL_SEC: '8' })).toMatchObject({ workerShutdownTimeoutSec: 7, beatLeaseTtlSec: 8 });
  });
});
