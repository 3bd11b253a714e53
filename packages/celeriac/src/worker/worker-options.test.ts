import { describe, expect, it } from 'vitest';
import { resolveSettings } from '../core/settings.js';
import { ErrorCodes } from '../errors.js';
import { resolveWorkerOptions, type WorkerOptions } from './worker-options.js';

const settings = resolveSettings({ taskDefaultQueue: 'jobs', workerConcurrency: 3, workerPrefetchMultiplier: 5, workerShutdownTimeout: 7 }, {});

describe('resolveWorkerOptions', () => {
  it('falls back to settings and freezes the result', () => {
    const o = resolveWorkerOptions({ hostname: 'w@h' }, settings);
    expect(o).toEqual({ queues: ['jobs'], concurrency: 3, prefetchMultiplier: 5, hostname: 'w@h', shutdownTimeoutMs: 7000, pool: 'async', sendTaskEvents: false });
    expect(Object.isFrozen(o)).toBe(true);
    expect(Object.isFrozen(o.queues)).toBe(true);
  });

  it('takes explicit options over settings, dedupes and trims queues, expands the node name', () => {
    const o = resolveWorkerOptions({ queues: ['a', 'b', 'a', ' c '], concurrency: 1, prefetchMultiplier: 0, shutdownTimeout: 0, hostname: 'x' }, settings);
    expect(o.queues).toEqual(['a', 'b', 'c']);
    expect(o).toMatchObject({ concurrency: 1, prefetchMultiplier: 0, shutdownTimeoutMs: 0, hostname: 'celery@x' });
  });

  const bad: [string, WorkerOptions, RegExp][] = [
    ['no queues', { queues: [] }, /queues/],
    ['a blank queue', { queues: ['ok', '  '] }, /queues/],
    ['concurrency 0', { concurrency: 0 }, /concurrency must be an integer >= 1, got 0/],
    ['fractional concurrency', { concurrency: 1.5 }, /concurrency/],
    ['negative prefetch multiplier', { prefetchMultiplier: -1 }, /prefetchMultiplier must be an integer >= 0, got -1/],
    ['fractional prefetch multiplier', { prefetchMultiplier: 0.5 }, /prefetchMultiplier/],
    ['negative shutdown timeout', { shutdownTimeout: -1 }, /shutdownTimeout/],
    ['NaN shutdown timeout', { shutdownTimeout: Number.NaN }, /shutdownTimeout/],
    ['an unknown pool', { pool: 'threads' as never }, /unknown pool "threads"/],
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
      expect((caught as Error).message).toMatch(/^Worker: /);
    });
  }
});
