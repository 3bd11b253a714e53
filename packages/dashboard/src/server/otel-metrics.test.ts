/**
 * The dashboard's metrics through OpenTelemetry: nothing without a MeterProvider; with one,
 * queue depths and workers online observed at each collection with the same names, labels
 * and values as the `/metrics` exposition renders from the same inputs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, MeterProvider, MetricReader, type GaugeMetricData } from '@opentelemetry/sdk-metrics';
import { Metrics } from '../ingest/metrics.js';
import type { ServerContext } from './context.js';
import { observeCluster } from './otel-metrics.js';

class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
  /** `name{label="value"} value` lines, as the Prometheus exposition writes them. */
  async lines(): Promise<string[]> {
    const { resourceMetrics } = await this.collect();
    return resourceMetrics.scopeMetrics
      .flatMap((s) => s.metrics as GaugeMetricData[])
      .flatMap((m) => m.dataPoints.map((p) => `${m.descriptor.name}{${Object.entries(p.attributes).map(([k, v]) => `${k}="${String(v)}"`).join(',')}} ${p.value.toFixed(1)}`));
  }
}

// The oldest waiting message of `celery` was sent 90 s ago; `py`'s send times are unknown.
const sentAt = Date.now() - 90_000;
const queues = [
  { name: 'celery', messages: 4, waitingSince: sentAt },
  { name: 'py', messages: 0, waitingSince: null },
];
const workers = [{ hostname: 'a@h' }, { hostname: 'b@h' }];
const ctx = {
  settings: { version: '0.2.0' },
  ingest: { queueDepths: queues, workers: () => workers, state: { isOnline: (w: { hostname: string }) => w.hostname === 'a@h' } },
} as unknown as ServerContext;

let provider: MeterProvider | null = null;
afterEach(async () => {
  await provider?.shutdown();
  provider = null;
  metrics.disable();
});

describe('dashboard metrics through OpenTelemetry', () => {
  it('observes nothing when no MeterProvider is registered', () => {
    expect(observeCluster(ctx)).toBeUndefined();
  });

  it('observes queue depths and workers online as /metrics renders them, until removed', async () => {
    const reader = new TestReader();
    provider = new MeterProvider({ readers: [reader] });
    metrics.setGlobalMeterProvider(provider);
    const stop = observeCluster(ctx);
    expect(stop).toBeDefined();
    const seen = await reader.lines();
    const exposition = new Metrics().render({
      workers: workers.map((w) => ({ hostname: w.hostname, online: w.hostname === 'a@h' })),
      queues: queues.map((q) => ({ ...q, ageSec: q.waitingSince === null ? null : 90 })),
      tasksByState: {},
      stuck: {},
      eventAgeSec: null,
      eventsIngested: 0,
      eventsWritten: 0,
      eventsDropped: 0,
      tasksDropped: 0,
    });
    const scraped = exposition.split('\n').filter((l) => /^flower_(queue_length|queue_age_seconds|worker_online)\{/.test(l));
    expect(scraped).toHaveLength(5);
    // The age is read at collection: a few ms past the 90 s of the exposition's input.
    const age = seen.find((l) => l.startsWith('flower_queue_age_seconds'));
    expect(Number(age?.split(' ')[1])).toBeGreaterThanOrEqual(90);
    expect(Number(age?.split(' ')[1])).toBeLessThan(100);
    expect(seen.map((l) => l.replace(/^(flower_queue_age_seconds\S*) .*/, '$1 90.0')).sort()).toEqual(scraped.sort());
    // Observed at each collection: a new depth shows in the next one, until the observers are removed.
    queues[0]!.messages = 9;
    expect(await reader.lines()).toContain('flower_queue_length{queue="celery"} 9.0');
    stop!();
    queues[0]!.messages = 11;
    expect((await reader.lines()).join('\n')).not.toContain('11.0');
  });
});
