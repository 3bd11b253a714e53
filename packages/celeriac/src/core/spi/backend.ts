/**
 * @module core/spi/backend
 * The ResultBackend SPI: where task states and results live. Adapters live in backends/;
 * each runs the conformance suite in testing/backend-conformance.ts. Waiting for results is
 * written once in core on top of `subscribe` + `get`, so no adapter needs to poll.
 */
import type { GroupMeta, ResultMeta } from '../../protocol/types.js';

/** Stops a subscription. Idempotent. */
export type Unsubscribe = () => Promise<void>;

/** Options of {@link ResultBackend.store}. */
export interface StoreOptions {
  /** Seconds to keep the record; null keeps it forever. */
  expiresSec: number | null;
}

/** The ResultBackend SPI. */
export interface ResultBackend {
  /** Adapter name: 'memory', 'redis'. */
  readonly kind: string;
  /** Connect (idempotent). Other calls connect lazily when needed. */
  connect(): Promise<void>;
  /** Close connections and subscriptions. */
  close(): Promise<void>;
  /**
   * Store a task's meta and notify subscribers. A stored SUCCESS is never overwritten
   * (Celery's rule): storing over it is a no-op.
   */
  store(meta: ResultMeta, options: StoreOptions): Promise<void>;
  /** The stored meta, or null when none (a PENDING task). */
  get(taskId: string): Promise<ResultMeta | null>;
  /** Many metas in one round trip, in the order of `taskIds`. */
  getMany(taskIds: readonly string[]): Promise<(ResultMeta | null)[]>;
  /**
   * Calls `listener` with every meta stored for `taskId` after the returned promise
   * resolves. Callers subscribe first, then `get`, so no update is missed.
   */
  subscribe(taskId: string, listener: (meta: ResultMeta) => void): Promise<Unsubscribe>;
  /** Delete a task's meta. */
  forget(taskId: string): Promise<void>;
  /** Save a group's member list (`celery-taskset-meta-<gid>`). */
  saveGroup(groupId: string, meta: GroupMeta, options: StoreOptions): Promise<void>;
  /** A saved group, or null. */
  getGroup(groupId: string): Promise<GroupMeta | null>;
  /** Delete a saved group. */
  forgetGroup(groupId: string): Promise<void>;
  /** Remember task ids as revoked for `expiresSec` seconds, so later workers skip them. */
  revoke(taskIds: readonly string[], options: { expiresSec: number }): Promise<void>;
  /** The subset of `taskIds` that is currently revoked. */
  revoked(taskIds: readonly string[]): Promise<Set<string>>;
}
