/**
 * Task counts and runtimes through OpenTelemetry's metrics API (worker/task-metrics.ts): with
 * no MeterProvider the worker records nothing; with one registered, every task event counts in
 * `flower_events_total` and every success's runtime lands in `flower_task_runtime_seconds`,
 * with the dashboard's /metrics names and labels. Read with the SDK's own metric reader.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, MeterProvider, MetricReader, type HistogramMetricData, type MetricData, type SumMetricData } from '@opentelemetry/sdk-metrics';
import { taskMetrics } from '../../src/worker/task-metrics.js';
import { closeEnvs, makeEnv, waitForState } from './helpers.js';

/** A reader the test collects from when it wants (the SDK's pull side, as a Prometheus exporter is). */
class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
  async metric(name: string): Promise<MetricData | undefined> {
    const { resourceMetrics } = await this.collect();
    return resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name);
  }
}

let provider: MeterProvider | null = null;

afterEach(async () => {
  await closeEnvs();
  await provider?.shutdown();
  provider = null;
  metrics.disable();
});

describe('task metrics through OpenTelemetry', () => {
  it('records nothing and adds no listener when no MeterProvider is registered', () => {
    expect(taskMetrics('w1@testhost')).toBeUndefined();
  });

  it('counts task events by worker, type and task, and success runtimes in Flower’s buckets', async () => {
    const reader = new TestReader();
    provider = new MeterProvider({ readers: [reader] });
    metrics.setGlobalMeterProvider(provider);
    const env = makeEnv();
    const add = env.app.task('m.add', (x: number, y: number) => x + y);
    const boom = env.app.task('m.boom', () => {
      throw new Error('no');
    });
    await env.startWorker();
    for (let i = 0; i < 3; i++) await (await add.delay(i, 1)).get({ timeoutMs: 3000 });
    const failed = await boom.delay();
    await waitForState(env, failed.id, 'FAILURE');

    const events = (await reader.metric('flower_events_total')) as SumMetricData;
    expect(events.descriptor.description).toBe('Number of events');
    const count = (type: string, task: string) => events.dataPoints.find((p) => p.attributes['type'] === type && p.attributes['task'] === task)?.value;
    expect(count('task-received', 'm.add')).toBe(3);
    expect(count('task-started', 'm.add')).toBe(3);
    expect(count('task-succeeded', 'm.add')).toBe(3);
    expect(count('task-failed', 'm.boom')).toBe(1);
    expect(count('task-succeeded', 'm.boom')).toBeUndefined();
    for (const p of events.dataPoints) expect(Object.keys(p.attributes).sort()).toEqual(['task', 'type', 'worker']);
    expect(new Set(events.dataPoints.map((p) => p.attributes['worker']))).toEqual(new Set(['w1@testhost']));

    const runtime = (await reader.metric('flower_task_runtime_seconds')) as HistogramMetricData;
    expect(runtime.descriptor.unit).toBe('s');
    expect(runtime.dataPoints).toHaveLength(1);
    const [point] = runtime.dataPoints;
    expect(point!.attributes).toEqual({ worker: 'w1@testhost', task: 'm.add' });
    expect(point!.value.count).toBe(3);
    expect(point!.value.buckets.boundaries).toEqual([0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]);
  });
});
