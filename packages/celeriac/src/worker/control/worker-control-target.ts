/**
 * @module worker/control/worker-control-target
 * The {@link ControlTarget} of a real worker, built from the worker's parts. The actions
 * here are the simplest correct ones on the current worker; each is one small method so it
 * can be re-pointed when the executor grows its own (revokes, rate limits, time limits,
 * pool resizing).
 */
import type { Logger } from 'pino';
import type { App } from '../../core/app.js';
import type { Consumer } from '../../core/spi/broker.js';
import { delayedListingOf } from '../../core/spi/roles.js';
import { celerySettingName } from '../../core/celery-names.js';
import { SETTINGS } from '../../core/settings.js';
import { redactUrl } from '../../core/transport-table.js';
import { decodeEnvelope } from '../../protocol/envelope.js';
import type { LamportClock } from '../../protocol/lamport-clock.js';
import { decodeTaskMessage } from '../../protocol/task-message.js';
import type { Json } from '../../protocol/types.js';
import type { AutoscaleRange } from '../autoscaler.js';
import type { PoolStats, TaskPool } from '../pools/types.js';
import type { JobView } from '../job.js';
import type { WorkerRevokeOptions, WorkerRevokeResult } from '../worker-revoke.js';
import type { ControlTarget, HeldRequest, ScheduledRequest } from './control-target.js';

/** The worker parts the target reads and drives. */
export interface WorkerParts {
  readonly app: App;
  readonly hostname: string;
  readonly lamport: LamportClock;
  readonly pool: TaskPool;
  readonly log: Logger;
  readonly prefetchMultiplier: number;
  /** Queues the worker was started with (used until the consumer exists). */
  readonly queues: readonly string[];
  jobs(): Iterable<JobView>;
  consumer(): Consumer | null;
  totals(): ReadonlyMap<string, number>;
  setTaskEvents(enabled: boolean): boolean;
  heartbeat(): Promise<void>;
  /** Starts the worker's warm shutdown. */
  close(): void;
  /** The worker's own revoke (in-memory set, backend, terminate). */
  revoke(ids: readonly string[], options: WorkerRevokeOptions): Promise<WorkerRevokeResult>;
  /** Ids the worker holds as revoked. */
  revokedIds(): readonly string[];
  /** Adds ids learned from a peer to the worker's revoked set, without persisting them. */
  mergeRevoked(ids: readonly string[]): void;
  /** The worker's per-task rate limit (validated by the caller). */
  setRateLimit(taskName: string, limit: string | null): void;
  /** The worker's run-time time limits of a task (Celery's `time_limit` command). */
  setTimeLimit(taskName: string, limits: { hard: number | null; soft: number | null }): void;
  /** Pool slots the prefetch window is sized for (the autoscale max, else the pool size). */
  prefetchSlots(): number;
  /** The autoscale range in force; null when the worker does not autoscale. */
  autoscaleRange(): AutoscaleRange | null;
  /** Starts autoscaling in `range`, or moves to it; returns the range applied. */
  setAutoscale(range: AutoscaleRange): AutoscaleRange;
}

/** A worker as remote control sees it. */
export class WorkerControlTarget implements ControlTarget {
  readonly startedAt: number;

  constructor(private readonly parts: WorkerParts) {
    this.startedAt = parts.app.clock.now();
  }

  get app(): App {
    return this.parts.app;
  }

  get hostname(): string {
    return this.parts.hostname;
  }

  get lamport(): LamportClock {
    return this.parts.lamport;
  }

  get prefetchCount(): number {
    return this.parts.prefetchSlots() * this.parts.prefetchMultiplier;
  }

  queues(): readonly string[] {
    return this.parts.consumer()?.queues ?? this.parts.queues;
  }

  *requests(): Iterable<HeldRequest> {
    for (const job of this.parts.jobs()) {
      yield {
        message: job.message, state: job.state, startedAt: job.startedAt, acknowledged: job.ackedEarly,
        queue: job.delivery.queue, redelivered: job.delivery.redelivered,
      };
    }
  }

  async scheduled(): Promise<ScheduledRequest[]> {
    // A broker that lists no delayed messages leaves only what workers hold themselves (none for
    // a Celeriac worker, which defers ETA messages to the broker).
    const records = (await delayedListingOf(this.app.broker)?.delayedMessages(this.queues(), 1000)) ?? [];
    const out: ScheduledRequest[] = [];
    for (const r of records) {
      try {
        const message = decodeTaskMessage(decodeEnvelope(r.raw).message);
        out.push({ message, queue: r.queue, deliverAt: r.deliverAt, priority: message.properties.priority });
      } catch {
        // A malformed message is the worker's to set aside when due; nothing to show.
      }
    }
    return out;
  }

  totals(): ReadonlyMap<string, number> {
    return this.parts.totals();
  }

  pool(): { size: number; busy: number; autoscale: { max: number; min: number } | null } {
    return { size: this.parts.pool.size, busy: this.parts.pool.busy, autoscale: this.parts.autoscaleRange() };
  }

  poolStats(): PoolStats {
    return this.parts.pool.stats();
  }

  revoked(): ReadonlyMap<string, number> {
    // The worker's set keeps expiries, not revoke times; peers only use the ids.
    const now = this.app.clock.now();
    return new Map(this.parts.revokedIds().map((id) => [id, now]));
  }

  mergeRevoked(entries: ReadonlyMap<string, number>): void {
    this.parts.mergeRevoked([...entries.keys()]);
  }

  /** The worker's revoke: remembered, persisted in the backend, running ones stopped on terminate. */
  async revoke(ids: readonly string[], options: { terminate: boolean; signal: string }): Promise<string[]> {
    if (ids.length === 0) return [];
    const result = await this.parts.revoke(ids, options);
    return [...result.terminated];
  }

  setRateLimit(taskName: string, limit: string | null): void {
    this.parts.setRateLimit(taskName, limit);
  }

  setTimeLimit(taskName: string, limits: { hard: number | null; soft: number | null }): void {
    this.parts.setTimeLimit(taskName, limits);
  }

  resizePool(delta: number): void {
    this.#setPoolSize(this.parts.pool.size + Math.trunc(delta));
  }

  /** As Celery's autoscaler update; a worker started without `--autoscale` starts autoscaling. */
  autoscale(max: number, min: number): { max: number; min: number } {
    const hi = Math.max(1, Math.trunc(max));
    const lo = Math.max(0, Math.min(hi, Math.trunc(min)));
    const applied = this.parts.setAutoscale({ max: hi, min: lo });
    this.parts.consumer()?.setPrefetch(this.prefetchCount);
    return applied;
  }

  #setPoolSize(size: number): void {
    this.parts.pool.resize(Math.max(1, size));
    this.parts.consumer()?.setPrefetch(this.prefetchCount);
  }

  async addConsumer(queue: string): Promise<void> {
    const consumer = this.parts.consumer();
    if (consumer === null || consumer.queues.includes(queue)) return;
    await this.app.broker.declareQueue(queue);
    consumer.addQueue(queue);
  }

  async cancelConsumer(queue: string): Promise<void> {
    const consumer = this.parts.consumer();
    if (consumer !== null && consumer.queues.includes(queue)) consumer.cancelQueue(queue);
  }

  setTaskEvents(enabled: boolean): boolean {
    return this.parts.setTaskEvents(enabled);
  }

  heartbeat(): Promise<void> {
    return this.parts.heartbeat();
  }

  shutdown(): void {
    this.parts.log.warn('Got shutdown from remote');
    // After the reply path returns, so the command's handling is not awaited by the close.
    setImmediate(() => this.parts.close());
  }

  conf(withDefaults: boolean): Record<string, Json> {
    const settings = this.app.settings as unknown as Record<string, Json>;
    const out: Record<string, Json> = {};
    for (const spec of SETTINGS) {
      const value = settings[spec.name];
      if (!withDefaults && JSON.stringify(value) === JSON.stringify(spec.default)) continue;
      // Celery's names, as `celery inspect conf` answers them (Celeriac's own settings spelt alike).
      out[celerySettingName(spec.name)] = typeof value === 'string' && (spec.name === 'broker' || spec.name === 'backend') ? redactUrl(value) : value ?? null;
    }
    return out;
  }
}
