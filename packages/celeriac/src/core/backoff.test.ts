import { describe, expect, it } from 'vitest';
import { abortableDelay, Backoff, backoffDelayMs } from './backoff.js';
import { systemClock } from './clock.js';

describe('backoff', () => {
  it('grows by a step to the cap (kombu: 2 s, +2 s, at most 30 s)', () => {
    const kombu = { firstMs: 2000, growth: { addMs: 2000 }, maxMs: 30_000 };
    expect([0, 1, 2, 13, 14, 1e9].map((n) => backoffDelayMs(kombu, n))).toEqual([2000, 4000, 6000, 28_000, 30_000, 30_000]);
  });

  it('grows by a factor to the cap and stays there, whatever the attempt count', () => {
    const exp = { firstMs: 100, growth: { factor: 2 }, maxMs: 10_000 };
    expect([0, 1, 2, 6, 7, 100, 5000].map((n) => backoffDelayMs(exp, n))).toEqual([100, 200, 400, 6400, 10_000, 10_000, 10_000]);
  });

  it('equal jitter draws from [d/2, d]', () => {
    const p = { firstMs: 1000, growth: { factor: 2 }, maxMs: 1000, jitter: true };
    expect(backoffDelayMs(p, 3, () => 0)).toBe(500);
    expect(backoffDelayMs(p, 3, () => 0.999_999)).toBe(1000);
  });

  it('a run of failures grows, a success starts over', () => {
    const b = new Backoff({ firstMs: 10, growth: { factor: 3 }, maxMs: 100 });
    expect([b.next(), b.next(), b.next(), b.next()]).toEqual([10, 30, 90, 100]);
    expect(b.failures).toBe(4);
    b.reset();
    expect(b.next()).toBe(10);
  });

  it('a delay ends early, false, when its signal aborts', async () => {
    const abort = new AbortController();
    const waiting = abortableDelay(60_000, abort.signal, systemClock as never);
    abort.abort();
    expect(await waiting).toBe(false);
    expect(await abortableDelay(1, new AbortController().signal, systemClock as never)).toBe(true);
    expect(await abortableDelay(1, abort.signal, systemClock as never)).toBe(false);
  });
});
