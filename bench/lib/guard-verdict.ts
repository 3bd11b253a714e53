/**
 * The verdict of the bench guard (bench/guard.ts): is the worker's per-task CPU or its drain
 * rate, at each concurrency, worse than the baseline's by more than the tolerance? Each round
 * pairs the two sides measured back to back, so the ratio taken is the median of the rounds'
 * own ratios: a machine that slows down between rounds moves both halves of a pair alike.
 * Pure, so it is tested without running anything.
 */
import type { Sample } from './ab.js';
import { drainKey } from './drain-key.js';
import { median } from './stats.js';

/** One check of the guard: a metric at a concurrency. */
export interface Check {
  readonly name: string;
  /** Head over baseline, median of the rounds' ratios, oriented so that above 1 is worse. */
  readonly worseBy: number;
  readonly head: number;
  readonly base: number;
  readonly ok: boolean;
}

/**
 * Compares `head` with `base` (same rounds, in order). `tolerance` 0.3 fails a check that is
 * more than 30 % worse: CPU per task above 1.3x, or a drain rate below 1/1.3 of the baseline's.
 */
export function verdict(base: readonly Sample[], head: readonly Sample[], concurrencies: readonly number[], tolerance: number): Check[] {
  if (base.length === 0 || base.length !== head.length) throw new Error(`guard: ${base.length} baseline rounds against ${head.length} of the head`);
  const checks: Check[] = [];
  for (const c of concurrencies) {
    const pick = (s: Sample) => {
      const d = s.drains[drainKey(c)];
      if (d === undefined) throw new Error(`guard: no drain at c=${c} in a round`);
      return d;
    };
    const cpuRatios = base.map((b, i) => pick(head[i]!).cpuMsPerTask / pick(b).cpuMsPerTask);
    const rateRatios = base.map((b, i) => pick(b).perSec / pick(head[i]!).perSec);
    const row = (name: string, ratios: number[], value: (s: Sample) => number): Check => {
      const worseBy = median(ratios);
      // NaN (a missing CPU reading) fails: a guard that cannot measure must not pass.
      return { name, worseBy, head: median(head.map(value)), base: median(base.map(value)), ok: worseBy <= 1 + tolerance };
    };
    checks.push(row(`worker CPU per task, c=${c} (ms)`, cpuRatios, (s) => pick(s).cpuMsPerTask));
    checks.push(row(`drain rate, c=${c} (tasks/s)`, rateRatios, (s) => pick(s).perSec));
  }
  return checks;
}
