/** The pool part of `inspect stats`, per pool kind, shaped as the Celery pool each mirrors (pool-stats-interop.test.ts compares prefork with a Python worker). */
import { describe, expect, it } from 'vitest';
import type { PoolStats } from '../pools/types.js';
import { poolInfo } from './inspect-handlers.js';

const base: PoolStats = { kind: 'async', maxConcurrency: 4, busy: 0, processes: [process.pid], maxTasksPerChild: null, maxMemoryPerChild: null, timeouts: [0, 0] };

describe('poolInfo', () => {
  it('prefork: the children, the recycling limit, writes counting only the children given a task', () => {
    const info = poolInfo({ ...base, kind: 'prefork', processes: [11, 12, 13], maxTasksPerChild: null, writes: [3, 0, 1] }, [5, 10]);
    expect(info).toEqual({
      'max-concurrency': 4, processes: [11, 12, 13], 'max-tasks-per-child': 'N/A', 'put-guarded-by-semaphore': false, timeouts: [5, 10],
      writes: { total: 4, avg: '0.50', all: '0.75, 0.25', raw: '3, 1', strategy: 'fair', inqueues: { total: 3, active: 0 } },
      implementation: 'celeriac:prefork',
    });
    expect(poolInfo({ ...base, kind: 'prefork', processes: [11], writes: [0] }, [0, 0])['writes']).toMatchObject({ total: 0, avg: '0.00', all: '', raw: '' });
  });

  it('threads as Celery\'s thread pool, solo as Celery\'s solo, async as solo with its size', () => {
    expect(poolInfo({ ...base, kind: 'threads', processes: [1, 2] }, [0, 0])).toEqual({ 'max-concurrency': 4, threads: 2, implementation: 'celeriac:threads' });
    expect(poolInfo({ ...base, kind: 'solo', maxConcurrency: 1 }, [0, 0])).toEqual({
      'max-concurrency': 1, processes: [process.pid], 'max-tasks-per-child': null, 'put-guarded-by-semaphore': true, timeouts: [], implementation: 'celeriac:solo',
    });
    expect(poolInfo(base, [1, 2])).toMatchObject({ 'max-concurrency': 4, processes: [process.pid], timeouts: [1, 2], implementation: 'celeriac:async' });
  });
});
