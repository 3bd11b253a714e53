/**
 * @module bench/lib/steadiness
 * Whether the machine kept its speed through a run. Issue 42 asks for its targets "in one run
 * on a quiet machine", and on a shared VM the speed of every process moves within minutes,
 * every peer alike (a run's Redis server then spends more or less CPU on the same commands from
 * one round to the next). Interleaved rounds keep the ratios fair; they do not say whether
 * the machine kept its speed through the run, the part of "quiet" a run can check about itself.
 * This does, from a fixed loop of integer steps timed in the bench
 * process before every peer's round (the cores' speed: their clock, steal, a busy sibling),
 * each check the fastest of three timings, so that one preemption is not read as a slow
 * machine; and from the kernel's steal ticks over the whole run. A loop of random reads from a
 * table larger than the caches was tried beside it and dropped: on an idle machine its checks
 * already differed by more than the verdict allows.
 */
import { readFileSync } from 'node:fs';

/** Steps of the timed loop: some milliseconds on a current core. */
const STEPS = 5_000_000;

/** Slowest check over fastest check up to which the machine kept its speed. */
export const QUIET_SPREAD = 1.25;
/** Steal, as a share of the run's CPU ticks, up to which the machine kept its speed (%). */
export const QUIET_STEAL_PCT = 2;

/** One check: when (s from the run's start), before what, and the loop's fastest time (ms). */
export interface SteadinessCheck {
  readonly atSec: number;
  readonly before: string;
  readonly loopMs: number;
}

/** What a run records. */
export interface Steadiness {
  readonly checks: SteadinessCheck[];
  /** The kernel's steal ticks as a share of all CPU ticks over the run (%); null where /proc/stat cannot be read. */
  stealPct: number | null;
}

/** The loop's last sums, kept so that no engine may drop it as unused. */
export let loopSums = 0;
let warm = false;

/** xorshift steps; the sum keeps the loop from being optimized away. */
function loop(steps: number): number {
  let x = 0x9e3779b9 | 0;
  let sum = 0;
  for (let i = 0; i < steps; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    sum = (sum + (x & 0xffff)) | 0;
  }
  return sum;
}

/** Times the loop now: the fastest of three timings (ms); the first call warms it up. */
export function timeLoop(steps = STEPS): number {
  if (!warm) {
    loopSums ^= loop(100_000);
    warm = true;
  }
  let best = Number.POSITIVE_INFINITY;
  for (let k = 0; k < 3; k++) {
    const start = performance.now();
    loopSums ^= loop(steps);
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

/** The `cpu` line of /proc/stat: steal and all ticks; null where it cannot be read. */
export function cpuTicks(stat?: string): { steal: number; total: number } | null {
  let text = stat;
  try {
    text ??= readFileSync('/proc/stat', 'utf8');
  } catch {
    return null;
  }
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (line === undefined) return null;
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (fields.length < 8 || fields.some((f) => !Number.isFinite(f))) return null;
  return { steal: fields[7] as number, total: fields.reduce((a, b) => a + b, 0) };
}

/** Steal between two readings as a share of their ticks (%); null when either is missing or no tick passed. */
export function stealShare(from: ReturnType<typeof cpuTicks>, to: ReturnType<typeof cpuTicks>): number | null {
  if (from === null || to === null || to.total <= from.total) return null;
  return (100 * (to.steal - from.steal)) / (to.total - from.total);
}

/** One loop's fastest, median and slowest check, and slowest over fastest. */
export interface Spread {
  readonly min: number;
  readonly median: number;
  readonly max: number;
  readonly spread: number;
}

export function spreadOf(values: readonly number[]): Spread | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const min = sorted[0] as number;
  const max = sorted[sorted.length - 1] as number;
  return { min, median: sorted[Math.floor((sorted.length - 1) / 2)] as number, max, spread: min > 0 ? max / min : Number.POSITIVE_INFINITY };
}

/** Whether the machine kept its speed, and why not when it did not (null: too few checks to tell). */
export function quietVerdict(s: Steadiness): { quiet: boolean; why: string } | null {
  if (s.checks.length < 2) return null;
  const loops = spreadOf(s.checks.map((c) => c.loopMs)) as Spread;
  const why: string[] = [];
  if (loops.spread > QUIET_SPREAD) why.push(`the loop's slowest check took ${loops.spread.toFixed(2)}x its fastest`);
  if (s.stealPct !== null && s.stealPct > QUIET_STEAL_PCT) why.push(`the hypervisor stole ${s.stealPct.toFixed(1)}% of the CPU`);
  return { quiet: why.length === 0, why: why.join('; ') };
}

const ms = (v: number) => v.toFixed(1);

/** The report's line on what the checks found, and its verdict; null for a run without checks. */
export function renderSteadiness(s: Steadiness | undefined): { summary: string; verdict: string } | null {
  if (s === undefined || s.checks.length === 0) return null;
  const loops = spreadOf(s.checks.map((c) => c.loopMs)) as Spread;
  const verdict = quietVerdict(s);
  const slowest = s.checks.reduce((a, b) => (b.loopMs > a.loopMs ? b : a));
  const rule = `steady: the slowest check within ${QUIET_SPREAD}x of the fastest, steal at most ${QUIET_STEAL_PCT}%`;
  return {
    summary:
      `Machine steadiness (bench/lib/steadiness.ts: a fixed loop timed ${s.checks.length} times, before every peer's round): ${ms(loops.min)}-${ms(loops.max)} ms ` +
      `(median ${ms(loops.median)}, ${loops.spread.toFixed(2)}x), the slowest before ${slowest.before}, ${slowest.atSec.toFixed(0)} s in; ` +
      `CPU steal ${s.stealPct === null ? 'not readable' : `${s.stealPct.toFixed(1)}%`} of the run.`,
    verdict:
      verdict === null
        ? 'Too few steadiness checks to say whether the machine kept its speed.'
        : verdict.quiet
          ? `✅ the machine kept its speed through the run (${rule}). What this checks is the cores' speed and steal, not what else the peers' processes and Redis met on two cores: rounds may still differ, as the rounds table shows.`
          : `⚠️ the machine's speed moved during the run: ${verdict.why} (${rule}). Interleaved rounds still compare the peers fairly; these verdicts are not those of a quiet machine.`,
  };
}
