import { describe, expect, it } from 'vitest';
import { OverviewSeries } from './overview.js';

describe('OverviewSeries', () => {
  it('counts outcomes per second with runtime percentiles, zeros for quiet seconds', () => {
    const s = new OverviewSeries(10);
    const t0 = 1_000_000_000;
    for (let i = 1; i <= 100; i++) s.finished('succeeded', i / 100, t0 + 10);
    s.finished('failed', null, t0 + 20);
    s.finished('succeeded', 0.5, t0 + 2000);
    const { points } = s.snapshot(t0 + 2500);
    expect(points).toHaveLength(10);
    const first = points.find((p) => p.t === t0 / 1000);
    expect(first).toEqual({ t: t0 / 1000, succeeded: 100, failed: 1, p50: 0.5, p95: 0.95, p99: 0.99 });
    expect(points.find((p) => p.t === t0 / 1000 + 1)).toEqual({ t: t0 / 1000 + 1, succeeded: 0, failed: 0, p50: null, p95: null, p99: null });
  });

  it('forgets what falls out of the window', () => {
    const s = new OverviewSeries(5);
    s.finished('succeeded', 1, 0);
    s.queueDepth({ celery: 4 }, 0);
    const snap = s.snapshot(60_000);
    expect(snap.points.every((p) => p.succeeded === 0)).toBe(true);
    expect(snap.queueDepth).toEqual([]);
    s.queueDepth({ celery: 2 }, 60_000);
    expect(s.snapshot(60_000, 59).queueDepth).toEqual([{ t: 60, queues: { celery: 2 } }]);
  });
});
