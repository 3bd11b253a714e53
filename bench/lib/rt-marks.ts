/**
 * Timestamps of node-redis's traffic in this process, for bench/rt-probe.ts: when each command
 * is issued and when its reply settles it, and when a pub/sub message arrives (node-redis's
 * diagnostics_channel events: nothing is patched); and each garbage collection, at its start
 * with its kind and pause (perf_hooks' `gc` entries, reported after it ended). Wall-clock microseconds
 * (performance.timeOrigin + performance.now()), so marks of several processes share one clock.
 * A worker child loads its compiled form (bench/dist/lib/rt-marks.js, see
 * tsconfig.workers.json) with `--import`.
 *
 * In a worker child (RT_MARKS_FILE set) marks are recorded from the start and written to that
 * file at exit; the probe process imports this module and turns recording on and off itself.
 */import dc from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';
import { constants, performance, PerformanceObserver } from 'node:perf_hooks';

/** A mark: wall-clock microseconds and what happened. */
export type Mark = [number, string];

/** What node-redis's tracing channel hands over about a command. */
interface CommandContext {
  readonly args?: readonly unknown[];
}

const marks: Mark[] = [];
let on = process.env.RT_MARKS_FILE !== undefined;
const nowUs = (): number => (performance.timeOrigin + performance.now()) * 1000;

/** Records `label` now, while recording is on. */
export function mark(label: string): void {
  if (on) marks.push([nowUs(), label]);
}

/** Turns recording on or off. */
export function record(value: boolean): void {
  on = value;
}

/** The marks so far, as [wall µs, label] pairs. */
export function taken(): Mark[] {
  return marks;
}

/** What a command is called in the timeline: scripts by the start of their SHA1, channels by name. */
function commandName(args: readonly unknown[] | undefined): string {
  const name = String(args?.[0] ?? '?').toUpperCase();
  if (name === 'EVALSHA') return `EVALSHA ${String(args?.[1]).slice(0, 8)}`;
  return name;
}

dc.tracingChannel<unknown, CommandContext & object>('node-redis:command').subscribe({
  start: (ctx) => mark(`> ${commandName(ctx.args)}`),
  end: () => undefined,
  asyncStart: (ctx) => mark(`< ${commandName(ctx.args)}`),
  asyncEnd: () => undefined,
  error: () => undefined,
});
dc.channel('node-redis:pubsub').subscribe((ctx) => mark(`pub/sub message ${String((ctx as { channel?: unknown }).channel ?? '').split(/[.:/]/).slice(-2).join('.')}`));

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental marking',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks',
};
// Marked at the collection's start (the entry arrives after it ended), so marks are sorted by whoever reads them.
new PerformanceObserver((list) => {
  if (!on) return;
  for (const e of list.getEntries()) {
    const kind = (e as unknown as { detail?: { kind?: number } | null }).detail?.kind;
    marks.push([(performance.timeOrigin + e.startTime) * 1000, `gc ${GC_KINDS[kind ?? -1] ?? 'other'} ${e.duration.toFixed(2)} ms`]);
  }
}).observe({ entryTypes: ['gc'] });

const file = process.env.RT_MARKS_FILE;
if (file !== undefined) process.on('exit', () => writeFileSync(file, JSON.stringify(marks)));
