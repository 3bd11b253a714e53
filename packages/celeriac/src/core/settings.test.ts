import { describe, expect, expectTypeOf, it } from 'vitest';
import { CeleriacError, ErrorCodes } from '../errors.js';
import { SETTINGS, parseSettingText, resolveSettings, settingProblem, type ResolvedSettings, type Settings } from './settings.js';
import { fromCelery } from './celery-config.js';
import { collectWarnings } from '../../test/support/deprecation-warnings.js';

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
    expect(s.resultExpiresSec).toBe(86_400);
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
    expect(s.resultExpiresSec).toBeNull();
    expect(s.taskRoutes).toEqual({ 'a.*': 'q1' });
    expect(s.taskTimeLimitSec).toBe(2.5);
  });

  it("reads resultExpiresSec 0 as null, forever, as Celery's result_expires", () => {
    expect(resolveSettings({ resultExpiresSec: 0 }, {}).resultExpiresSec).toBeNull();
    expect(resolveSettings({}, { CELERY_RESULT_EXPIRES: '0' }).resultExpiresSec).toBeNull();
    expect(resolveSettings({ resultExpiresSec: 0.5 }, {}).resultExpiresSec).toBe(0.5);
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
    expect(() => resolveSettings({ worker_autoscale: '4,1' } as never, {})).toThrow(/Did you mean workerAutoscale\?/);
    expect(() => resolveSettings({ worker_autoscaler: '4,1' } as never, {})).toThrow(/worker_autoscaler names the autoscaler class.*workerAutoscale \('10,3'\)/);
    expect(() => resolveSettings({ constructor: 1 } as never, {})).toThrow(/^Unknown setting "constructor"\. See/);
  });

  it.each([
    [{ workerConcurrency: -2 }, /workerConcurrency: must be 0 or more/],
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
    expectTypeOf<ResolvedSettings['taskTimeLimitSec']>().toEqualTypeOf<number | null>();
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
    expect(parseSettingText(spec('taskTimeLimitSec'), 'none')).toBeNull();
    expect(() => parseSettingText(spec('workerConcurrency'), 'lots')).toThrow('expected a number');
    expect(settingProblem(spec('workerConcurrency'), -1)).toBe('must be 0 or more');
    expect(settingProblem(spec('workerConcurrency'), 0)).toBeNull(); // one per CPU, as Celery's -c 0
    expect(settingProblem(spec('workerConcurrency'), 1.5)).toMatch(/expected an integer/);
  });
});

describe('names of 0.1 without a unit (deprecated)', () => {
  it('still set their setting, with one DeprecationWarning per name; both names at once are refused', async () => {
    const warnings = await collectWarnings(() => {
      const a = resolveSettings({ workerShutdownTimeout: 5, beatLeaseTtl: 9 }, {});
      const b = resolveSettings({ workerShutdownTimeout: 6 }, {});
      expect([a.workerShutdownTimeoutSec, a.beatLeaseTtlSec, b.workerShutdownTimeoutSec]).toEqual([5, 9, 6]);
      expect(Object.keys(a)).not.toContain('workerShutdownTimeout');
    });
    expect(warnings).toEqual([
      'setting workerShutdownTimeout is deprecated: use workerShutdownTimeoutSec (the same number of seconds); see docs/upgrading.md',
      'setting beatLeaseTtl is deprecated: use beatLeaseTtlSec (the same number of seconds); see docs/upgrading.md',
    ]);
    expect(() => resolveSettings({ beatMisfireGrace: 1, beatMisfireGraceSec: 2 }, {})).toThrow(/beatMisfireGrace and beatMisfireGraceSec are one setting: give only beatMisfireGraceSec/);
  });

  // Celery's names in camelCase, as 0.2 spelt them: each now says its unit.
  const celeryNamed: [old: string, now: string, unit: string, value: number][] = [
    ['taskTimeLimit', 'taskTimeLimitSec', 'seconds', 300],
    ['taskSoftTimeLimit', 'taskSoftTimeLimitSec', 'seconds', 240],
    ['resultExpires', 'resultExpiresSec', 'seconds', 3600],
    ['beatMaxLoopInterval', 'beatMaxLoopIntervalSec', 'seconds', 60],
    ['workerMaxMemoryPerChild', 'workerMaxMemoryPerChildKib', 'KiB', 200_000],
  ];
  for (const [old, now, unit, value] of celeryNamed) {
    it(`${old}: read as ${now} (the same ${unit}), warned once, refused beside ${now}`, async () => {
      const warnings = await collectWarnings(() => {
        const a = resolveSettings({ [old]: value } as Settings, {});
        const b = resolveSettings({ [old]: value + 1 } as Settings, {});
        expect([(a as Record<string, unknown>)[now], (b as Record<string, unknown>)[now]]).toEqual([value, value + 1]);
        expect(Object.keys(a)).not.toContain(old);
      });
      expect(warnings).toEqual([`setting ${old} is deprecated: use ${now} (the same number of ${unit}); see docs/upgrading.md`]);
      expect(() => resolveSettings({ [old]: value, [now]: value } as Settings, {})).toThrow(`Settings ${old} and ${now} are one setting: give only ${now} (${old} is its deprecated name).`);
      // Given as undefined, the old name is no second value.
      expect((resolveSettings({ [old]: undefined, [now]: value } as Settings, {}) as Record<string, unknown>)[now]).toBe(value);
    });
  }

  it('Celery\'s own spellings of those settings are read without a warning: fromCelery and the environment', async () => {
    const warnings = await collectWarnings(() => {
      const s = resolveSettings(fromCelery({ task_time_limit: 30, task_soft_time_limit: 20, result_expires: 60, beat_max_loop_interval: 5, worker_max_memory_per_child: 1000 }), {});
      expect(s).toMatchObject({ taskTimeLimitSec: 30, taskSoftTimeLimitSec: 20, resultExpiresSec: 60, beatMaxLoopIntervalSec: 5, workerMaxMemoryPerChildKib: 1000 });
      const e = resolveSettings({}, { CELERY_TASK_TIME_LIMIT: '7', CELERY_RESULT_EXPIRES: '8', CELERIAC_BEAT_MAX_LOOP_INTERVAL_SEC: '9', CELERY_WORKER_MAX_MEMORY_PER_CHILD: '10' });
      expect(e).toMatchObject({ taskTimeLimitSec: 7, resultExpiresSec: 8, beatMaxLoopIntervalSec: 9, workerMaxMemoryPerChildKib: 10 });
    });
    expect(warnings).toEqual([]);
  });

  it('their environment variables of 0.1 are still read', () => {
    expect(resolveSettings({}, { CELERY_WORKER_SHUTDOWN_TIMEOUT: '7', CELERIAC_BEAT_LEASE_TTL_SEC: '8' })).toMatchObject({ workerShutdownTimeoutSec: 7, beatLeaseTtlSec: 8 });
    expect(resolveSettings({}, { CELERIAC_TASK_SOFT_TIME_LIMIT: '3', CELERIAC_TASK_SOFT_TIME_LIMIT_SEC: '4' }).taskSoftTimeLimitSec).toBe(4);
  });
});
