import { describe, expect, it } from 'vitest';
import { eventMessagesPerTask, eventsCost, renderEventsCost } from './events-cost.js';
import { medianDrains, renderMarkdown, type RunReport } from './report.js';
import type { DrainResult } from './types.js';

function drain(events: boolean, seconds: number, cpuSec: number, extra: Partial<DrainResult> = {}): DrainResult {
  return {
    config: { concurrency: 100, label: events ? '-c 100 -E' : '-c 100', ...(events ? { events: true } : {}) },
    n: 1000,
    completed: 1000,
    seconds,
    perSec: 1000 / seconds,
    rss: { peakMb: 100, method: 'test' },
    cpuSec,
    enqueue: { n: 1000, seconds: 0.1, perSec: 10_000 },
    ...extra,
  };
}

describe('eventsCost', () => {
  it('pairs the rounds in order and takes the median of the per-round ratios', () => {
    // Round 2 is a slow spell for both: the ratio of medians would say +50% (1.5 / 1.0), the
    // per-round ratios say +10% every time.
    const samples = [drain(false, 1.0, 0.1), drain(true, 1.1, 0.11), drain(false, 2.0, 0.2), drain(true, 2.2, 0.22), drain(false, 1.0, 0.1), drain(true, 1.1, 0.11)];
    const time = eventsCost(samples, 100).find((l) => l.metric === 'drain time, s');
    expect(time?.cost).toBeCloseTo(0.1, 10);
    expect(time?.off).toBe(1);
    expect(time?.on).toBeCloseTo(1.1, 10);
    const cpu = eventsCost(samples, 100).find((l) => l.metric === 'worker CPU per task, us');
    expect(cpu).toMatchObject({ target: true, off: 100 });
    expect(cpu?.cost).toBeCloseTo(0.1, 10);
  });

  it('leaves out skipped drains, other concurrencies, and metrics a drain did not measure', () => {
    const samples = [drain(false, 1, 0.1), drain(true, 9, 0.9, { skipped: 'timed out' }), drain(true, 1.2, 0.12), { ...drain(false, 5, 0.5), config: { concurrency: 10, label: '-c 10' } }];
    const lines = eventsCost(samples, 100);
    expect(lines.find((l) => l.metric === 'drain time, s')?.cost).toBeCloseTo(0.2, 10);
    expect(lines.map((l) => l.metric)).not.toContain('worker main-thread CPU per task, us');
    expect(eventsCost([drain(false, 1, 0.1)], 100)).toEqual([]);
    expect(renderEventsCost([drain(true, 1, 0.1)], 100)).toBe('');
  });

  it('renders the verdict against the 15% target and the messages per task', () => {
    const samples = [drain(false, 1.0, 0.1, { mainThreadCpuSec: 0.05 }), drain(true, 1.3, 0.114, { mainThreadCpuSec: 0.08, eventMessages: 40 })];
    const table = renderEventsCost(samples, 100);
    expect(table).toContain('| drain time, s | 1.00 | 1.30 | +30.0% ❌ |');
    expect(table).toContain('| worker CPU per task, us | 100 | 114 | +14.0% ✅ |');
    expect(table).toContain('| worker main-thread CPU per task, us | 50.00 | 80.00 | +60.0% |');
    expect(table).toContain('messages per task (a subscriber of the run counted them) | — | 0.040 |');
    expect(eventMessagesPerTask(samples)).toBe(0.04);
  });
});

describe('the report with an events-on drain', () => {
  it('adds the row, the cost table and the target line', () => {
    const samples = [drain(false, 1.0, 0.1), drain(true, 1.1, 0.12)];
    const report: RunReport = {
      startedAt: '2026-11-25T05:00:00.000Z', durationSec: 1, quick: false, rounds: 1, machine: { host: 'h', cpu: 'c', cores: '2', memory: '1 GiB', node: 'v20', redis: '7', redisAddress: 'x' },
      sizes: { oneByOne: 10, batched: 10, drain: 1000, roundTrip: 10, concurrencies: [1, 100] },
      peers: { celeriac: { batchedSamples: [], drains: medianDrains(samples), drainSamples: samples, notes: {} } },
    };
    const md = renderMarkdown(report);
    expect(md).toContain('| Drain 1,000 tasks, c=100, task events on (-E), tasks/s (Celeriac only; cost: see below) | ↑ | 909 in 1.10 s |');
    // The plain c=100 row keeps the drain without events.
    expect(md).toContain('| Drain 1,000 tasks, c=100, tasks/s (Celery: its best config) | ↑ | 1,000 in 1.00 s |');
    expect(md).toContain('| drain time, s | 1.00 | 1.10 | +10.0% ✅ |');
    expect(md).toContain('- ❌ missed: task events on (-E) cost < 15% at c=100 (drain time, s +10.0%, worker CPU per task, us +20.0%)');
  });
});
