import { describe, expect, it } from 'vitest';
import { ChordError, Ignore, MaxRetriesExceededError, Reject, Retry, SoftTimeLimitExceeded, TaskError, TaskRevokedError, TimeLimitExceeded, WorkerLostError, toExceptionRecord } from '../../core/task-errors.js';
import { decodeError, encodeError, registerErrorCodec } from './error-transfer.js';

/** Structured clone, as postMessage does. */
const cross = <T>(value: T): T => structuredClone(value);

describe('error transfer across threads', () => {
  it('time-limit, revoke and worker-lost errors come back as instances of their class', () => {
    for (const err of [new SoftTimeLimitExceeded(2), new TimeLimitExceeded(3), new TaskRevokedError('terminated'), new WorkerLostError('gone')]) {
      const back = decodeError(cross(encodeError(err)), 'id');
      expect(back).toBeInstanceOf(err.constructor);
      expect(back.message).toBe(err.message);
      expect(toExceptionRecord(back)).toEqual(toExceptionRecord(err));
    }
  });

  it('Retry (with its cause and options), Reject, Ignore, ChordError and MaxRetriesExceededError keep their class', () => {
    class ValueError extends Error {}
    const retry = decodeError(cross(encodeError(new Retry({ exc: new ValueError('flaky'), countdown: 5, eta: null, queue: 'slow' }))), 'id');
    expect(retry).toBeInstanceOf(Retry);
    const r = retry as Retry;
    expect([r.countdown, r.eta, r.queue]).toEqual([5, null, 'slow']);
    expect(toExceptionRecord(r.exc)).toEqual({ exc_type: 'ValueError', exc_message: ['flaky'], exc_module: 'builtins' });
    expect((decodeError(cross(encodeError(new Retry())), 'id') as Retry).exc).toBeUndefined();
    const reject = decodeError(cross(encodeError(new Reject({ reason: 'bad input', requeue: true }))), 'id');
    expect(reject).toBeInstanceOf(Reject);
    expect([(reject as Reject).reason, (reject as Reject).requeue]).toEqual(['bad input', true]);
    for (const err of [new Ignore('skip'), new ChordError('Dependency x raised'), new MaxRetriesExceededError('too many')]) {
      const back = decodeError(cross(encodeError(err)), 'id');
      expect(back).toBeInstanceOf(err.constructor);
      expect(back.message).toBe(err.message);
    }
  });

  it('any other error keeps its exception record (class name, message, module) and its stack', () => {
    class ValueError extends Error {}
    const err = new ValueError('bad');
    const back = decodeError(cross(encodeError(err)), 'task-1');
    expect(back).toBeInstanceOf(TaskError);
    expect(back.name).toBe('ValueError');
    expect(toExceptionRecord(back)).toEqual({ exc_type: 'ValueError', exc_message: ['bad'], exc_module: 'builtins' });
    expect(back.stack).toBe(err.stack);
    expect(toExceptionRecord(decodeError(cross(encodeError('a string')), 'x'))).toEqual(toExceptionRecord('a string'));
  });

  it('a registered codec carries the fields of a custom class', () => {
    class Postpone extends Error {
      constructor(readonly seconds: number) {
        super(`postponed by ${seconds}s`);
        this.name = 'Postpone';
      }
    }
    registerErrorCodec({ name: 'Postpone', is: (e): e is Postpone => e instanceof Postpone, encode: (e) => e.seconds, decode: (d) => new Postpone(d as number) });
    const back = decodeError(cross(encodeError(new Postpone(30))), 'id');
    expect(back).toBeInstanceOf(Postpone);
    expect((back as Postpone).seconds).toBe(30);
  });
});
