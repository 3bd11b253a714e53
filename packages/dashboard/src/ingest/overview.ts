/**
 * @module ingest/overview
 * The overview page's time series, kept in memory for the last `windowSec` seconds with one
 * point per second: tasks succeeded and failed, runtime percentiles, and queue depth at each
 * poll. Bounded: a fixed number of points, and at most `MAX_SAMPLES` runtimes per second.
 */

const MAX_SAMPLES = 512;

interface Second {
  t: number;
  succeeded: number;
  failed: number;
  runtimes: number[];
}

/** One point of {@link OverviewSeries.snapshot}. */
export interface OverviewPoint {
  /** Epoch seconds. */
  readonly t: number;
  readonly succeeded: number;
  readonly failed: number;
  /** Runtime percentiles (seconds) of the tasks that finished in that second; null when none. */
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

/** A queue-depth sample. */
export interface QueueDepthPoint {
  readonly t: number;
  readonly queues: Readonly<Record<string, number>>;
}

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

/** Rolling per-second series. */
export class OverviewSeries {
  readonly #seconds: Second[] = [];
  readonly #depth: QueueDepthPoint[] = [];

  constructor(readonly windowSec = 900) {}

  #second(nowMs: number): Second {
    const t = Math.floor(nowMs / 1000);
    let last = this.#seconds.at(-1);
    if (last === undefined || last.t < t) {
      last = { t, succeeded: 0, failed: 0, runtimes: [] };
      this.#seconds.push(last);
      while (this.#seconds.length > 0 && (this.#seconds[0] as Second).t <= t - this.windowSec) this.#seconds.shift();
    }
    return last;
  }

  /** Records a finished task at local time `nowMs`. */
  finished(outcome: 'succeeded' | 'failed', runtime: number | null, nowMs: number): void {
    const s = this.#second(nowMs);
    s[outcome]++;
    if (runtime !== null && Number.isFinite(runtime) && s.runtimes.length < MAX_SAMPLES) s.runtimes.push(runtime);
  }

  /** Records queue depths at local time `nowMs`. */
  queueDepth(queues: Readonly<Record<string, number>>, nowMs: number): void {
    this.#depth.push({ t: Math.floor(nowMs / 1000), queues });
    const limit = Math.floor(nowMs / 1000) - this.windowSec;
    while (this.#depth.length > 0 && (this.#depth[0] as QueueDepthPoint).t <= limit) this.#depth.shift();
  }

  /** Points since `sinceSec` (epoch seconds), oldest first, seconds with no finished task included as zeros. */
  snapshot(nowMs: number, sinceSec?: number): { points: OverviewPoint[]; queueDepth: QueueDepthPoint[] } {
    const end = Math.floor(nowMs / 1000);
    const start = Math.max(end - this.windowSec + 1, sinceSec ?? -Infinity);
    const byT = new Map(this.#seconds.map((s) => [s.t, s]));
    const points: OverviewPoint[] = [];
    for (let t = start; t <= end; t++) {
      const s = byT.get(t);
      const sorted = s === undefined ? [] : [...s.runtimes].sort((a, b) => a - b);
      points.push({ t, succeeded: s?.succeeded ?? 0, failed: s?.failed ?? 0, p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) });
    }
    return { points, queueDepth: this.#depth.filter((d) => d.t >= start) };
  }
}
