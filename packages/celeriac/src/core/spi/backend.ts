/**
 * @module core/spi/backend
 * The ResultBackend SPI: where task states and results live. Adapters live in backends/;
 * each runs the conformance suite in testing/backend-conformance.ts. Waiting for results is
 * written once in core on top of `subscribe` + `get`, so no adapter needs to poll.
 */
import type { GroupMeta, Json, ResultMeta, TaskState } from '../../protocol/types.js';

/** Stops a subscription. Idempotent. */
export type Unsubscribe = () => Promise<void>;

/** Options of {@link ResultBackend.store}. */
export interface StoreOptions {
  /** Seconds to keep the record; null keeps it forever. */
  expiresSec: number | null;
}

/** Options of {@link ResultBackend.revoke}. */
export interface RevokeOptions {
  /** Seconds the revoke is remembered. */
  expiresSec: number;
  /** Also stop the task where it is running now (carried to workers by the notice). @default false */
  terminate?: boolean;
  /** Signal name for terminate, e.g. 'SIGTERM'. @default 'SIGTERM' */
  signal?: string;
}

/** What {@link ResultBackend.onRevoke} listeners receive for each `revoke()`, from any process. */
export interface RevokeNotice {
  readonly ids: readonly string[];
  /** Milliseconds the revoke lasts. */
  readonly ttlMs: number;
  readonly terminate: boolean;
  readonly signal: string | null;
}

/** One live revoke and the milliseconds it has left. */
export interface RevokedEntry {
  readonly id: string;
  readonly ttlMs: number;
}

/** One chord header part's end, as recorded in the chord join (docs/protocol.md §3.7). */
export interface ChordPart {
  /** Id of the header task. */
  taskId: string;
  /** Its final state (SUCCESS, FAILURE, REVOKED). */
  state: TaskState;
  /** Its result: the return value, or the exception record. */
  result: Json;
  /** Position in the chord header (`group_index`); null sorts last, as Celery's `+inf`. */
  index: number | null;
}

/** What {@link ResultBackend.addChordPart} saw after recording a part. */
export interface ChordJoinState {
  /** Parts recorded so far. */
  count: number;
  /** Expected parts (chord size + the `.t` counter), or null when no size is stored (yet). */
  total: number | null;
  /** Every recorded part, in header order, when `count` reached `total`; otherwise null. */
  parts: ChordPart[] | null;
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
  /**
   * Remember task ids as revoked for `expiresSec` seconds, so later workers skip them, and
   * notify {@link ResultBackend.onRevoke} listeners (running workers) with the options.
   */
  revoke(taskIds: readonly string[], options: RevokeOptions): Promise<void>;
  /** The subset of `taskIds` that is currently revoked. */
  revoked(taskIds: readonly string[]): Promise<Set<string>>;
  /**
   * Every live revoke (a starting worker loads them once). Optional: without it (and
   * `onRevoke`) workers fall back to asking `revoked([id])` for every message.
   */
  revokedEntries?(): Promise<RevokedEntry[]>;
  /** Calls `listener` for every later `revoke()`, by any process. Optional (see `revokedEntries`). */
  onRevoke?(listener: (notice: RevokeNotice) => void): Promise<Unsubscribe>;
  /**
   * Reserves the next run of a cluster-wide rate limit: runs of `key` are spaced at least
   * `intervalMs` apart across every caller. Resolves with the milliseconds the caller must
   * wait before running (0 = now). Optional: needed only by tasks with `clusterRateLimit`.
   */
  acquireRateToken?(key: string, intervalMs: number): Promise<number>;
  /**
   * Store the number of header parts of chord `groupId` (`celery-taskset-meta-<gid>.s`),
   * before its last header task is published.
   */
  setChordSize(groupId: string, size: number, options: StoreOptions): Promise<void>;
  /**
   * Record one header part's end and report the join, atomically: exactly one caller sees
   * `parts` for a given complete set (unless the same part is recorded again after
   * completion, as a redelivered part may be, and the join was not cleared yet).
   */
  addChordPart(groupId: string, part: ChordPart, options: StoreOptions): Promise<ChordJoinState>;
  /** Delete the join of chord `groupId` (after its body was sent or failed). */
  clearChord(groupId: string): Promise<void>;
}
