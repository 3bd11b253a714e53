import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { AUTOSCALE_KEEPALIVE_MS, Autoscaler, autoscaleTarget, type AutoscaleInput } from './autoscaler.js';

const base: AutoscaleInput = { procs: 2, qty: 0, range: { max: 10, min: 2 }, lastGrowthAt: null, now: 100_000, keepaliveMs: 30_000 };

describe('autoscaleTarget (Celery\'s rule)', () => {
  it('grows at once to the tasks held, capped at max', () => {
    expect(autoscaleTarget({ ...base, qty: 5 })).toBe(5);
    expect(autoscaleTarget({ ...base, qty: 50 })).toBe(10);
    expect(autoscaleTarget({ ...base, qty: 2 })).toBeNull();
  });

  it('shrinks toward the load, not below min, only once keepalive passed since the last growth', () => {
    const busy = { ...base, procs: 8, qty: 1 };
    expect(autoscaleTarget(busy)).toBeNull(); // never grew: Celery does not shrink either
    expect(autoscaleTarget({ ...busy, lastGrowthAt: base.now - 10_000 })).toBeNull();
    expect(autoscaleTarget({ ...busy, lastGrowthAt: base.now - 30_001 })).toBe(2);
    expect(autoscaleTarget({ ...busy, qty: 4, lastGrowthAt: base.now - 30_001 })).toBe(4);
  });

  it('never goes below one slot, even with min 0', () => {
    expect(autoscaleTarget({ ...base, procs: 3, qty: 0, range: { max: 3, min: 0 }, lastGrowthAt: 0 })).toBe(1);
    expect(autoscaleTarget({ ...base, procs: 1, qty: 0, range: { max: 3, min: 0 }, lastGrowthAt: 0 })).toBeNull();
  });
});

describe('Autoscaler', () => {
  function setup(range = { max: 4, min: 1 }) {
    const clock = new FakeClock();
    const state = { size: 1, held: 0, prefetchSlots: 0, resizes: [] as number[] };
    const scaler = new Autoscaler(
      {
        size: () => state.size,
        held: () => state.held,
        resize: (n) => {
          state.resizes.push(n);
          state.size = n;
        },
        setPrefetchSlots: (n) => (state.prefetchSlots = n),
        clock,
        log: pino({ level: 'silent' }),
      },
      range,
    );
    return { clock, state, scaler };
  }

  it('looks once a second: grows with the load, shrinks after the keepalive', () => {
    const { clock, state, scaler } = setup();
    scaler.start();
    state.held = 3;
    clock.advance(999);
    expect(state.resizes).toEqual([]);
    clock.advance(1);
    expect(state.size).toBe(3);
    state.held = 0;
    clock.advance(AUTOSCALE_KEEPALIVE_MS);
    expect(state.size).toBe(3);
    clock.advance(1_000);
    expect(state.size).toBe(1);
    scaler.stop();
    state.held = 4;
    clock.advance(5_000);
    expect(state.size).toBe(1);
  });

  it('update moves the pool into the new range at once and the prefetch window to its max', () => {
    const { state, scaler } = setup({ max: 8, min: 1 });
    state.size = 6;
    expect(scaler.update({ max: 4, min: 2 })).toEqual({ max: 4, min: 2 });
    expect(state).toMatchObject({ size: 4, prefetchSlots: 4 });
    state.size = 1;
    scaler.update({ max: 5, min: 3 });
    expect(state).toMatchObject({ size: 3, prefetchSlots: 5 });
  });

  it('refuses a range that is not max >= 1, 0 <= min <= max', () => {
    const { scaler } = setup();
    for (const bad of [{ max: 0, min: 0 }, { max: 2, min: 3 }, { max: 2, min: -1 }, { max: 1.5, min: 0 }]) {
      expect(() => scaler.update(bad)).toThrow(/autoscale needs integers/);
    }
  });
});
