import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { clearLongTimeout, MAX_TIMER_MS, setLongTimeout, systemClock } from './clock.js';

// vitest's fake timers run a delay over 2^31-1 ms after 1 ms, as Node does: the overflow
// that made a 25-day hard time limit fail every task at once.
afterEach(() => {
  vi.useRealTimers();
});

describe('timers of any length', () => {
  it('a delay past the platform maximum fires at its time, not after 1 ms', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const hardLimitMs = 2_147_484 * 1000; // the smallest whole-second limit that overflowed
    let fired = 0;
    systemClock.setTimer(() => (fired += 1), hardLimitMs);
    vi.advanceTimersByTime(1000);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(hardLimitMs - 1000 - 1);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(1);
    expect(fired).toBe(1);
    // Several links: a month.
    const month = 31 * 86_400_000;
    systemClock.setTimer(() => (fired += 1), month);
    vi.advanceTimersByTime(month - 1);
    expect(fired).toBe(1);
    vi.advanceTimersByTime(1);
    expect(fired).toBe(2);
  });

  it('a chain is cancellable at every link; Infinity never fires; negative and NaN fire at once', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    let fired = 0;
    const year = setLongTimeout(() => (fired += 1), 365 * 86_400_000);
    vi.advanceTimersByTime(3 * MAX_TIMER_MS);
    clearLongTimeout(year);
    const never = setLongTimeout(() => (fired += 100), Infinity);
    vi.advanceTimersByTime(400 * 86_400_000);
    clearLongTimeout(never);
    expect(fired).toBe(0);
    setLongTimeout(() => (fired += 1), -5);
    setLongTimeout(() => (fired += 1), Number.NaN);
    vi.advanceTimersByTime(0);
    expect(fired).toBe(2);
  });

  it('FakeClock: Infinity never fires (it used to fire at once)', () => {
    const clock = new FakeClock();
    let fired = 0;
    clock.setTimer(() => (fired += 1), Infinity);
    clock.setTimer(() => (fired += 10), Number.NaN);
    clock.advance(10 * 365 * 86_400_000);
    expect(fired).toBe(10);
  });
});
