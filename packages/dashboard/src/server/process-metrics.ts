/**
 * @module server/process-metrics
 * The `process_*` series (and Node's `nodejs_*`) of `/metrics`, from prom-client's default
 * collectors: resident and virtual memory, CPU seconds, open and max file descriptors, start
 * time, heap, event-loop lag, GC. Flower's `/metrics` has Python's `process_*` (the same names,
 * prometheus_client's process collector), which memory and file-descriptor alerts use.
 *
 * One registry per process: the series describe the process, however many dashboards it runs,
 * and the collectors' event-loop and GC monitors are set up once.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';

let registry: Registry | undefined;

/** The exposition text of the process's default metrics (collected on each call). */
export async function processMetricsText(): Promise<string> {
  if (registry === undefined) {
    registry = new Registry();
    collectDefaultMetrics({ register: registry });
  }
  return registry.metrics();
}
