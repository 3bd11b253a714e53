/**
 * @module bench/lib/rt-bound
 * What bounds the round trip (issue 42 item 3, "round-trip p50 at most Bee-Queue's"), read
 * from the reports `npm run bench` has written. A round trip is sequential: the client sends,
 * Redis hands the task over, the worker runs and stores it, Redis pushes the result to the
 * client, and only then does the next one begin. On a host of two cores shared by those three
 * processes, nearly all of their work per call is on that path, so a way's p50 should follow
 * its CPU per call (client + worker + Redis, as each report records it), whatever the way.
 * If it does, the target is a CPU budget: Celeriac's round trip may cost no more CPU than
 * Bee-Queue's, and the layout floor (the engine's scripts behind a bare worker and client,
 * bench/peers/layout-floor.ts) says what the layout alone costs against that budget.
 * This reads each report's figures and says, run by run, how close the p50 ratio to Bee-Queue
 * is to the CPU ratio, and what the floor costs against Bee-Queue.
 */
import { mean, median } from './stats.js';

/** One way's round trip in one run: its p50 and its CPU per call, all three processes together. */
export interface WayCost {
  readonly p50Ms: number;
  readonly cpuUs: number;
}

/** The round trips of one run that can be compared: Celeriac, Bee-Queue, and the floor when it ran. */
export interface RunRoundTrips {
  readonly run: string;
  readonly celeriac: WayCost;
  readonly bee: WayCost;
  readonly bullmq: WayCost | null;
  readonly floor: WayCost | null;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const positive = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;

/** A round-trip result's p50 and summed CPU, or null when it lacks either (an older report, a failed step). */
export function wayCost(result: unknown): WayCost | null {
  if (!isObject(result) || !positive(result['p50Ms']) || !isObject(result['cpuUs'])) return null;
  const cpu = result['cpuUs'];
  const parts = [cpu['client'], cpu['worker'], cpu['redis']];
  if (!parts.every(positive)) return null;
  return { p50Ms: result['p50Ms'], cpuUs: (parts as number[]).reduce((a, b) => a + b, 0) };
}

/**
 * The comparable round trips of a report (bench/results/*.json, the RunReport of lib/report.ts),
 * or null when it has no CPU per call for Celeriac and Bee-Queue (reports before 2026-11-26,
 * `--only` runs, RabbitMQ and API reports).
 */
export function readRoundTrips(run: string, report: unknown): RunRoundTrips | null {
  if (!isObject(report) || !isObject(report['peers'])) return null;
  const peers = report['peers'];
  const trip = (name: string): WayCost | null => (isObject(peers[name]) ? wayCost(peers[name]['roundTrip']) : null);
  const celeriac = trip('celeriac');
  const bee = trip('bee-queue');
  if (celeriac === null || bee === null) return null;
  return { run, celeriac, bee, bullmq: trip('bullmq'), floor: wayCost(report['roundTripFloor']) };
}

/** Pearson's correlation of two equally long series; null for fewer than three pairs or a constant series. */
export function correlation(xs: readonly number[], ys: readonly number[]): number | null {
  const n = xs.length;
  if (n !== ys.length || n < 3) return null;
  const mx = mean(xs);
  const my = mean(ys);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - mx;
    const dy = ys[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? null : sxy / Math.sqrt(sxx * syy);
}

/** µs of p50 per µs of CPU per call: how much of a way's work waits on its path. */
const share = (w: WayCost): number => (w.p50Ms * 1000) / w.cpuUs;
const fixed = (v: number): string => v.toFixed(2);

/** The report: a row per run, then what the rows say together. */
export function renderBound(runs: readonly RunRoundTrips[]): string {
  if (runs.length === 0) return 'No report with round-trip CPU for both Celeriac and Bee-Queue.\n';
  const lines = [
    '| run | Celeriac / Bee-Queue, p50 | Celeriac / Bee-Queue, CPU per call | floor / Bee-Queue, CPU per call | p50 µs per CPU µs: Celeriac, Bee-Queue, BullMQ, floor |',
    '| --- | ---: | ---: | ---: | --- |',
  ];
  for (const r of runs) {
    const shares = [r.celeriac, r.bee, r.bullmq, r.floor].map((w) => (w === null ? '-' : fixed(share(w)))).join(', ');
    const floorRatio = r.floor === null ? '-' : `${fixed(r.floor.cpuUs / r.bee.cpuUs)}x`;
    lines.push(`| ${r.run} | ${fixed(r.celeriac.p50Ms / r.bee.p50Ms)}x | ${fixed(r.celeriac.cpuUs / r.bee.cpuUs)}x | ${floorRatio} | ${shares} |`);
  }
  const p50Ratios = runs.map((r) => r.celeriac.p50Ms / r.bee.p50Ms);
  const cpuRatios = runs.map((r) => r.celeriac.cpuUs / r.bee.cpuUs);
  const r = correlation(p50Ratios, cpuRatios);
  const gaps = runs.map((_, i) => Math.abs(p50Ratios[i]! - cpuRatios[i]!));
  const floors = runs.filter((run) => run.floor !== null).map((run) => run.floor!.cpuUs / run.bee.cpuUs);
  lines.push('');
  lines.push(
    `${runs.length} runs. Celeriac's p50 over Bee-Queue's against its CPU per call over Bee-Queue's: correlation ${r === null ? 'not defined' : r.toFixed(3)}, ` +
      `the two ratios ${fixed(median(gaps))} apart in the median run (at most ${fixed(Math.max(...gaps))}).`,
  );
  if (floors.length > 0) {
    const above = floors.filter((f) => f >= 1).length;
    lines.push(
      `The layout floor cost ${fixed(Math.min(...floors))}x to ${fixed(Math.max(...floors))}x Bee-Queue's CPU per call (median ${fixed(median(floors))}x), ` +
        `at least as much as Bee-Queue in ${above} of the ${floors.length} runs that measured it.`,
    );
  }
  return `${lines.join('\n')}\n`;
}
