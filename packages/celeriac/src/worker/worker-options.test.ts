import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { resolveSettings } from '../core/settings.js';
import { ErrorCodes } from '../errors.js';
import { collectWarnings } from '../../test/support/deprecation-warnings.js';
import { resolveWorkerOptions, type WorkerOptions } from './worker-options.js';

const settings = resolveSettings({ taskDefaultQueue: 'jobs', workerConcurrency: 3, workerPrefetchMultiplier: 5, workerShutdownTimeoutSec: 7 }, {});

describe('resolveWorkerOptions', () => {
  it('falls back to settings and freezes the result', () => {
    const o = resolveWorkerOptions({ hostname: 'w@h' }, settings);
    expect(o).toEqual({ queues: ['jobs'], concurrency: 3, prefetchMultiplier: 5, hostname: 'w@h', shutdownTimeoutMs: 7000, pool: 'async', appModule: null, appAttr: null, maxTasksPerChild: null, maxMemoryPerChildKib: null, autoscale: null, timeLimitSec: null, softTimeLimitSec: null, sendTaskEvents: false, blockWarningSec: 1, lostTaskGraceMs: 300_000 });
    expect(Object.isFrozen(o)).toBe(true);
    expect(Object.isFrozen(o.queues)).toBe(true);
  });

  it('takes explicit options over settings, dedupes and trims queues, expands the node name', () => {
    const o = resolveWorkerOptions({ queues: ['a', 'b', 'a', ' c '], concurrency: 1, prefetchMultiplier: 0, shutdownTimeoutSec: 0, hostname: 'x' }, settings);
    expect(o.queues).toEqual(['a', 'b', 'c']);
    expect(o).toMatchObject({ concurrency: 1, prefetchMultiplier: 0, shutdownTimeoutMs: 0, hostname: 'celery@x' });
  });

  it('reads concurrency 0 as one slot per CPU, as Celery does (-c 0 or the setting)', () => {
    expect(resolveWorkerOptions({ concurrency: 0 }, settings).concurrency).toBe(availableParallelism());
    expect(resolveWorkerOptions({}, resolveSettings({ workerConcurrency: 0 }, {})).concurrency).toBe(availableParallelism());
    expect(resolveWorkerOptions({ pool: 'solo', concurrency: 0 }, settings).concurrency).toBe(1);
  });

  it('refuses a pool past its limit: 1024 threads or child processes (concurrency or autoscale max), a million async slots', () => {
    const app = { appModule: 'app.ts' };
    expect(resolveWorkerOptions({ ...app, pool: 'threads', concurrency: 1024 }, settings).concurrency).toBe(1024);
    expect(() => resolveWorkerOptions({ ...app, pool: 'threads', concurrency: 99_999_999_999 }, settings)).toThrow(/concurrency 99999999999 is more than the threads pool's limit of 1024 threads/);
    expect(() => resolveWorkerOptions({ ...app, pool: 'prefork', autoscale: { max: 5000, min: 2 } }, settings)).toThrow(/autoscale max 5000 is more than the prefork pool's limit of 1024 child processes/);
    expect(resolveWorkerOptions({ concurrency: 5000 }, settings).concurrency).toBe(5000);
    expect(() => resolveWorkerOptions({ concurrency: 1_000_001 }, settings)).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT, message: expect.stringContaining("the async pool's limit of 1000000") }));
    expect(resolveWorkerOptions({ pool: 'solo', concurrency: 99_999_999_999 }, settings).concurrency).toBe(1);
  });

  it('solo runs one task at a time whatever the concurrency; settings choose the pool and recycling', () => {
    expect(resolveWorkerOptions({ pool: 'solo', concurrency: 8 }, settings)).toMatchObject({ pool: 'solo', concurrency: 1 });
    const s = resolveSettings({ workerPool: 'threads', workerMaxTasksPerChild: 50, workerMaxMemoryPerChildKib: 200_000 }, {});
    const o = resolveWorkerOptions({ appModule: 'app.ts' }, s);
    expect(o).toMatchObject({ pool: 'threads', maxTasksPerChild: 50, maxMemoryPerChildKib: 200_000 });
    expect(o.appModule).toBe(pathToFileURL(resolve('app.ts')).href);
    expect(resolveWorkerOptions({ softTimeLimitSec: 4 }, resolveSettings({ taskTimeLimitSec: 9, taskSoftTimeLimitSec: 3 }, {}))).toMatchObject({ timeLimitSec: 9, softTimeLimitSec: 4 });
    expect(resolveWorkerOptions({ appModule: new URL('file:///srv/app.js'), maxTasksPerChild: null }, s)).toMatchObject({ appModule: 'file:///srv/app.js', maxTasksPerChild: null });
  });

  it('lostTaskGraceSec: the option, else the broker transport option (RabbitMQ: read here), else 300 s', () => {
    const s = resolveSettings({ brokerTransportOptions: { lostTaskGraceSec: 2 } }, {});
    expect(resolveWorkerOptions({}, s).lostTaskGraceMs).toBe(2000);
    expect(resolveWorkerOptions({ lostTaskGraceSec: 0 }, s).lostTaskGraceMs).toBe(0);
    expect(() => resolveWorkerOptions({}, resolveSettings({ brokerTransportOptions: { lostTaskGraceSec: '5' } }, {}))).toThrow(/lostTaskGraceSec must be a number of seconds/);
  });

  it('autoscale: Celery\'s max,min text from the setting, the pool starting at min', () => {
    expect(resolveWorkerOptions({}, resolveSettings({ workerAutoscale: '10,3' }, {}))).toMatchObject({ autoscale: { max: 10, min: 3 }, concurrency: 3 });
    expect(resolveWorkerOptions({}, resolveSettings({ workerAutoscale: '4' }, {}))).toMatchObject({ autoscale: { max: 4, min: 0 }, concurrency: 1 });
    expect(resolveWorkerOptions({ autoscale: { max: 6, min: 2 }, concurrency: 4 }, settings)).toMatchObject({ autoscale: { max: 6, min: 2 }, concurrency: 4 });
    expect(resolveWorkerOptions({ autoscale: null }, resolveSettings({ workerAutoscale: '10,3' }, {})).autoscale).toBeNull();
    expect(() => resolveSettings({ workerAutoscale: '3,x' }, {})).toThrow(/workerAutoscale: must be max,min/);
  });

  it('reads the names of 0.1 (timeLimit, softTimeLimit, maxMemoryPerChild) with one DeprecationWarning each', async () => {
    const warnings = await collectWarnings(() => {
      const a = resolveWorkerOptions({ timeLimit: 5, softTimeLimit: 4, maxMemoryPerChild: 1000 }, settings);
      const b = resolveWorkerOptions({ timeLimit: 6 }, settings);
      expect([a.timeLimitSec, a.softTimeLimitSec, a.maxMemoryPerChildKib, b.timeLimitSec]).toEqual([5, 4, 1000, 6]);
    });
    expect(warnings).toEqual([
      'worker option maxMemoryPerChild is deprecated: use maxMemoryPerChildKib (the same number of KiB); see docs/upgrading.md',
      'worker option timeLimit is deprecated: use timeLimitSec (the same number of seconds); see docs/upgrading.md',
      'worker option softTimeLimit is deprecated: use softTimeLimitSec (the same number of seconds); see docs/upgrading.md',
    ]);
  });

  const bad: [string, WorkerOptions, RegExp][] = [
    ['no queues', { queues: [] }, /queues/],
    ['a blank queue', { queues: ['ok', '  '] }, /queues/],
    ['a negative concurrency', { concurrency: -1 }, /concurrency must be an integer >= 0 \(0: one per CPU\), got -1/],
    ['fractional concurrency', { concurrency: 1.5 }, /concurrency/],
    ['negative prefetch multiplier', { prefetchMultiplier: -1 }, /prefetchMultiplier must be an integer >= 0, got -1/],
    ['fractional prefetch multiplier', { prefetchMultiplier: 0.5 }, /prefetchMultiplier/],
    ['negative shutdown timeout', { shutdownTimeoutSec: -1 }, /shutdownTimeoutSec/],
    ['NaN shutdown timeout', { shutdownTimeoutSec: Number.NaN }, /shutdownTimeoutSec/],
    ['an unknown pool', { pool: 'gevent' as never }, /unknown pool "gevent"; available: async, threads, prefork, solo/],
    ['the threads pool without appModule', { pool: 'threads' }, /threads pool needs `appModule`/],
    ['the prefork pool without appModule', { pool: 'prefork' }, /prefork pool needs `appModule` .* every child process/],
    ['an autoscale min above max', { autoscale: { max: 2, min: 3 } }, /autoscale must be max,min/],
    ['autoscale on the solo pool', { pool: 'solo', autoscale: { max: 2, min: 1 } }, /solo pool .* cannot autoscale/],
    ['maxTasksPerChild 0', { maxTasksPerChild: 0 }, /maxTasksPerChild must be an integer > 0/],
    ['a negative timeLimitSec', { timeLimitSec: -1 }, /timeLimitSec must be a finite number of seconds >= 0, or null/],
    ['fractional maxMemoryPerChildKib', { maxMemoryPerChildKib: 1.5 }, /maxMemoryPerChildKib must be an integer > 0/],
    ['both timeLimit and timeLimitSec', { timeLimit: 1, timeLimitSec: 2 }, /Worker options timeLimit and timeLimitSec are one worker option: give only timeLimitSec/],
    // These three were taken: the queue name spread into one queue per character, a numeric
    // hostname failed with a TypeError, a misspelt option was ignored for its default.
    ['a queue name as a string', { queues: 'celery' as never }, /queues must be a list of queue names, got "celery"/],
    ['a hostname that is not a string', { hostname: 5 as never }, /hostname must be a node name such as "w1@%h", got number/],
    ['an unknown option', { concurency: 4 } as never, /Worker: unknown option "concurency". Known: .*concurrency/],
    ["Celery's spelling of an option", { prefetch_multiplier: 4 } as never, /Worker: unknown option "prefetch_multiplier". Did you mean prefetchMultiplier\?/],
  ];
  for (const [label, options, message] of bad) {
    it(`refuses ${label} with CELERIAC_ERR_INVALID_ARGUMENT`, () => {
      let caught: unknown;
      try {
        resolveWorkerOptions(options, settings);
      } catch (err) {
        caught = err;
      }
      expect(caught).toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT, message: expect.stringMatching(message) });
      expect((caught as Error).message).toMatch(/^Worker/);
    });
  }
});
