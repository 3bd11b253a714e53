import { describe, expect, it } from 'vitest';
import { flush, waitFor } from './wait-for.js';

describe('waitFor', () => {
  it('resolves with the first truthy value, checking at once and then again', async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? { calls } : null), 'the third call');
    expect(value).toEqual({ calls: 3 });
  });

  it('awaits an async check', async () => {
    let n = 0;
    expect(await waitFor(async () => (++n === 2 ? 'ready' : ''), 'an async check')).toBe('ready');
  });

  it('throws naming what it waited for, and checks once more at the deadline', async () => {
    let calls = 0;
    await expect(waitFor(() => (calls++, false), 'a condition that never holds', { timeoutMs: 20 })).rejects.toThrow(
      'timed out after 20 ms waiting for a condition that never holds',
    );
    expect(calls).toBeGreaterThanOrEqual(2);
  });

  it('takes the timeout as a number too', async () => {
    await expect(waitFor(() => 0, 'zero', 5)).rejects.toThrow('timed out after 5 ms waiting for zero');
  });

  it('ends the wait when the check throws', async () => {
    await expect(waitFor(() => {
      throw new RangeError('broken check');
    }, 'anything')).rejects.toThrow(RangeError);
  });
});

describe('flush', () => {
  it('runs promise chains and immediates queued before it, without a timer', async () => {
    const done: string[] = [];
    void Promise.resolve().then(() => done.push('microtask')).then(() => done.push('chained'));
    setImmediate(() => done.push('immediate'));
    await flush(1);
    expect(done).toEqual(['microtask', 'chained', 'immediate']);
  });
});
