import { describe, expect, it } from 'vitest';
import type { Sample } from './ab.js';
import { verdict } from './guard-verdict.js';

const sample = (cpu: number, rate: number): Sample => ({ drains: { 'c=100': { cpuMsPerTask: cpu, perSec: rate, peakRssMb: 100, redisUsPerTask: 20 } }, p50Ms: Number.NaN, roundTripPeakRssMb: Number.NaN });

describe('the bench guard verdict', () => {
  it('passes a head within the tolerance and fails one past it, on either metric', () => {
    const base = [sample(0.03, 30_000), sample(0.03, 30_000), sample(0.03, 30_000)];
    expect(verdict(base, [sample(0.035, 26_000), sample(0.038, 25_000), sample(0.03, 30_000)], [100], 0.3).every((c) => c.ok)).toBe(true);
    // b290dc7 against da2463c, as bench/ab.ts measured them (issue 42): 3x the CPU, 0.4x the rate.
    const regressed = verdict(base, [sample(0.098, 12_460), sample(0.098, 12_460), sample(0.098, 12_460)], [100], 0.3);
    expect(regressed.map((c) => c.ok)).toEqual([false, false]);
    expect(regressed[0]!.worseBy).toBeCloseTo(0.098 / 0.03);
    const slowerOnly = verdict(base, [sample(0.03, 20_000), sample(0.03, 20_000), sample(0.03, 20_000)], [100], 0.3);
    expect(slowerOnly.map((c) => c.ok)).toEqual([true, false]);
  });

  it('takes the median of paired rounds, so one disturbed round does not decide', () => {
    // The machine slowed down in round 2 for both sides: the pair's ratio is still 1.
    const base = [sample(0.03, 30_000), sample(0.06, 15_000), sample(0.03, 30_000)];
    const head = [sample(0.031, 29_000), sample(0.062, 14_500), sample(0.09, 10_000)];
    expect(verdict(base, head, [100], 0.3).every((c) => c.ok)).toBe(true);
  });

  it('fails a check it cannot read, and refuses unpaired rounds', () => {
    const base = [sample(0.03, 30_000)];
    expect(verdict(base, [sample(Number.NaN, 30_000)], [100], 0.3)[0]!.ok).toBe(false);
    expect(() => verdict(base, [], [100], 0.3)).toThrow(/1 baseline rounds against 0/);
    expect(() => verdict(base, base, [1], 0.3)).toThrow(/no drain at c=1/);
  });
});
