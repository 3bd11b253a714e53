/**
 * @module worker/control/control-target
 * What remote-control handlers may know about and do to a worker: one interface, so the
 * handlers stay plain functions and tests can drive them without a broker.
 */
import type { App } from '../../core/app.js';
import type { LamportClock } from '../../protocol/lamport-clock.js';
import type { Json, TaskMessage } from '../../protocol/types.js';
import type { PoolStats } from '../pools/types.js';

/** A task request the worker holds, as handlers see it. */
export interface HeldRequest {
  readonly message: TaskMessage;
  readonly state: 'reserved' | 'active';
  /** Epoch ms it started running, or null. */
  readonly startedAt: number | null;
  readonly acknowledged: boolean;
  readonly queue: string;
  readonly redelivered: boolean;
}

/** An ETA task held by the broker for one of the worker's queues. */
export interface ScheduledRequest {
  readonly message: TaskMessage;
  readonly queue: string;
  /** Epoch ms it becomes due. */
  readonly deliverAt: number;
  readonly priority: number;
}

/** Facts about the worker and the actions control commands take on it. */
export interface ControlTarget {
  readonly app: App;
  /** Node name. */
  readonly hostname: string;
  /** The worker's Lamport clock (events and pidbox). */
  readonly lamport: LamportClock;
  /** Epoch ms the worker started. */
  readonly startedAt: number;
  /** Most unacknowledged messages held at once. */
  readonly prefetchCount: number;
  /** Queues consumed now. */
  queues(): readonly string[];
  /** Reserved and active requests. */
  requests(): Iterable<HeldRequest>;
  /** ETA tasks waiting in the broker for this worker's queues. */
  scheduled(): Promise<ScheduledRequest[]>;
  /** Finished tasks per name since start. */
  totals(): ReadonlyMap<string, number>;
  /** Pool slots and slots in use. */
  pool(): { size: number; busy: number; autoscale: { max: number; min: number } | null };
  /** The pool's own figures (kind, processes, recycling, writes) for `stats`. */
  poolStats(): PoolStats;
  /** Revoked ids this worker knows of, with when each was revoked (epoch ms). */
  revoked(): ReadonlyMap<string, number>;
  /** Adds revoked ids learned from a peer (mingle `hello`). */
  mergeRevoked(entries: ReadonlyMap<string, number>): void;
  /**
   * Revokes ids (remembered by every worker through the backend) and, with `terminate`,
   * stops those running here; returns the ids terminated.
   */
  revoke(ids: readonly string[], options: { terminate: boolean; signal: string }): Promise<string[]>;
  /** Sets (or, with null, removes) a task's rate limit, e.g. '10/m'. */
  setRateLimit(taskName: string, limit: string | null): void;
  /** Overrides a task's time limits in seconds (null = none). */
  setTimeLimit(taskName: string, limits: { hard: number | null; soft: number | null }): void;
  /** Changes the pool size by `delta` slots (never below 1). */
  resizePool(delta: number): void;
  /** Sets autoscale bounds; returns them as applied. */
  autoscale(max: number, min: number): { max: number; min: number };
  /** Starts consuming a queue. */
  addConsumer(queue: string): Promise<void>;
  /** Stops consuming a queue. */
  cancelConsumer(queue: string): Promise<void>;
  /** Turns task events on or off; false when they already were. */
  setTaskEvents(enabled: boolean): boolean;
  /** Sends a heartbeat event now. */
  heartbeat(): Promise<void>;
  /** Starts a warm shutdown (after the current command is handled). */
  shutdown(): void;
  /** The settings a `conf` reply shows. */
  conf(withDefaults: boolean): Record<string, Json>;
}
