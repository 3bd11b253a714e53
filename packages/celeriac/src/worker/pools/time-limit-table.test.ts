import { describe, expect, it } from 'vitest';
import { createApp } from '../../create-app.js';
import type { TaskMessage } from '../../protocol/types.js';
import { ErrorCodes } from '../../errors.js';
import { TimeLimitTable } from './time-limit-table.js';

const app = createApp({}, { broker: {} as never, backend: {} as never });
const withOptions = app.task('t.with', { timeLimitSec: 50, softTimeLimitSec: 40 }, () => null);
const without = app.task('t.without', () => null);
const message = (timelimit: [number | null, number | null]) => ({ headers: { timelimit } }) as unknown as TaskMessage;

describe('TimeLimitTable.resolve', () => {
  it('per element: header, then task options, then the worker defaults', () => {
    const table = new TimeLimitTable({ hard: 100, soft: 90 });
    expect(table.resolve(withOptions, message([null, null]))).toEqual({ hard: 50, soft: 40 });
    expect(table.resolve(withOptions, message([7, null]))).toEqual({ hard: 7, soft: 40 });
    expect(table.resolve(without, message([null, 3]))).toEqual({ hard: 100, soft: 3 });
    expect(new TimeLimitTable({ hard: null, soft: null }).resolve(without, message([null, null]))).toEqual({ hard: null, soft: null });
  });

  it('a run-time override replaces both task options (null falls to the defaults); the header still wins', () => {
    const table = new TimeLimitTable({ hard: 100, soft: 90 });
    table.set('t.with', { hard: 20 });
    expect(table.get('t.with')).toEqual({ hard: 20, soft: null });
    expect(table.resolve(withOptions, message([null, null]))).toEqual({ hard: 20, soft: 90 });
    expect(table.resolve(withOptions, message([null, 5]))).toEqual({ hard: 20, soft: 5 });
    table.set('t.with', null);
    expect(table.resolve(withOptions, message([null, null]))).toEqual({ hard: 50, soft: 40 });
  });

  it('0 and null mean no limit at that level, as in Celery (`time_limit or task.time_limit`)', () => {
    // A Python caller's timelimit [0, null] failed every task at once with TimeLimitExceeded.
    const none = new TimeLimitTable({ hard: null, soft: null });
    expect(none.resolve(without, message([0, null]))).toEqual({ hard: null, soft: null });
    expect(none.resolve(without, message([0, 0]))).toEqual({ hard: null, soft: null });
    expect(none.resolve(withOptions, message([0, 0]))).toEqual({ hard: 50, soft: 40 });
    expect(new TimeLimitTable({ hard: 0, soft: 0 }).resolve(without, message([null, null]))).toEqual({ hard: null, soft: null });
    expect(new TimeLimitTable({ hard: 30, soft: 0 }).resolve(without, message([0, null]))).toEqual({ hard: 30, soft: null });
    expect(none.resolve(without, message([-5, null]))).toEqual({ hard: null, soft: null });
    none.set('t.with', { hard: 0, soft: 0 });
    expect(none.get('t.with')).toEqual({ hard: null, soft: null });
  });

  it('refuses limits that are not numbers >= 0', () => {
    const table = new TimeLimitTable({ hard: 100, soft: 90 });
    for (const bad of [-1, Number.NaN, Infinity, '3' as never]) {
      expect(() => table.set('t.with', { hard: bad })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }));
    }
  });
});
