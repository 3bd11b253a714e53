import { describe, expect, it } from 'vitest';
import { NotRegistered, TaskError, TaskRevokedError, TimeLimitExceeded, fromExceptionRecord, toExceptionRecord } from './task-errors.js';

describe('exception records', () => {
  it('uses Python builtin names with module builtins, the class name for subclasses', () => {
    class ValueError extends Error {}
    class QuotaExceeded extends Error {}
    expect(toExceptionRecord(new ValueError('bad'))).toEqual({ exc_type: 'ValueError', exc_message: ['bad'], exc_module: 'builtins' });
    expect(toExceptionRecord(new QuotaExceeded('q'))).toEqual({ exc_type: 'QuotaExceeded', exc_message: ['q'], exc_module: null });
    expect(toExceptionRecord(new TypeError('t'))).toEqual({ exc_type: 'TypeError', exc_message: ['t'], exc_module: 'builtins' });
    expect(toExceptionRecord(new Error('plain'))).toEqual({ exc_type: 'Exception', exc_message: ['plain'], exc_module: 'builtins' });
    expect(toExceptionRecord('a string')).toEqual({ exc_type: 'Exception', exc_message: ['a string'], exc_module: 'builtins' });
  });

  it('writes Celery exception classes as Celery does', () => {
    expect(toExceptionRecord(new NotRegistered('x.y'))).toEqual({ exc_type: 'NotRegistered', exc_message: ['x.y'], exc_module: 'celery.exceptions' });
    expect(toExceptionRecord(new TimeLimitExceeded(3))).toEqual({ exc_type: 'TimeLimitExceeded', exc_message: [3], exc_module: 'billiard.exceptions' });
    expect(toExceptionRecord(new TaskRevokedError('expired'))).toEqual({ exc_type: 'TaskRevokedError', exc_message: ['expired'], exc_module: 'celery.exceptions' });
  });

  it('rebuilds records as typed errors', () => {
    const err = fromExceptionRecord({ exc_type: 'KeyError', exc_message: ['k5'], exc_module: 'builtins' }, 'id1', 'tb');
    expect(err).toBeInstanceOf(TaskError);
    expect(err).toMatchObject({ name: 'KeyError', message: 'k5', taskId: 'id1', traceback: 'tb' });
    expect(fromExceptionRecord({ exc_type: 'TaskRevokedError', exc_message: ['terminated'], exc_module: 'celery.exceptions' }, 'i', null)).toBeInstanceOf(TaskRevokedError);
    expect(fromExceptionRecord({ exc_type: 'X', exc_message: [1, 'two'], exc_module: null }, 'i', null).message).toBe('1, "two"');
  });

  it('rebuilds a record whose argument JSON.stringify cannot write (nested too deep, a bigint), its message showing the repr', () => {
    let deep: unknown[] = [];
    for (let i = 0; i < 20_000; i++) deep = [deep];
    const err = fromExceptionRecord({ exc_type: 'ValueError', exc_message: [deep as never, 'x'], exc_module: 'builtins' }, 'i', null);
    expect(err).toBeInstanceOf(TaskError);
    expect(err.message).toMatch(/^\[+\.\.\.\]+, "x"$/);
    expect(err.message.length).toBeLessThan(1000);
    // A Python int past 2**53, read as a bigint: JSON.stringify throws a TypeError on it.
    expect(fromExceptionRecord({ exc_type: 'ValueError', exc_message: [(2n ** 64n) as never], exc_module: 'builtins' }, 'i', null).message).toBe('18446744073709551616');
  });
});
