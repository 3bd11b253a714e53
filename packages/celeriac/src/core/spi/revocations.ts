/**
 * @module core/spi/revocations
 * The Revocations role of a result backend: revoked task ids remembered with a TTL, so that
 * workers started later skip them too, and announced to running workers.
 * A backend without it (Celery's `rpc://`) leaves revokes to remote control, as Celery
 * does: see core/spi/roles.ts (`revokeTasks`). Conformance: testing/revocation-conformance.ts.
 */
import type { Unsubscribe } from './common.js';

/** Options of {@link RevocationStore.revoke}. */
export interface RevokeOptions {
  /** Seconds the revoke is remembered. */
  expiresSec: number;
  /** Also stop the task where it is running now (carried to workers by the notice). @default false */
  terminate?: boolean;
  /** Signal name for terminate, e.g. 'SIGTERM'. @default 'SIGTERM' */
  signal?: string;
}

/** What {@link RevocationStore.onRevoke} listeners receive for each `revoke()`, from any process. */
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

/** The Revocations role. */
export interface RevocationStore {
  /**
   * Remember task ids as revoked for `expiresSec` seconds, so later workers skip them, and
   * notify {@link RevocationStore.onRevoke} listeners (running workers) with the options.
   */
  revoke(taskIds: readonly string[], options: RevokeOptions): Promise<void>;
  /** The subset of `taskIds` that is currently revoked. */
  revoked(taskIds: readonly string[]): Promise<Set<string>>;
  /**
   * Every live revoke, in the order they end (a starting worker loads them, and reads them again
   * now and then); with `limit`, only the `limit` that end last: a worker keeps no more, and a
   * revoke of a million ids listed whole every 30 s by every worker held Redis for a second
   * each time. Optional: without it (and `onRevoke`) workers fall back to asking
   * `revoked([id])` for every message.
   */
  revokedEntries?(limit?: number): Promise<RevokedEntry[]>;
  /** Calls `listener` for every later `revoke()`, by any process. Optional (see `revokedEntries`). */
  onRevoke?(listener: (notice: RevokeNotice) => void): Promise<Unsubscribe>;
}
