import { describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { MemoryBackend } from '../backends/memory/memory-backend.js';
import type { AnyTask } from '../core/task.js';
import type { TaskOptions } from '../core/task-options.js';
import { RateLimits, TokenBucket } from './rate-limit.js';

const taskOf = (name: string, options: TaskOptions = {}) => ({ name, options: { bind: false, ...options } }) as unknown as AnyTask;

describe('TokenBucket', () => {
  it('starts full, then refills at its rate', () => {
    const b = new TokenBucket(2, 1, 0);
    expect(b.take(0)).toBe(true);
    expect(b.take(0)).toBe(false);
    expect(b.waitMs(0)).toBe(500);
    expect(b.take(499)).toBe(false);
    expect(b.take(500)).toBe(true);
    expect(b.waitMs(600)).toBe(400);
  });

  it('never holds more than its capacity', () => {
    const b = new TokenBucket(10, 1, 0);
    expect(b.take(60_000)).toBe(true);
    expect(b.take(60_000)).toBe(false);
    const burst = new TokenBucket(10, 3, 0);
    expect([burst.take(0), burst.take(0), burst.take(0), burst.take(0)]).toEqual([true, true, true, false]);
  });
});

describe('RateLimits (fake clock)', () => {
  function limits(defaultLimit: string | null = null) {
    const clock = new FakeClock();
    const backend = new MemoryBackend({ clock });
    return { clock, rl: new RateLimits({ clock, backend, defaultLimit }) };
  }

  async function settle(): Promise<void> {
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }

  it('lets one run per interval through, in order, and others not at all', async () => {
    const { clock, rl } = limits();
    const t = taskOf('t.limited', { rateLimit: '2/s' });
    const free = taskOf('t.free');
    const started: number[] = [];
    for (let i = 0; i < 3; i++) void Promise.resolve(rl.acquire(t)).then(() => started.push(i));
    // Nothing in the way: an answer at once, not a promise.
    expect(rl.acquire(free)).toBeNull();
    await settle();
    expect(started).toEqual([0]);
    expect(rl.waiting).toBe(2);
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

  it('falls back to the default limit, and set() changes it for waiting messages too', async () => {
    const { clock, rl } = limits('1/m');
    const t = taskOf('t.default');
    expect(rl.rateOf(t)).toBeCloseTo(1 / 60);
    const started: number[] = [];
    for (let i = 0; i < 3; i++) void Promise.resolve(rl.acquire(t)).then(() => started.push(i));
    await settle();
    expect(started).toEqual([0]);
    expect(rl.set(t, '10/s')).toBe(10);
    await settle();
    expect(started).toEqual([0, 1]);
    clock.advance(100);
    await settle();
    expect(started).toEqual([0, 1, 2]);
    expect(rl.set(t, 0)).toBe(0);
    await rl.acquire(t);
    expect(rl.set(t, null)).toBeCloseTo(1 / 60);
  });

  it('a task with rateLimit null is not limited even with a default', async () => {
    const { rl } = limits('1/h');
    const t = taskOf('t.none', { rateLimit: null });
    for (let i = 0; i < 5; i++) await rl.acquire(t);
  });

  it('cluster limit: reservations in the backend space runs across limiters', async () => {
    const clock = new FakeClock();
    const backend = new MemoryBackend({ clock });
    const a = new RateLimits({ clock, backend, defaultLimit: null });
    const b = new RateLimits({ clock, backend, defaultLimit: null });
    const t = taskOf('t.cluster', { clusterRateLimit: '4/s' });
    const started: string[] = [];
    void Promise.resolve(a.acquire(t)).then(() => started.push('a1'));
    void Promise.resolve(b.acquire(t)).then(() => started.push('b1'));
    void Promise.resolve(a.acquire(t)).then(() => started.push('a2'));
    await settle();
    expect(started).toEqual(['a1']);
    clock.advance(250);
    await settle();
    expect(started).toEqual(['a1', 'b1']);
    clock.advance(250);
    await settle();
    expect(started).toEqual(['a1', 'b1', 'a2']);
  });

  it('cancelWaiters rejects every waiting message', async () => {
    const { rl } = limits();
    const t = taskOf('t.c', { rateLimit: '1/h', clusterRateLimit: '1/h' });
    await rl.acquire(t);
    const p = rl.acquire(t);
    await settle();
    rl.cancelWaiters();
    await expect(p).rejects.toThrow(/closing/);
    expect(rl.waiting).toBe(0);
  });
});
