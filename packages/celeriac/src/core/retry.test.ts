import { describe, expect, it } from 'vitest';
import { buildRequest } from './trace.js';
import { MaxRetriesExceededError, Reject, Retry } from './task-errors.js';
import { autoRetry, backoffCountdown, buildRetryMessage, requestRetry, retryEta, retryText } from './retry.js';
import type { TaskMessage } from '../protocol/types.js';
import type { TaskOptions } from './task-options.js';

function message(retries = 0, extra: Partial<TaskMessage['headers']> = {}): TaskMessage {
  return {
    protocol: 2,
    headers: {
      lang: 'py', task: 't.x', id: 'id-1', shadow: null, eta: null, expires: null, group: 'g-1', group_index: null,
      retries, timelimit: [30, 20], root_id: 'root-1', parent_id: 'parent-1', argsrepr: '(1,)', kwargsrepr: '{}',
      origin: 'gen1@py', ignore_result: false, ...extra,
    },
    extraHeaders: { 'x-custom': 'hdr' },
    properties: { correlation_id: 'id-1', reply_to: 'reply-1', delivery_mode: 2, priority: 7 },
    args: [1],
    kwargs: { k: 'v' },
    embed: { callbacks: null, errbacks: null, chain: null, chord: null },
  };
}

const task = (options: TaskOptions = {}) => ({ name: 't.x', options: { bind: true, ...options } });
const request = (retries: number) =>
  buildRequest(message(retries), { hostname: 'w', deliveryInfo: { exchange: '', routing_key: 'celery' }, isEager: false, timeLimit: [null, null] });

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
}

describe('requestRetry (ctx.retry)', () => {
  it('throws a Retry carrying the cause and the countdown or eta', () => {
    const cause = new TypeError('flaky');
    const r = thrown(() => requestRetry(task(), request(0), { exc: cause, countdown: 5 })) as Retry;
    expect(r).toBeInstanceOf(Retry);
    expect(r.exc).toBe(cause);
    expect(r.countdown).toBe(5);
    expect(r.message).toBe("Retry in 5s: TypeError('flaky')");
    const at = thrown(() => requestRetry(task(), request(0), { eta: '2030-01-01T00:00:00Z' })) as Retry;
    expect(at.eta).toBe(Date.UTC(2030, 0, 1));
  });

  it('allows maxRetries retries (default 3), then throws the cause or MaxRetriesExceededError', () => {
    expect(thrown(() => requestRetry(task(), request(2)))).toBeInstanceOf(Retry);
    const cause = new RangeError('gone');
    expect(thrown(() => requestRetry(task(), request(3), { exc: cause }))).toBe(cause);
    const max = thrown(() => requestRetry(task(), request(3))) as MaxRetriesExceededError;
    expect(max).toBeInstanceOf(MaxRetriesExceededError);
    expect(max.message).toBe(`Can't retry t.x[id-1] args:[1] kwargs:{"k":"v"}`);
    expect(thrown(() => requestRetry(task({ maxRetries: 5 }), request(4)))).toBeInstanceOf(Retry);
    expect(thrown(() => requestRetry(task(), request(4), { maxRetries: 10 }))).toBeInstanceOf(Retry);
    expect(thrown(() => requestRetry(task({ maxRetries: null }), request(1000)))).toBeInstanceOf(Retry);
    expect(thrown(() => requestRetry(task({ maxRetries: 0 }), request(0)))).toBeInstanceOf(MaxRetriesExceededError);
  });

  it('rejects a negative countdown', () => {
    expect(() => requestRetry(task(), request(0), { countdown: -1 })).toThrow(/countdown/);
  });
});

describe('autoRetry', () => {
  it('retries listed classes (or what the predicate accepts) and leaves the rest alone', () => {
    const boom = new TypeError('x');
    expect(autoRetry(task(), request(0), boom)).toBe(boom);
    expect(autoRetry(task({ autoretryFor: [TypeError] }), request(0), boom)).toBeInstanceOf(Retry);
    expect(autoRetry(task({ autoretryFor: [RangeError] }), request(0), boom)).toBe(boom);
    expect(autoRetry(task({ autoretryFor: (e) => (e as Error).message === 'x' }), request(0), boom)).toBeInstanceOf(Retry);
  });

  it('fails at once on what dontAutoretryFor names, under a list or a predicate', () => {
    class NotFound extends RangeError {}
    const missing = new NotFound('gone');
    const other = new RangeError('busy');
    const listed = task({ autoretryFor: [RangeError], dontAutoretryFor: [NotFound] });
    expect(autoRetry(listed, request(0), missing)).toBe(missing);
    expect(autoRetry(listed, request(0), other)).toBeInstanceOf(Retry);
    expect(autoRetry(task({ autoretryFor: () => true, dontAutoretryFor: [NotFound] }), request(0), missing)).toBe(missing);
  });

  it('never auto-retries control-flow errors, even under autoretryFor: [Error]', () => {
    const reject = new Reject();
    expect(autoRetry(task({ autoretryFor: [Error] }), request(0), reject)).toBe(reject);
  });

  it('returns the original error once retries are spent', () => {
    const boom = new TypeError('x');
    expect(autoRetry(task({ autoretryFor: [TypeError], maxRetries: 1 }), request(1), boom)).toBe(boom);
  });

  it('carries the backoff settings (base, cap, jitter) when retryBackoff is set', () => {
    const r = autoRetry(task({ autoretryFor: [TypeError], retryBackoff: 3, retryBackoffMaxSec: 100, retryJitter: false }), request(0), new TypeError()) as Retry;
    expect(r.backoff).toEqual({ factor: 3, maxSec: 100, jitter: false });
    const d = autoRetry(task({ autoretryFor: [TypeError], retryBackoff: true }), request(0), new TypeError()) as Retry;
    expect(d.backoff).toEqual({ factor: 1, maxSec: 600, jitter: true });
    expect((autoRetry(task({ autoretryFor: [TypeError] }), request(0), new TypeError()) as Retry).backoff).toBeNull();
  });
});

describe('backoff and ETA', () => {
  it('is factor * 2 ** retries, capped', () => {
    const b = { factor: 1, maxSec: 600, jitter: false };
    expect([0, 1, 2, 3, 10].map((n) => backoffCountdown(b, n, Math.random))).toEqual([1, 2, 4, 8, 600]);
    expect(backoffCountdown({ factor: 5, maxSec: 600, jitter: false }, 2, Math.random)).toBe(20);
  });

  it('full jitter draws a whole number in [0, countdown] from the injected randomness', () => {
    const b = { factor: 1, maxSec: 600, jitter: true };
    expect(backoffCountdown(b, 3, () => 0)).toBe(0);
    expect(backoffCountdown(b, 3, () => 0.999999)).toBe(8);
    expect(backoffCountdown(b, 3, () => 0.5)).toBe(4);
  });

  it('retryEta: eta, else countdown, else backoff, else defaultRetryDelay (180 s)', () => {
    const now = 1_000_000;
    const opts = { bind: true } as const;
    expect(retryEta(new Retry({ eta: 5 }), opts, 0, now, Math.random)).toBe(5);
    expect(retryEta(new Retry({ countdown: 2 }), opts, 0, now, Math.random)).toBe(now + 2000);
    expect(retryEta(new Retry({ backoff: { factor: 1, maxSec: 600, jitter: false } }), opts, 2, now, Math.random)).toBe(now + 4000);
    expect(retryEta(new Retry(), opts, 0, now, Math.random)).toBe(now + 180_000);
    expect(retryEta(new Retry(), { bind: true, defaultRetryDelaySec: 7 }, 0, now, Math.random)).toBe(now + 7000);
  });

  it('retryText reads like Celery\'s str(Retry)', () => {
    expect(retryText(new Retry({ exc: new TypeError('k5'), countdown: 1 }), 2000, 1000)).toBe("Retry in 1s: TypeError('k5')");
    expect(retryText(new Retry({ eta: Date.UTC(2030, 0, 1) }), Date.UTC(2030, 0, 1), 0)).toBe('Retry at 2030-01-01T00:00:00+00:00');
  });
});

describe('buildRetryMessage', () => {
  it('keeps the id, args, routing data and headers; bumps retries; sets eta, parent_id and origin', () => {
    const now = Date.UTC(2026, 0, 1, 12, 0, 0);
    const next = buildRetryMessage(message(1, { redelivered: true, expires: '2026-01-01T13:00:00+00:00' }), now + 5000, now, 'gen2@ts');
    expect(next.headers).toEqual({
      lang: 'py', task: 't.x', id: 'id-1', shadow: null, eta: '2026-01-01T12:00:05+00:00', expires: '2026-01-01T13:00:00+00:00',
      group: 'g-1', group_index: null, retries: 2, timelimit: [30, 20], root_id: 'root-1', parent_id: 'id-1',
      argsrepr: '(1,)', kwargsrepr: '{}', origin: 'gen2@ts', ignore_result: false,
    });
    expect(next.extraHeaders).toEqual({ 'x-custom': 'hdr' });
    expect(Object.keys(next.properties)).toEqual(['correlation_id', 'reply_to', 'replaced_task_nesting', 'origin', 'delivery_mode', 'priority', 'expiration']);
    expect(next.properties).toMatchObject({ correlation_id: 'id-1', reply_to: 'reply-1', replaced_task_nesting: 0, origin: 'gen1@py', priority: 7, expiration: '3600000' });
    expect([next.args, next.kwargs]).toEqual([[1], { k: 'v' }]);
  });

  it('keeps a Celery 5.3+ message as it came: replaced_task_nesting stays a header, stamps go along', () => {
    const from56 = { ...message(0), extraHeaders: { replaced_task_nesting: 2, stamped_headers: ['tenant'], stamps: { tenant: 'acme' } } };
    const next = buildRetryMessage(from56, 5000, 0, 'gen2@ts');
    expect(next.extraHeaders).toEqual({ replaced_task_nesting: 2, stamped_headers: ['tenant'], stamps: { tenant: 'acme' } });
    expect(next.properties).not.toHaveProperty('replaced_task_nesting');
  });
});
