/**
 * @module backends/memory/memory-backend
 * The in-process result backend: the embedded default (`memory://`) and the reference the
 * backend conformance suite is written against. It mirrors the Redis backend's behaviour
 * (docs/protocol.md §3): a stored SUCCESS is never overwritten, records expire, and
 * subscribers are pushed every later store, asynchronously, like Redis pub/sub.
 */
import { parsePyJson } from '../../protocol/py-json.js';
import { encodeResultMeta } from '../../protocol/result.js';
import { systemClock, type Clock } from '../../core/clock.js';
import type {
  ChordJoinState,
  ChordJoinStore,
  ChordPart,
  GroupStore,
  RateTokenStore,
  ResultBackend,
  RevocationStore,
  RevokedEntry,
  RevokeNotice,
  RevokeOptions,
  StoreOptions,
  Unsubscribe,
} from '../../core/spi/backend.js';
import { ChordJoins } from './chord-joins.js';
import type { GroupMeta, ResultMeta } from '../../protocol/types.js';
import { CeleriacError, ErrorCodes } from '../../errors.js';

/** Options of {@link MemoryBackend}. */
export interface MemoryBackendOptions {
  /**
   * Source of time for expiry (results, groups, revokes).
   * @default systemClock
   */
  clock?: Clock;
}

/** {@link MemoryBackendOptions} resolved once. */
export interface ResolvedMemoryBackendOptions {
  readonly clock: Clock;
}

/** Lifecycle of a {@link MemoryBackend}: usable until closed, never reopened. */
export type MemoryBackendState = 'open' | 'closed';

interface Stored<T> {
  readonly value: T;
  /** Epoch ms, or null to keep forever. */
  readonly expiresAt: number | null;
}

type Listener = (meta: ResultMeta) => void;

/** Stores performed between sweeps of expired entries (bounds memory without timers). */
const SWEEP_EVERY = 1000;

/**
 * A {@link ResultBackend} held in process memory. Every record is stored and returned as
 * its own deep copy (`structuredClone`), so callers can never mutate what is stored.
 */
export class MemoryBackend implements ResultBackend, GroupStore, ChordJoinStore, RevocationStore, RateTokenStore {
  /** Adapter name. */
  readonly kind = 'memory';
  /** The resolved options. */
  readonly options: ResolvedMemoryBackendOptions;
  #state: MemoryBackendState = 'open';
  readonly #metas = new Map<string, Stored<ResultMeta>>();
  readonly #groups = new Map<string, Stored<GroupMeta>>();
  readonly #revoked = new Map<string, number>();
  readonly #listeners = new Map<string, Set<Listener>>();
  readonly #revokeListeners = new Set<(notice: RevokeNotice) => void>();
  /** Cluster rate limits: key -> epoch ms of the next free run (GCRA's theoretical arrival time). */
  readonly #rateTat = new Map<string, number>();
  #writesSinceSweep = 0;
  readonly #chords: ChordJoins;

  constructor(options: MemoryBackendOptions = {}) {
    this.options = Object.freeze({ clock: options.clock ?? systemClock });
    this.#chords = new ChordJoins(this.options.clock);
  }

  /** 'open' until {@link MemoryBackend.close}. */
  get state(): MemoryBackendState {
    return this.#state;
  }

  /** Nothing to connect; fails only once closed. */
  async connect(): Promise<void> {
    this.#assertOpen('connect');
  }

  /** Drops every subscription; later calls fail with `CELERIAC_ERR_STATE`. Idempotent. */
  async close(): Promise<void> {
    this.#state = 'closed';
    this.#listeners.clear();
    this.#revokeListeners.clear();
  }

  /** Stores a copy of `meta` unless a SUCCESS is already stored, then notifies subscribers. */
  async store(meta: ResultMeta, options: StoreOptions): Promise<void> {
    this.#assertOpen('store');
    const expiresAt = this.#expiryOf(options.expiresSec);
    const current = this.#live(this.#metas, meta.task_id);
    // Celery's rule: a finished task's SUCCESS is final; the write (and its publish) is skipped.
    if (current?.status === 'SUCCESS') return;
    // Round-trip through the wire encoding, so a value a network backend cannot store (a
    // function, a cycle) fails here too instead of only in production, and one it keeps (a
    // bigint, as an integer read back as a bigint) comes back as from a network backend.
    const encoded = parsePyJson(encodeResultMeta(meta)) as ResultMeta;
    this.#metas.set(meta.task_id, { value: encoded, expiresAt });
    this.#afterWrite();
    this.#notify(meta.task_id, meta);
  }

  /** A copy of the stored meta, or null (never stored, forgotten or expired). */
  async get(taskId: string): Promise<ResultMeta | null> {
    this.#assertOpen('get');
    return copyOrNull(this.#live(this.#metas, taskId));
  }

  /** Copies of the stored metas in the order of `taskIds`, null for misses. */
  async getMany(taskIds: readonly string[]): Promise<(ResultMeta | null)[]> {
    this.#assertOpen('getMany');
    return taskIds.map((id) => copyOrNull(this.#live(this.#metas, id)));
  }

  /** Pushes every later store of `taskId` to `listener` (asynchronously, each its own copy). */
  async subscribe(taskId: string, listener: Listener): Promise<Unsubscribe> {
    this.#assertOpen('subscribe');
    // Wrap so the same function subscribed twice is two subscriptions, removed one by one.
    const entry: Listener = (meta) => listener(meta);
    let set = this.#listeners.get(taskId);
    if (!set) this.#listeners.set(taskId, (set = new Set()));
    set.add(entry);
    return async () => {
      const current = this.#listeners.get(taskId);
      if (!current) return;
      current.delete(entry);
      if (current.size === 0) this.#listeners.delete(taskId);
    };
  }

  /** Deletes a task's meta (a no-op when there is none). */
  async forget(taskId: string): Promise<void> {
    this.#assertOpen('forget');
    this.#metas.delete(taskId);
  }

  /** Saves a copy of a group's member list. */
  async saveGroup(groupId: string, meta: GroupMeta, options: StoreOptions): Promise<void> {
    this.#assertOpen('saveGroup');
    const expiresAt = this.#expiryOf(options.expiresSec);
    this.#groups.set(groupId, { value: structuredClone(meta), expiresAt });
    this.#afterWrite();
  }

  /** A copy of a saved group, or null. */
  async getGroup(groupId: string): Promise<GroupMeta | null> {
    this.#assertOpen('getGroup');
    return copyOrNull(this.#live(this.#groups, groupId));
  }

  /** Deletes a saved group. */
  async forgetGroup(groupId: string): Promise<void> {
    this.#assertOpen('forgetGroup');
    this.#groups.delete(groupId);
  }

  /** Remembers `taskIds` as revoked for `expiresSec` seconds (a later revoke extends it) and notifies. */
  async revoke(taskIds: readonly string[], options: RevokeOptions): Promise<void> {
    this.#assertOpen('revoke');
    const expiresAt = this.#expiryOf(options.expiresSec);
    for (const id of taskIds) this.#revoked.set(id, expiresAt ?? Number.POSITIVE_INFINITY);
    this.#afterWrite();
    if (taskIds.length === 0) return;
    const notice: RevokeNotice = {
      ids: [...taskIds],
      ttlMs: options.expiresSec * 1000,
      terminate: options.terminate ?? false,
      signal: options.signal ?? null,
    };
    // Asynchronous like Redis pub/sub.
    queueMicrotask(() => {
      for (const listener of [...this.#revokeListeners]) {
        try {
          listener(notice);
        } catch {
          // Listeners own their errors.
        }
      }
    });
  }

  /** The live revokes (the `limit` that end last, when given) with the ms they have left, in the order they end. */
  async revokedEntries(limit = Number.POSITIVE_INFINITY): Promise<RevokedEntry[]> {
    this.#assertOpen('revokedEntries');
    const now = this.options.clock.now();
    const out: RevokedEntry[] = [];
    for (const [id, until] of this.#revoked) if (now < until) out.push({ id, ttlMs: until - now });
    out.sort((a, b) => a.ttlMs - b.ttlMs);
    return limit >= out.length ? out : out.slice(out.length - Math.max(0, Math.floor(limit)));
  }

  /** Calls `listener` for every later revoke. */
  async onRevoke(listener: (notice: RevokeNotice) => void): Promise<Unsubscribe> {
    this.#assertOpen('onRevoke');
    const entry = (notice: RevokeNotice) => listener(notice);
    this.#revokeListeners.add(entry);
    return async () => {
      this.#revokeListeners.delete(entry);
    };
  }

  /** Reserves the next run slot of `key` (one per `intervalMs` across every caller in this process). */
  async acquireRateToken(key: string, intervalMs: number): Promise<number> {
    this.#assertOpen('acquireRateToken');
    if (!(typeof intervalMs === 'number' && Number.isFinite(intervalMs) && intervalMs > 0)) {
      throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `intervalMs must be a positive number, got ${String(intervalMs)}`);
    }
    const now = this.options.clock.now();
    const start = Math.max(this.#rateTat.get(key) ?? now, now);
    this.#rateTat.set(key, start + intervalMs);
    return start - now;
  }

  /** The subset of `taskIds` currently revoked. */
  async revoked(taskIds: readonly string[]): Promise<Set<string>> {
    this.#assertOpen('revoked');
    const now = this.options.clock.now();
    const out = new Set<string>();
    for (const id of taskIds) {
      const until = this.#revoked.get(id);
      if (until !== undefined && now < until) out.add(id);
    }
    return out;
  }

  /** Stores the chord size of `groupId`. */
  async setChordSize(groupId: string, size: number, options: StoreOptions): Promise<void> {
    this.#assertOpen('setChordSize');
    this.#chords.setSize(groupId, size, this.#expiryOf(options.expiresSec));
    this.#afterWrite();
  }

  /** Records a chord header part and reports the join. */
  async addChordPart(groupId: string, part: ChordPart, options: StoreOptions): Promise<ChordJoinState> {
    this.#assertOpen('addChordPart');
    const state = this.#chords.add(groupId, part, this.#expiryOf(options.expiresSec));
    this.#afterWrite();
    return state;
  }

  /** Expects `count` more parts in chord `groupId` (Celery's `add_to_chord`). */
  async addToChord(groupId: string, count: number, options: StoreOptions): Promise<void> {
    this.#assertOpen('addToChord');
    this.#chords.addExpected(groupId, count, this.#expiryOf(options.expiresSec));
    this.#afterWrite();
  }

  /** Forgets the join of chord `groupId`. */
  async clearChord(groupId: string): Promise<void> {
    this.#assertOpen('clearChord');
    this.#chords.clear(groupId);
  }

  #notify(taskId: string, meta: ResultMeta): void {
    const set = this.#listeners.get(taskId);
    if (!set || set.size === 0) return;
    const snapshot = [...set];
    // Asynchronous like Redis pub/sub: a listener never runs inside the caller's store().
    queueMicrotask(() => {
      for (const listener of snapshot) {
        if (!this.#listeners.get(taskId)?.has(listener)) continue;
        try {
          listener(structuredClone(meta));
        } catch {
          // The SPI makes listeners own their errors; one failing must not starve the others.
        }
      }
    });
  }

  #live<T>(map: Map<string, Stored<T>>, key: string): T | undefined {
    const entry = map.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== null && this.options.clock.now() >= entry.expiresAt) {
      map.delete(key);
      return undefined;
    }
    return entry.value;
  }

  #expiryOf(expiresSec: number | null): number | null {
    if (expiresSec === null) return null;
    if (typeof expiresSec !== 'number' || !Number.isFinite(expiresSec) || expiresSec <= 0) {
      throw new CeleriacError(
        ErrorCodes.INVALID_ARGUMENT,
        `expiresSec must be a positive number of seconds or null, got ${String(expiresSec)}`,
      );
    }
    return this.options.clock.now() + expiresSec * 1000;
  }

  #afterWrite(): void {
    if (++this.#writesSinceSweep < SWEEP_EVERY) return;
    this.#writesSinceSweep = 0;
    const now = this.options.clock.now();
    for (const map of [this.#metas, this.#groups] as Map<string, Stored<unknown>>[]) {
      for (const [key, entry] of map) {
        if (entry.expiresAt !== null && now >= entry.expiresAt) map.delete(key);
      }
    }
    for (const [id, until] of this.#revoked) if (now >= until) this.#revoked.delete(id);
    this.#chords.sweep(now);
  }

  #assertOpen(operation: string): void {
    if (this.#state === 'closed') {
      throw new CeleriacError(ErrorCodes.STATE, `MemoryBackend.${operation}: the backend is closed`);
    }
  }
}

function copyOrNull<T>(value: T | undefined): T | null {
  return value === undefined ? null : structuredClone(value);
}
