import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../testing/fake-clock.js';
import { parseRateLimit, RateLimits } from './rate-limits.js';

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('parseRateLimit', () => {
  it('reads Celery rate strings as tasks per second', () => {
    expect(parseRateLimit('10')).toBe(10);
    expect(parseRateLimit('10/s')).toBe(10);
    expect(parseRateLimit('6/m')).toBe(0.1);
    expect(parseRateLimit('36/h')).toBe(0.01);
    expect(parseRateLimit('0')).toBe(0);
  });

  it('refuses what Celery refuses', () => {
    for (const bad of ['', 'x/s', '1/d', '1/s/s', '-1/s']) expect(() => parseRateLimit(bad), bad).toThrow(/rate/);
  });
});

describe('RateLimits', () => {
  it('lets one task start per interval, in arrival order, and nothing waits without a limit', async () => {
    const clock = new FakeClock();
    const limits = new RateLimits(clock);
    await limits.acquire('free');
    limits.set('t', '2/s');
    const started: number[] = [];
    for (let i = 0; i < 3; i++) void limits.acquire('t').then(() => started.push(i));
    await settle();
    expect(started).toEqual([0]);
    clock.advance(499);
    await settle();
    expect(started).toEqual([0]);
    clock.advance(1);
    await settle();
    expect(started).toEqual([0, 1]);
    clock.advance(500);
    await settle();
    expect(started).toEqual([0, 1, 2]);
  });

  it('removing the limit lets new tasks through at once', async () => {
    const clock = new FakeClock();
    const limits = new RateLimits(clock);
    limits.set('t', '1/h');
    await limits.acquire('t');
    limits.set('t', null);
    expect(limits.rateOf('t')).toBeUndefined();
    let done = false;
    void limits.acquire('t').then(() => (done = true));
    await settle();
    expect(done).toBe(true);
  });
});
