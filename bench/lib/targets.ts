/**
 * @module bench/lib/targets
 * The targets of issue 42, each checked against one run: item 3's (drain c=100 against BullMQ
 * and Bee-Queue, c=10 ahead of both, round-trip p50 and p99, one-by-one enqueue, worker RSS)
 * and the others the bench reports (drain against Celery, batched enqueue, round-trip p50
 * against BullMQ, the cost of task events). Reported, never asserted.
 */
import { EVENTS_COST_TARGET, eventsCost } from './events-cost.js';
import { wayCost } from './rt-bound.js';
import { median } from './stats.js';
import { PEER_LABELS, type DrainResult, type PeerName, type RssResult } from './types.js';
import type { PeerResults, RunReport } from './report.js';

/** One target's verdict: null when a number it needs was not measured. */
export interface TargetCheck {
  readonly what: string;
  readonly ok: boolean | null;
  readonly detail: string;
}

/** Worker RSS may exceed Bee-Queue's by this fraction (issue 42 item 3). */
export const RSS_MARGIN = 0.2;
/** Round-trip p99 must stay under this (ms). */
export const P99_LIMIT_MS = 2;

const fmt = (v: number, digits = 0) => v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** Median rate of the batched enqueues of the standard size. */
export function batchedRate(r: PeerResults): number | null {
  const rates = r.batchedSamples.map((e) => e.perSec);
  return rates.length > 0 ? median(rates) : null;
}

/** Celery (and anyone) with several drain configs at one row: the best completed one. */
export function drainFor(r: PeerResults, name: PeerName, concurrency: number): DrainResult | undefined {
  const done = r.drains.filter((d) => d.skipped === undefined);
  if (name === 'celery') return [...done].sort((a, b) => b.perSec - a.perSec)[0];
  return r.drains.find((d) => d.config.concurrency === concurrency && d.config.events !== true);
}

/** Compares a measured number of Celeriac's with a peer's: a higher-is-better or lower-is-better check. */
function compare(what: string, mine: number | undefined, theirs: number | undefined, ok: (m: number, t: number) => boolean, unit: string, digits = 0): TargetCheck {
  if (mine === undefined || theirs === undefined) return { what, ok: null, detail: 'missing' };
  return { what, ok: ok(mine, theirs), detail: `${fmt(mine, digits)} vs ${fmt(theirs, digits)}${unit}` };
}

const rate = (d: DrainResult | undefined): number | undefined => (d === undefined || d.skipped !== undefined ? undefined : d.perSec);
const peak = (rss: RssResult | null | undefined): number | undefined => rss?.peakMb;

/** Every target, in the order reported; those of peers not in the run read "not measured". */
export function targetChecks(report: RunReport): TargetCheck[] {
  const p = report.peers;
  const ce = p.celeriac;
  if (ce === undefined) return [];
  const top = Math.max(...report.sizes.concurrencies);
  const drain = (name: PeerName, c: number): number | undefined => {
    const r = p[name];
    return r ? rate(drainFor(r, name, c)) : undefined;
  };
  const out: TargetCheck[] = [];
  for (const [name, factor] of [['bullmq', 2], ['bee-queue', 1.5], ['celery', 10]] as const) {
    const [m, t] = [drain('celeriac', top), drain(name, top)];
    const c = compare(`drain at c=${top} ≥ ${factor}x ${PEER_LABELS[name]}`, m, t, (a, b) => a >= factor * b, '/s');
    out.push(m !== undefined && t !== undefined ? { ...c, detail: `${c.detail} = ${fmt(m / t, 2)}x` } : c);
  }
  if (report.sizes.concurrencies.includes(10)) {
    for (const name of ['bullmq', 'bee-queue'] as const) {
      out.push(compare(`drain at c=10 ahead of ${PEER_LABELS[name]}`, drain('celeriac', 10), drain(name, 10), (m, t) => m > t, '/s'));
    }
  }
  const bee = p['bee-queue'];
  out.push(compare('one-by-one enqueue ahead of Bee-Queue', ce.oneByOne?.perSec, bee?.oneByOne?.perSec, (m, t) => m > t, '/s'));
  const mb = batchedRate(ce);
  const bb = bee ? batchedRate(bee) : null;
  out.push(compare('batched enqueue ≥ Bee-Queue', mb ?? undefined, bb ?? undefined, (m, t) => m >= t, '/s'));
  const rt = ce.roundTrip?.skipped === undefined ? ce.roundTrip : undefined;
  const p50 = (name: PeerName) => (p[name]?.roundTrip?.skipped === undefined ? p[name]?.roundTrip?.p50Ms : undefined);
  const beeP50 = compare('round-trip p50 ≤ Bee-Queue', rt?.p50Ms, p50('bee-queue'), (m, t) => m <= t, ' ms', 3);
  // The least a round trip on Celery's layout takes here, same run: what the target asks of the layout.
  const floor = report.roundTripFloor !== undefined && 'p50Ms' in report.roundTripFloor ? report.roundTripFloor.p50Ms : undefined;
  // The p50 follows the CPU per call of client, worker and Redis together (lib/rt-bound.ts):
  // the target is that budget, said beside it as Celeriac's and the floor's CPU over Bee-Queue's.
  const beeCpu = wayCost(bee?.roundTrip)?.cpuUs;
  const overBee = (way: unknown, name: string): string[] => {
    const cpu = wayCost(way)?.cpuUs;
    return cpu === undefined || beeCpu === undefined ? [] : [`${name} ${fmt(cpu / beeCpu, 2)}x`];
  };
  const budget = [...overBee(rt, 'Celeriac'), ...overBee(report.roundTripFloor, 'floor')];
  const p50Detail = [beeP50.detail, ...(floor === undefined ? [] : [`layout floor ${fmt(floor, 3)} ms`]), ...(budget.length === 0 ? [] : [`CPU per call over Bee-Queue's: ${budget.join(', ')}`])];
  out.push(beeP50.ok === null ? beeP50 : { ...beeP50, detail: p50Detail.join('; ') });
  out.push(compare('round-trip p50 ≤ BullMQ', rt?.p50Ms, p50('bullmq'), (m, t) => m <= t, ' ms', 3));
  out.push(rt === undefined ? { what: `round-trip p99 < ${P99_LIMIT_MS} ms`, ok: null, detail: 'missing' } : { what: `round-trip p99 < ${P99_LIMIT_MS} ms`, ok: rt.p99Ms < P99_LIMIT_MS, detail: `${fmt(rt.p99Ms, 3)} ms` });
  const within = (m: number, t: number) => m <= t * (1 + RSS_MARGIN);
  const rssWhat = (where: string) => `worker peak RSS, ${where}, ≤ Bee-Queue + ${RSS_MARGIN * 100}%`;
  out.push(compare(rssWhat(`drain c=${top}`), peak(ce.drains.find((d) => d.config.concurrency === top && d.config.events !== true)?.rss), peak(bee?.drains.find((d) => d.config.concurrency === top)?.rss), within, ' MB', 1));
  out.push(compare(rssWhat('round trip'), peak(ce.roundTrip?.rss), peak(bee?.roundTrip?.rss), within, ' MB', 1));
  const cost = eventsCost(ce.drainSamples, top).filter((l) => l.target);
  if (cost.length > 0) {
    const detail = cost.map((l) => `${l.metric} ${l.cost >= 0 ? '+' : ''}${fmt(l.cost * 100, 1)}%`).join(', ');
    out.push({ what: `task events on (-E) cost < ${EVENTS_COST_TARGET * 100}% at c=${top}`, ok: cost.every((l) => l.cost < EVENTS_COST_TARGET), detail });
  }
  return out;
}

/** The targets as a Markdown list. */
export function renderTargets(report: RunReport): string {
  return targetChecks(report)
    .map((t) => `- ${t.ok === null ? '❔ not measured' : t.ok ? '✅ met' : '❌ missed'}: ${t.what} (${t.detail})`)
    .join('\n');
}
