import { describe, expect, it } from 'vitest';
import { FakeClock } from './fake-clock.js';

describe('FakeClock', () => {
  it('starts at the given time and only moves when told', () => {
    const clock = new FakeClock(1000);
    expect(clock.now()).toBe(1000);
    clock.advance(250);
    expect(clock.now()).toBe(1250);
    expect(new FakeClock().now()).toBe(FakeClock.DEFAULT_START);
  });

  it('fires due timers in time order, then creation order, with now() at the due time', () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    clock.setTimer(() => fired.push(`c@${clock.now()}`), 30);
    clock.setTimer(() => fired.push(`a@${clock.now()}`), 10);
    clock.setTimer(() => fired.push(`b@${clock.now()}`), 10);
    clock.setTimer(() => fired.push('late'), 100);
    clock.advance(50);
    expect(fired).toEqual(['a@10', 'b@10', 'c@30']);
    expect(clock.now()).toBe(50);
    expect(clock.pendingTimers).toBe(1);
  });

  it('fires timers set by callbacks when they fall due within the same advance', () => {
    const clock = new FakeClock(0);
    const fired: number[] = [];
    clock.setTimer(() => {
      fired.push(clock.now());
      clock.setTimer(() => fired.push(clock.now()), 5);
      clock.setTimer(() => fired.push(-1), 500);
    }, 10);
    clock.advance(20);
    expect(fired).toEqual([10, 15]);
  });

  it('clearTimer cancels, and ignores unknown handles', () => {
    const clock = new FakeClock(0);
    let fired = false;
    const h = clock.setTimer(() => (fired = true), 10);
    clock.clearTimer(h);
    clock.clearTimer({});
    clock.advance(100);
    expect(fired).toBe(false);
  });

  it('set() moves forward firing timers, and backward without firing', () => {
    const clock = new FakeClock(100);
    let count = 0;
    clock.setTimer(() => count++, 50);
    clock.set(80);
    expect(clock.now()).toBe(80);
    expect(count).toBe(0);
    clock.set(150);
    expect(count).toBe(1);
    expect(clock.now()).toBe(150);
  });

  it('rejects negative or non-finite advances', () => {
    const clock = new FakeClock(0);
    expect(() => clock.advance(-1)).toThrow(RangeError);
    expect(() => clock.set(Number.NaN)).toThrow(RangeError);
  });
});
