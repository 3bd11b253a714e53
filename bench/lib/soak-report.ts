/**
 * @module bench/lib/soak-report
 * The soak's memory samples, its verdict on RSS growth and its Markdown + SVG report.
 */
import { lineChartSvg } from './svg-chart.js';

/** One memory sample of the worker process. */
export interface MemorySample {
  /** Seconds since the worker started consuming. */
  readonly seconds: number;
  /** Tasks whose results were confirmed stored by then. */
  readonly done: number;
  /** VmRSS from /proc, MiB. */
  readonly rssMb: number;
  /** V8 heap in use and reserved, and memory outside the heap (buffers), from the child's process.memoryUsage(), MiB. */
  readonly heapUsedMb: number;
  readonly heapTotalMb: number;
  readonly externalMb: number;
}

/** The RSS at the end against the RSS once `baselineAt` tasks were done. */
export interface GrowthVerdict {
  readonly baseline: MemorySample;
  readonly end: MemorySample;
  /** end / baseline - 1 of the RSS. */
  readonly growth: number;
  /** The same for the heap in use (reported, not judged: the RSS is what the machine pays). */
  readonly heapGrowth: number;
  readonly ok: boolean;
}

/**
 * Judges the samples: the baseline is the first sample with at least `baselineAt` tasks done,
 * the end the last sample (taken once every task was done). Growth above `maxGrowth` fails.
 *
 * @throws Error when no sample reached the baseline, or the last one did not come after it:
 *   a soak that could not be judged must not pass.
 */
export function growthVerdict(samples: readonly MemorySample[], baselineAt: number, maxGrowth: number): GrowthVerdict {
  const baseline = samples.find((s) => s.done >= baselineAt);
  const end = samples[samples.length - 1];
  if (baseline === undefined || end === undefined) throw new Error(`no memory sample after ${baselineAt} tasks: the growth cannot be judged`);
  if (end === baseline) throw new Error(`only one memory sample after ${baselineAt} tasks: the growth cannot be judged (sample more often or run more tasks)`);
  if (!(baseline.rssMb > 0)) throw new Error(`the baseline sample has no RSS (${baseline.rssMb} MB)`);
  const growth = end.rssMb / baseline.rssMb - 1;
  const heapGrowth = baseline.heapUsedMb > 0 ? end.heapUsedMb / baseline.heapUsedMb - 1 : Number.NaN;
  // The epsilon keeps 110 / 100 - 1 (0.10000000000000009) within a 10% limit.
  return { baseline, end, growth, heapGrowth, ok: growth <= maxGrowth + 1e-9 };
}

/** At most `max` samples, evenly spread, the first and the last always kept (for the table). */
export function thin<T>(samples: readonly T[], max: number): T[] {
  if (samples.length <= max) return [...samples];
  const out: T[] = [];
  for (let i = 0; i < max; i++) out.push(samples[Math.round((i * (samples.length - 1)) / (max - 1))] as T);
  return out;
}

/** The plot: RSS, heap in use and heap reserved over tasks done. */
export function soakSvg(samples: readonly MemorySample[], title: string): string {
  const over = (pick: (s: MemorySample) => number) => samples.map((s) => [s.done, pick(s)] as const);
  return lineChartSvg({
    title,
    xLabel: 'tasks done',
    yLabel: 'MiB',
    series: [
      { name: 'RSS (/proc VmRSS)', points: over((s) => s.rssMb) },
      { name: 'V8 heap total', points: over((s) => s.heapTotalMb) },
      { name: 'V8 heap used', points: over((s) => s.heapUsedMb) },
    ],
  });
}

const mb = (v: number) => v.toFixed(1);
const pct = (v: number) => `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)}%`;

/** What the Markdown report says besides the samples. */
export interface SoakSummary {
  readonly title: string;
  /** Lines describing the machine, the command and the parameters. */
  readonly setup: readonly string[];
  readonly verdict: GrowthVerdict;
  readonly maxGrowth: number;
  readonly baselineAt: number;
  /** The SVG's file name, beside the Markdown. */
  readonly svgFile: string;
  readonly seconds: number;
  readonly n: number;
}

/** The Markdown report: verdict, plot, and a table of (at most 40) samples. */
export function soakMarkdown(summary: SoakSummary, samples: readonly MemorySample[]): string {
  const v = summary.verdict;
  const lines = [
    `# ${summary.title}`,
    '',
    ...summary.setup,
    '',
    `**${v.ok ? 'PASSED' : 'FAILED'}**: RSS ${mb(v.end.rssMb)} MiB at the end (${v.end.done.toLocaleString('en-US')} tasks) against ${mb(v.baseline.rssMb)} MiB after ${v.baseline.done.toLocaleString('en-US')} tasks (the first sample past ${summary.baselineAt.toLocaleString('en-US')}): ${pct(v.growth)}, limit ${pct(summary.maxGrowth)}. V8 heap in use: ${mb(v.baseline.heapUsedMb)} -> ${mb(v.end.heapUsedMb)} MiB (${pct(v.heapGrowth)}).`,
    '',
    `${summary.n.toLocaleString('en-US')} tasks in ${summary.seconds.toFixed(1)} s (${Math.round(summary.n / summary.seconds).toLocaleString('en-US')} tasks/s including the producer's waits).`,
    '',
    `![RSS and heap over tasks done](${summary.svgFile})`,
    '',
    '| s | tasks done | RSS, MiB | heap used, MiB | heap total, MiB | external, MiB |',
    '| ---: | ---: | ---: | ---: | ---: | ---: |',
    ...thin(samples, 40).map((s) => `| ${s.seconds.toFixed(0)} | ${s.done.toLocaleString('en-US')} | ${mb(s.rssMb)} | ${mb(s.heapUsedMb)} | ${mb(s.heapTotalMb)} | ${mb(s.externalMb)} |`),
    '',
  ];
  return lines.join('\n');
}
