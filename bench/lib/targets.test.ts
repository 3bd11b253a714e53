import { describe, expect, it } from 'vitest';
import { medianEnqueue, renderMarkdown, type PeerResults, type RunReport } from './report.js';
import { renderTargets, targetChecks } from './targets.js';
import type { DrainResult, PeerName } from './types.js';

function drain(concurrency: number, perSec: number, peakMb = 100): DrainResult {
  return {
    config: { concurrency, label: `-c ${concurrency}` },
    n: 20_000,
    completed: 20_000,
    seconds: 20_000 / perSec,
    perSec,
    rss: { peakMb, method: 'test' },
    enqueue: { n: 20_000, seconds: 0.1, perSec: 100_000 },
  };
}

interface Numbers {
  c10: number;
  c100: number;
  rssMb: number;
  oneByOne: number;
  p50: number;
  p99: number;
  rtRssMb: number;
}

function peer(n: Numbers): PeerResults {
  const drains = [drain(1, 5000, n.rssMb), drain(10, n.c10, n.rssMb), drain(100, n.c100, n.rssMb)];
  return {
    batchedSamples: [{ n: 20_000, seconds: 0.1, perSec: 150_000 }],
    drains,
    drainSamples: drains,
    notes: {},
    oneByOne: { n: 10_000, seconds: 10_000 / n.oneByOne, perSec: n.oneByOne },
    roundTrip: { n: 2000, p50Ms: n.p50, p99Ms: n.p99, meanMs: n.p50, rss: { peakMb: n.rtRssMb, method: 'test' } },
  };
}

function run(peers: Partial<Record<PeerName, PeerResults>>): RunReport {
  return { startedAt: '2026-11-25T12:42:29Z', durationSec: 1, quick: false, machine: {}, sizes: { oneByOne: 10_000, batched: 20_000, drain: 20_000, roundTrip: 2000, concurrencies: [1, 10, 100] }, peers };
}

// The numbers of the 12:42 run on 501b5a3 (bench/results/2026-11-25-vm.md), rounded.
const celeriac = peer({ c10: 27_015, c100: 38_865, rssMb: 123.9, oneByOne: 11_387, p50: 0.468, p99: 3.899, rtRssMb: 122.4 });
const bullmq = peer({ c10: 21_751, c100: 25_228, rssMb: 102.5, oneByOne: 8198, p50: 0.537, p99: 3.841, rtRssMb: 103.8 });
const bee = peer({ c10: 23_339, c100: 27_041, rssMb: 88.5, oneByOne: 14_531, p50: 0.195, p99: 2.087, rtRssMb: 75.8 });

describe('targetChecks', () => {
  it('checks every target of issue 42 item 3', () => {
    const checks = new Map(targetChecks(run({ celeriac, bullmq, 'bee-queue': bee })).map((t) => [t.what, t]));
    expect(checks.get('drain at c=100 ≥ 2x BullMQ')).toMatchObject({ ok: false, detail: '38,865 vs 25,228/s = 1.54x' });
    expect(checks.get('drain at c=100 ≥ 1.5x Bee-Queue')?.ok).toBe(false);
    expect(checks.get('drain at c=10 ahead of BullMQ')?.ok).toBe(true);
    expect(checks.get('drain at c=10 ahead of Bee-Queue')?.ok).toBe(true);
    expect(checks.get('round-trip p50 ≤ Bee-Queue')).toMatchObject({ ok: false, detail: '0.468 vs 0.195 ms' });
    expect(checks.get('round-trip p99 < 2 ms')).toMatchObject({ ok: false, detail: '3.899 ms' });
    expect(checks.get('one-by-one enqueue ahead of Bee-Queue')?.ok).toBe(false);
    expect(checks.get('worker peak RSS, drain c=100, ≤ Bee-Queue + 20%')).toMatchObject({ ok: false, detail: '123.9 vs 88.5 MB' });
    expect(checks.get('worker peak RSS, round trip, ≤ Bee-Queue + 20%')?.ok).toBe(false);
  });

  it('meets a target at its bound and passes one beyond it', () => {
    const fast = peer({ c10: 23_340, c100: 54_082, rssMb: 88.5 * 1.2, oneByOne: 14_532, p50: 0.195, p99: 1.999, rtRssMb: 90 });
    const checks = targetChecks(run({ celeriac: fast, bullmq, 'bee-queue': bee }));
    const item3 = [
      'drain at c=100 ≥ 2x BullMQ',
      'drain at c=100 ≥ 1.5x Bee-Queue',
      'drain at c=10 ahead of BullMQ',
      'drain at c=10 ahead of Bee-Queue',
      'one-by-one enqueue ahead of Bee-Queue',
      'round-trip p50 ≤ Bee-Queue',
      'round-trip p99 < 2 ms',
      'worker peak RSS, drain c=100, ≤ Bee-Queue + 20%',
      'worker peak RSS, round trip, ≤ Bee-Queue + 20%',
    ];
    expect(checks.filter((t) => item3.includes(t.what)).map((t) => [t.what, t.ok])).toEqual(item3.map((what) => [what, true]));
  });

  it('says "not measured" for the targets of peers not in the run, and lists none without Celeriac', () => {
    const text = renderTargets(run({ celeriac }));
    expect(text).toContain('- ❔ not measured: drain at c=10 ahead of Bee-Queue (missing)');
    expect(text).toContain('- ❔ not measured: worker peak RSS, drain c=100, ≤ Bee-Queue + 20% (missing)');
    expect(text).toContain('- ❌ missed: round-trip p99 < 2 ms (3.899 ms)');
    expect(targetChecks(run({ bullmq }))).toEqual([]);
  });

  it('leaves a skipped drain or round trip unmeasured rather than missed', () => {
    const skipped: PeerResults = { ...celeriac, drains: celeriac.drains.map((d) => ({ ...d, skipped: 'timed out' })), roundTrip: { n: 0, p50Ms: 0, p99Ms: 0, meanMs: 0, rss: null, skipped: 'crashed' } };
    const checks = new Map(targetChecks(run({ celeriac: skipped, bullmq, 'bee-queue': bee })).map((t) => [t.what, t.ok]));
    expect(checks.get('drain at c=100 ≥ 2x BullMQ')).toBeNull();
    expect(checks.get('round-trip p99 < 2 ms')).toBeNull();
    expect(checks.get('round-trip p50 ≤ Bee-Queue')).toBeNull();
  });

  it('names the round trip\'s layout floor of the run beside the p50 target, and reports it, or its failure, under the drain\'s floor', () => {
    const floor = { n: 2000, p50Ms: 0.2314, p99Ms: 0.61, meanMs: 0.25, rss: null, cpuUs: { client: 60.4, worker: 80, redis: 100.2 } };
    const report = { ...run({ celeriac, bullmq, 'bee-queue': bee }), roundTripFloor: floor };
    const checks = new Map(targetChecks(report).map((t) => [t.what, t]));
    expect(checks.get('round-trip p50 ≤ Bee-Queue')).toMatchObject({ ok: false, detail: '0.468 vs 0.195 ms; layout floor 0.231 ms' });
    const md = renderMarkdown(report);
    expect(md).toContain('> Round-trip floor: p50 0.231 ms, p99 0.610 ms; CPU per call 241 µs (60 + 80 + 100: client + worker + Redis)');
    expect(renderMarkdown({ ...report, roundTripFloor: { failed: 'a round trip timed out' } })).toContain('> FAILED: a round trip timed out');
    // With CPU per call for Celeriac and Bee-Queue, the budget the p50 follows (lib/rt-bound.ts).
    const withCpu = (p: PeerResults, cpuUs: { client: number; worker: number; redis: number }): PeerResults => ({ ...p, roundTrip: { ...(p.roundTrip as NonNullable<PeerResults['roundTrip']>), cpuUs } });
    const costed = { ...run({ celeriac: withCpu(celeriac, { client: 170, worker: 190, redis: 180 }), bullmq, 'bee-queue': withCpu(bee, { client: 100, worker: 140, redis: 160 }) }), roundTripFloor: floor };
    expect(targetChecks(costed).find((t) => t.what === 'round-trip p50 ≤ Bee-Queue')?.detail).toBe("0.468 vs 0.195 ms; layout floor 0.231 ms; CPU per call over Bee-Queue's: Celeriac 1.35x, floor 0.60x");
    expect(targetChecks({ ...costed, roundTripFloor: undefined }).find((t) => t.what === 'round-trip p50 ≤ Bee-Queue')?.detail).toBe("0.468 vs 0.195 ms; CPU per call over Bee-Queue's: Celeriac 1.35x");
    // Without Bee-Queue's number the target stays unmeasured, floor or not.
    expect(targetChecks({ ...run({ celeriac }), roundTripFloor: floor }).find((t) => t.what === 'round-trip p50 ≤ Bee-Queue')).toMatchObject({ ok: null, detail: 'missing' });
  });

  it('is the Targets section of the report', () => {
    expect(renderMarkdown(run({ celeriac, bullmq, 'bee-queue': bee }))).toContain(`## Targets (reported, not asserted)\n\n${renderTargets(run({ celeriac, bullmq, 'bee-queue': bee }))}`);
  });

  it('says under the machine what the steadiness checks found, and under the targets whether the machine was quiet', () => {
    const report = run({ celeriac, bullmq, 'bee-queue': bee });
    const checks = [
      { atSec: 2, before: "Celeriac's round 1", loopMs: 9 },
      { atSec: 90, before: "Bee-Queue's round 2", loopMs: 12.6 },
    ];
    const md = renderMarkdown({ ...report, steadiness: { checks, stealPct: 0.2 } });
    const [head, targets] = md.split('## Targets');
    expect(head).toContain("Machine steadiness (bench/lib/steadiness.ts: a fixed loop timed 2 times, before every peer's round): 9.0-12.6 ms");
    expect(targets).toContain(`${renderTargets(report)}\n\n⚠️ the machine's speed moved during the run: the loop's slowest check took 1.40x its fastest`);
    // A report written before the checks existed reads as before.
    expect(renderMarkdown(report)).not.toContain('steadiness');
  });
});

describe('round trip CPU row', () => {
  it('sums the client, worker and Redis CPU per call and lists each; a peer without figures shows none', () => {
    const measured = (p: PeerResults, cpuUs: { client: number; worker: number; redis: number }): PeerResults => ({ ...p, roundTrip: { ...(p.roundTrip as NonNullable<PeerResults['roundTrip']>), cpuUs } });
    const md = renderMarkdown(run({ celeriac: measured(celeriac, { client: 343.2, worker: 308, redis: 352.4 }), 'bee-queue': measured(bee, { client: 138.1, worker: 208, redis: 251 }), bullmq }));
    const row = md.split('\n').find((l) => l.startsWith('| Round trip CPU per call'));
    expect(row).toContain('| 1,004 (343 + 308 + 352) |');
    expect(row).toContain('| 597 (138 + 208 + 251) |');
    // BullMQ's round trip has no figures here: a dash, not a number.
    const cells = (row ?? '').split('|').map((c) => c.trim());
    expect(cells).toContain('—');
  });
});

describe('one-by-one enqueues in rounds', () => {
  const sample = (perSec: number) => ({ n: 10_000, seconds: 10_000 / perSec, perSec });

  it('takes the median round (the lower middle of an even count)', () => {
    expect(medianEnqueue([sample(9000), sample(15_000), sample(12_000)])?.perSec).toBe(12_000);
    expect(medianEnqueue([sample(9000), sample(15_000), sample(12_000), sample(20_000)])?.perSec).toBe(12_000);
    expect(medianEnqueue([])).toBeUndefined();
  });

  it('names the rounds in the row and lists each one in the rounds table', () => {
    const samples = [sample(18_037), sample(21_000), sample(16_500)];
    const batched = [sample(140_000), sample(250_000), sample(240_000)];
    const withRounds: PeerResults = { ...celeriac, oneByOneSamples: samples, oneByOne: medianEnqueue(samples), batchedSamples: batched };
    const bees = [sample(26_034), sample(15_000), sample(19_000)];
    const beeRounds: PeerResults = { ...bee, oneByOneSamples: bees, oneByOne: medianEnqueue(bees), batchedSamples: [sample(150_000), sample(200_000), sample(210_000)] };
    const md = renderMarkdown({ ...run({ celeriac: withRounds, 'bee-queue': beeRounds }), rounds: 3 });
    expect(md).toContain('| Enqueue one-by-one, tasks/s (n=10,000, median of 3 rounds) | ↑ | 18,037 | 19,000 | 0.95x |');
    expect(md).toContain('| enqueue one-by-one | 18,037 / 21,000 / 16,500 | 26,034 / 15,000 / 19,000 |');
    expect(md).toContain('| Enqueue batched, tasks/s (n=20,000, median of 3 rounds) | ↑ | 240,000 | 200,000 | 1.20x |');
    expect(md).toContain('| enqueue batched | 140,000 / 250,000 / 240,000 | 150,000 / 200,000 / 210,000 |');
  });
});
