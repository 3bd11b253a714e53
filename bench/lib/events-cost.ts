/**
 * @module bench/lib/events-cost
 * What task events (`-E`) cost Celeriac's worker: the drain at the top concurrency with events
 * off and on, measured in the same rounds. Each round drains both back to back, so the cost is
 * the median of the per-round ratios (on / off), which a slow spell of the shared machine moves
 * less than the ratio of two medians taken from different rounds.
 */
import type { DrainResult } from './types.js';

/** One metric, events off against on. */
export interface EventsCostLine {
  readonly metric: string;
  /** Medians over the rounds. */
  readonly off: number;
  readonly on: number;
  /** Median over the rounds of (on / off - 1): +0.15 is 15% more. */
  readonly cost: number;
  /** Whether the target (under 15% more) applies to this line. */
  readonly target: boolean;
}

/** The bound on the extra time and worker CPU per task of a drain with events on. */
export const EVENTS_COST_TARGET = 0.15;

function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

const METRICS: readonly { metric: string; pick: (d: DrainResult) => number | undefined; target: boolean }[] = [
  { metric: 'drain time, s', pick: (d) => d.seconds, target: true },
  { metric: 'worker CPU per task, us', pick: (d) => (d.cpuSec === undefined ? undefined : (d.cpuSec / d.n) * 1e6), target: true },
  { metric: 'worker main-thread CPU per task, us', pick: (d) => (d.mainThreadCpuSec === undefined ? undefined : (d.mainThreadCpuSec / d.n) * 1e6), target: false },
  { metric: 'Redis server CPU per task, us', pick: (d) => (d.redisCpuSec === undefined ? undefined : (d.redisCpuSec / d.n) * 1e6), target: false },
  { metric: 'worker peak RSS, MB', pick: (d) => d.rss?.peakMb, target: false },
];

/**
 * Pairs the k-th completed drain with events off with the k-th with events on (both at the
 * same concurrency, in the order measured) and reports each metric's medians and median cost.
 * Empty when there is no complete pair.
 */
export function eventsCost(samples: readonly DrainResult[], concurrency: number): EventsCostLine[] {
  const done = samples.filter((d) => d.config.concurrency === concurrency && d.skipped === undefined);
  const off = done.filter((d) => d.config.events !== true);
  const on = done.filter((d) => d.config.events === true);
  const pairs = Math.min(off.length, on.length);
  if (pairs === 0) return [];
  const lines: EventsCostLine[] = [];
  for (const { metric, pick, target } of METRICS) {
    const offValues: number[] = [];
    const onValues: number[] = [];
    const ratios: number[] = [];
    for (let i = 0; i < pairs; i++) {
      const a = pick(off[i] as DrainResult);
      const b = pick(on[i] as DrainResult);
      if (a === undefined || b === undefined || !(a > 0)) continue;
      offValues.push(a);
      onValues.push(b);
      ratios.push(b / a - 1);
    }
    if (ratios.length > 0) lines.push({ metric, off: median(offValues), on: median(onValues), cost: median(ratios), target });
  }
  return lines;
}

/** Messages the run's `celeryev` subscriber received per task, median over the events-on drains. */
export function eventMessagesPerTask(samples: readonly DrainResult[]): number | undefined {
  const per = samples.filter((d) => d.config.events === true && d.eventMessages !== undefined && d.skipped === undefined).map((d) => (d.eventMessages as number) / d.n);
  return per.length === 0 ? undefined : median(per);
}

const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
const num = (x: number) => x.toLocaleString('en-US', { maximumFractionDigits: x >= 100 ? 0 : 2, minimumFractionDigits: x >= 100 ? 0 : 2 });

/** The Markdown table of {@link eventsCost}, with the target verdict per line; '' when nothing was paired. */
export function renderEventsCost(samples: readonly DrainResult[], concurrency: number): string {
  const lines = eventsCost(samples, concurrency);
  if (lines.length === 0) return '';
  const out = [
    `| Task events, drain c=${concurrency} | events off | events on (-E) | cost (median of per-round ratios) |`,
    '| --- | ---: | ---: | ---: |',
  ];
  for (const l of lines) {
    const verdict = l.target ? (l.cost < EVENTS_COST_TARGET ? ' ✅' : ' ❌') : '';
    out.push(`| ${l.metric} | ${num(l.off)} | ${num(l.on)} | ${pct(l.cost)}${verdict} |`);
  }
  const perTask = eventMessagesPerTask(samples);
  if (perTask !== undefined) out.push(`| \`celeryev\` messages per task (a subscriber of the run counted them) | — | ${perTask.toFixed(3)} | |`);
  return out.join('\n');
}
