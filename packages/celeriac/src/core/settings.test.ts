import { describe, expect, it } from 'vitest';
import { CeleriacError, ErrorCodes } from '../errors.js';
import { SETTINGS, resolveSettings } from './settings.js';

describe('resolveSettings', () => {
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
