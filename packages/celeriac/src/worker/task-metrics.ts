/**
 * @module worker/task-metrics
 * Task counts and runtimes through OpenTelemetry's metrics API, for a pipeline that has no
 * Prometheus scraper: the two series of the dashboard's `/metrics` that come from task events,
 * with their names and labels, recorded by the worker that runs the tasks (docs/monitoring.md,
 * "Metrics through OpenTelemetry"):
 * - `flower_events_total` (counter; `worker`, `type`, `task`): each task event of this worker,
 *   whether or not task events are sent (`-E`);
 * - `flower_task_runtime_seconds` (histogram; `worker`, `task`): each success's runtime, in
 *   Flower's default buckets.
 * With no MeterProvider registered nothing is made and no listener is added.
 */
import type { Attributes, Counter, Histogram } from '@opentelemetry/api';
import { activeMeter } from '../core/otel.js';
import type { TaskEventListener } from './task-events.js';

/** prometheus_client's default buckets (seconds), the dashboard's default for the same series. */
const RUNTIME_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** The listener that records this worker's task events, or undefined with no MeterProvider. */
export function taskMetrics(worker: string): TaskEventListener | undefined {
  const meter = activeMeter();
  if (meter === undefined) return undefined;
  const events = meter.createCounter('flower_events_total', { description: 'Number of events' });
  const runtime = meter.createHistogram('flower_task_runtime_seconds', { description: 'Task runtime', unit: 's', advice: { explicitBucketBoundaries: RUNTIME_BUCKETS } });
  return recorder(worker, events, runtime);
}

function recorder(worker: string, events: Counter, runtime: Histogram): TaskEventListener {
  // One attribute object per (type, task) and per task: the listener runs for every event.
  const byType = new Map<string, Map<string, Attributes>>();
  const byTask = new Map<string, Attributes>();
  return (event) => {
    const task = event.message.headers.task;
    let tasks = byType.get(event.type);
    if (tasks === undefined) byType.set(event.type, (tasks = new Map()));
    let attributes = tasks.get(task);
    if (attributes === undefined) tasks.set(task, (attributes = Object.freeze({ worker, type: event.type, task })));
    events.add(1, attributes);
    if (event.type !== 'task-succeeded') return;
    let own = byTask.get(task);
    if (own === undefined) byTask.set(task, (own = Object.freeze({ worker, task })));
    runtime.record(event.runtime, own);
  };
}
