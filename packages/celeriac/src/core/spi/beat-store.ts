/**
 * @module core/spi/beat-store
 * The BeatStore SPI: what beat keeps outside its process so that any number of beat
 * processes fire each entry once. A broker that can host beat plays the
 * {@link BeatStoreHost} role: its store lives beside the queues on purpose, so the broker can
 * check the lease in the same atomic step as a publish (see {@link PublishFence}). Beat takes
 * an explicit store, or else its broker's (memory, Redis, RabbitMQ); a broker that hosts none makes beat fail
 * with a CONFIG error naming the way out (core/spi/roles.ts, `beatStoreOf`).
 * Every store runs the conformance suite in testing/beat-store-conformance.ts.
 *
 * - **Lease with fencing**: `acquire` grants a lease to one holder at a time and returns a
 *   fresh token (tokens only grow). Every write beat makes (a publish, a run record)
 *   presents the token and is refused once the token is no longer the current holder's,
 *   so a paused old leader that wakes up after a takeover cannot send.
 * - **Run state**: per entry name, the last run (the slot it stood for) and the run count.
 * - **Dynamic entries**: definitions (JSON text) by name, a paused set, and a version
 *   number that grows on every change, so schedulers reload only when it moved.
 */

/** Last run and run count of one entry (Celery's `last_run_at`, `total_run_count`). */
export interface EntryRunState {
  /** Epoch ms of the scheduled time the last run stood for (or when the entry was first seen). */
  readonly lastRunAt: number;
  /** Runs sent so far. */
  readonly totalRunCount: number;
}

/**
 * A precondition on a publish: the lease key must still hold `token`; when it does, the
 * message is published and `record` written in the same atomic step; when it does not,
 * nothing happens and the publish fails with a FENCED error. Built by {@link BeatStore.fence}
 * and understood only by the broker that returned the store.
 */
export interface PublishFence {
  /** The store's lease key (adapter-specific). */
  readonly key: string;
  /** The token that must hold the lease. */
  readonly token: string;
  /** A hash field to set with the publish: the entry's new run state. */
  readonly record?: { readonly key: string; readonly field: string; readonly value: string };
}

/** The answer of {@link BeatStore.acquire}. */
export interface LeaseAttempt {
  /** The fencing token when the lease was granted; null when another holder has it. */
  readonly token: string | null;
  /** When not granted: ms until the current lease expires (try again then). */
  readonly retryInMs: number;
}

/** Dynamic entries as stored. */
export interface StoredEntries {
  /** The version these were read at. */
  readonly version: number;
  /** Name -> definition JSON text. */
  readonly definitions: ReadonlyMap<string, string>;
  /** Names of paused entries (static or dynamic). */
  readonly paused: ReadonlySet<string>;
}

/** The BeatStore SPI. */
export interface BeatStore {
  /** Adapter name: 'memory', 'redis'. */
  readonly kind: string;
  /** Take the lease for `ttlMs` if nobody holds it. */
  acquire(holder: string, ttlMs: number): Promise<LeaseAttempt>;
  /** Extend the lease; false when `token` no longer holds it. */
  renew(token: string, ttlMs: number): Promise<boolean>;
  /** Give the lease up if `token` still holds it. */
  release(token: string): Promise<void>;
  /**
   * Whether the store's connection is known to be down now (a store with a connection of its
   * own): a stopping beat then does not wait to release the lease, which expires by itself.
   */
  offline?(): boolean;
  /** The publish precondition for `token`, recording `state` for `entry` with the publish. */
  fence(token: string, entry: string, state: EntryRunState): PublishFence;
  /** Records `state` for `entry` while `token` holds the lease; false (nothing written) otherwise. */
  record(token: string, entry: string, state: EntryRunState): Promise<boolean>;
  /** Every entry's recorded state. */
  states(): Promise<Map<string, EntryRunState>>;
  /** The version of the dynamic entries (0 when never changed). */
  version(): Promise<number>;
  /** All dynamic entries, with the version they were read at. */
  entries(): Promise<StoredEntries>;
  /** Adds or replaces a dynamic entry's definition; returns the new version. */
  put(name: string, definition: string): Promise<number>;
  /** Pauses or resumes an entry by name; returns the new version. */
  setPaused(name: string, paused: boolean): Promise<number>;
  /** Removes a dynamic entry, its paused mark and its run state; false when it did not exist. */
  remove(name: string): Promise<boolean>;
}

/** The beat-store-host role of a broker (see the module comment). */
export interface BeatStoreHost {
  /** Beat's lease, run state and dynamic entries, beside the queues (one store per broker). */
  beatStore(): BeatStore;
}
