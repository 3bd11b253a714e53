/**
 * @module server/otel-metrics
 * The dashboard's share of the metrics through OpenTelemetry (docs/monitoring.md, "Metrics
 * through OpenTelemetry"): what only a process watching the whole cluster knows, observed
 * when the registered MeterProvider collects, with `/metrics`'s names and labels:
 * - `flower_queue_length` (gauge; `queue`): ready messages per queue, as last polled;
 * - `flower_queue_age_seconds` (gauge; `queue`): how long its oldest ready message of known
 *   send time has waited, where one is known (ingest/queues.ts);
 * - `flower_worker_online` (gauge; `worker`): 1 while a worker's heartbeats arrive, else 0.
 * Task counts and runtimes come from the workers (celeriac's worker/task-metrics), so an
 * OTel pipeline fed by both does not count a task twice. Nothing is made without a provider.
 */
import type { ObservableResult } from '@opentelemetry/api';
import { activeMeter } from 'celeriac/monitor';
import { queueAgeSec } from '../ingest/queues.js';
import type { ServerContext } from './context.js';

/** Registers the observers; returns how to remove them, or undefined with no MeterProvider. */
export function observeCluster(ctx: Pick<ServerContext, 'ingest' | 'settings'>): (() => void) | undefined {
  const meter = activeMeter('@celeriac/dashboard', ctx.settings.version);
  if (meter === undefined) return undefined;
  const queues = meter.createObservableGauge('flower_queue_length', { description: 'Ready messages in a broker queue, all priority buckets' });
  const online = meter.createObservableGauge('flower_worker_online', { description: 'Worker online status' });
  const ages = meter.createObservableGauge('flower_queue_age_seconds', {
    description: 'Seconds the oldest ready message of a queue has waited, of those whose send time is known (sent by Celeriac: Redis, and RabbitMQ classic queues); no series when none is',
    unit: 's',
  });
  const queueCallback = (result: ObservableResult) => {
    for (const q of ctx.ingest.queueDepths) result.observe(q.messages, { queue: q.name });
  };
  const ageCallback = (result: ObservableResult) => {
    const now = Date.now();
    for (const q of ctx.ingest.queueDepths) {
      const age = queueAgeSec(q, now);
      if (age !== null) result.observe(age, { queue: q.name });
    }
  };
  const onlineCallback = (result: ObservableResult) => {
    const now = Date.now();
    for (const w of ctx.ingest.workers()) result.observe(ctx.ingest.state.isOnline(w, now) ? 1 : 0, { worker: w.hostname });
  };
  queues.addCallback(queueCallback);
  ages.addCallback(ageCallback);
  online.addCallback(onlineCallback);
  return () => {
    queues.removeCallback(queueCallback);
    ages.removeCallback(ageCallback);
    online.removeCallback(onlineCallback);
  };
}
