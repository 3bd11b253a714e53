import { describe, expect, it } from 'vitest';
import { correlation, readRoundTrips, renderBound, wayCost, type RunRoundTrips } from './rt-bound.js';

const trip = (p50Ms: number, client: number, worker: number, redis: number) => ({ n: 2000, p50Ms, p99Ms: p50Ms * 3, cpuUs: { client, worker, redis } });

describe('wayCost', () => {
  it('sums the three processes\' CPU per call', () => {
    expect(wayCost(trip(0.4, 170, 190, 170))).toEqual({ p50Ms: 0.4, cpuUs: 530 });
  });

  it('is null for a result without CPU (older reports), a failed step, or garbage', () => {
    expect(wayCost({ n: 2000, p50Ms: 0.4, p99Ms: 1 })).toBeNull();
    expect(wayCost({ failed: 'a round trip timed out' })).toBeNull();
    expect(wayCost({ p50Ms: 0.4, cpuUs: { client: 1, worker: 2 } })).toBeNull();
    expect(wayCost({ p50Ms: Number.NaN, cpuUs: { client: 1, worker: 2, redis: 3 } })).toBeNull();
    expect(wayCost({ p50Ms: 0.4, cpuUs: { client: '1', worker: 2, redis: 3 } })).toBeNull();
    expect(wayCost(null)).toBeNull();
    expect(wayCost([1, 2])).toBeNull();
  });
});

describe('readRoundTrips', () => {
  const report = {
    peers: { celeriac: { roundTrip: trip(0.4, 176, 190, 172) }, 'bee-queue': { roundTrip: trip(0.31, 129, 135, 147) }, bullmq: { roundTrip: trip(0.76, 359, 355, 440) } },
    roundTripFloor: trip(0.43, 161, 190, 206),
  };

  it('reads Celeriac, Bee-Queue, BullMQ and the floor', () => {
    expect(readRoundTrips('vm-4', report)).toEqual({
      run: 'vm-4',
      celeriac: { p50Ms: 0.4, cpuUs: 538 },
      bee: { p50Ms: 0.31, cpuUs: 411 },
      bullmq: { p50Ms: 0.76, cpuUs: 1154 },
      floor: { p50Ms: 0.43, cpuUs: 557 },
    });
  });

  it('leaves the floor and BullMQ out when they did not run or failed', () => {
    const { bullmq: _, ...peers } = report.peers;
    expect(readRoundTrips('r', { peers, roundTripFloor: { failed: 'boom' } })).toMatchObject({ bullmq: null, floor: null });
  });

  it('is null for a report without Celeriac\'s or Bee-Queue\'s round-trip CPU, and for other reports', () => {
    expect(readRoundTrips('r', { peers: { celeriac: report.peers.celeriac } })).toBeNull();
    expect(readRoundTrips('r', { peers: { ...report.peers, celeriac: { roundTrip: { p50Ms: 0.4 } } } })).toBeNull();
    expect(readRoundTrips('amqp', { rows: [] })).toBeNull();
    expect(readRoundTrips('garbage', 'text')).toBeNull();
  });
});

describe('correlation', () => {
  it('is 1 for series on one rising line, -1 on a falling one', () => {
    expect(correlation([1, 2, 3, 4], [2, 4, 6, 8])).toBeCloseTo(1, 12);
    expect(correlation([1, 2, 3, 4], [8, 6, 4, 2])).toBeCloseTo(-1, 12);
  });

  it('matches a worked example', () => {
    // mean x 3, mean y 4; sxy = 8, sxx = 10, syy = 10 -> 0.8
    expect(correlation([1, 2, 3, 4, 5], [2, 4, 3, 6, 5])).toBeCloseTo(0.8, 12);
  });

  it('is null for fewer than three pairs, unequal lengths or a constant series', () => {
    expect(correlation([1, 2], [1, 2])).toBeNull();
    expect(correlation([1, 2, 3], [1, 2])).toBeNull();
    expect(correlation([1, 1, 1], [1, 2, 3])).toBeNull();
  });
});

describe('renderBound', () => {
  const run = (name: string, ours: [number, number], bee: [number, number], floor: [number, number] | null): RunRoundTrips => ({
    run: name,
    celeriac: { p50Ms: ours[0], cpuUs: ours[1] },
    bee: { p50Ms: bee[0], cpuUs: bee[1] },
    bullmq: null,
    floor: floor === null ? null : { p50Ms: floor[0], cpuUs: floor[1] },
  });

  it('writes a row per run and what they say together', () => {
    const text = renderBound([run('a', [0.4, 540], [0.3, 400], [0.42, 560]), run('b', [0.5, 600], [0.4, 500], null), run('c', [0.7, 1040], [0.5, 740], [0.57, 700])]);
    expect(text).toContain('| a | 1.33x | 1.35x | 1.40x | 0.74, 0.75, -, 0.75 |');
    expect(text).toContain('| b | 1.25x | 1.20x | - | 0.83, 0.80, -, - |');
    expect(text).toMatch(/3 runs\. .*correlation \d\.\d{3}, the two ratios 0\.02 apart in the median run \(at most 0\.05\)\./);
    expect(text).toContain('The layout floor cost 0.95x to 1.40x Bee-Queue\'s CPU per call (median 1.17x), at least as much as Bee-Queue in 1 of the 2 runs that measured it.');
  });

  it('says so when no report had the figures', () => {
    expect(renderBound([])).toBe('No report with round-trip CPU for both Celeriac and Bee-Queue.\n');
  });
});
