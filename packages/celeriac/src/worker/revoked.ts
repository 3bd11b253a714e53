/**
 * @module worker/revoked
 * The worker's revoked set, like Celery's `worker_state.revoked`: held in memory so that
 * checking a message costs no I/O. It is loaded from the result backend when the worker
 * starts, kept current by the backend's revoke notices (Redis: a pub/sub channel), and
 * re-read now and then in case a notice was lost (a reconnect drops pub/sub messages).
 */
import { constants } from 'node:os';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { ResultBackend, RevokeNotice, Unsubscribe } from '../core/spi/backend.js';
import { coerceError } from '../errors.js';

/** Most ids remembered, as Celery's LimitedSet (the oldest go first). */
export const REVOKED_MAX = 50_000;
/** How often the whole set is re-read from the backend, as a safety net for lost notices. */
export const REVOKE_REFRESH_MS = 30_000;

/** Revoked task ids with their expiry, bounded in size. */
export class RevokedSet {
  /** id -> epoch ms when the revoke ends; insertion order is age, for eviction. */
  readonly #until = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly maxSize = REVOKED_MAX,
  ) {}

  /** Adds (or extends) ids for `ttlMs`. */
  add(ids: Iterable<string>, ttlMs: number): void {
    const until = this.clock.now() + ttlMs;
    for (const id of ids) {
      const current = this.#until.get(id);
      this.#until.delete(id);
      this.#until.set(id, Math.max(until, current ?? until));
    }
    for (const id of this.#until.keys()) {
      if (this.#until.size <= this.maxSize) break;
      this.#until.delete(id);
    }
  }

  /** True when `id` is revoked now. */
  has(id: string): boolean {
    const until = this.#until.get(id);
    if (until === undefined) return false;
    if (this.clock.now() < until) return true;
    this.#until.delete(id);
    return false;
  }

  /** Live ids, oldest first. */
  ids(): string[] {
    const now = this.clock.now();
    const out: string[] = [];
    for (const [id, until] of this.#until) {
      if (now < until) out.push(id);
      else this.#until.delete(id);
    }
    return out;
  }

  /** The most ids held: past it, the oldest go. */
  get capacity(): number {
    return this.maxSize;
  }

  /** Ids held, expired ones included until next looked at. */
  get size(): number {
    return this.#until.size;
  }
}

// Where the worker's revoke code has always found it.
export { signalName } from '../core/revoke-options.js';

/** The signal number of a `SIGXXX` name, as a string (what Celery's task-revoked event carries). */
export function signalNumber(name: string): string {
  return String((constants.signals as Record<string, number>)[name] ?? name);
}

/** What {@link RevokeSync} needs. */
export interface RevokeSyncHost {
  readonly backend: ResultBackend;
  readonly clock: Clock;
  readonly log: Logger;
  readonly set: RevokedSet;
  /** Called for each notice (after its ids were added), to terminate running tasks. */
  onNotice(notice: RevokeNotice): void;
  /** @default REVOKE_REFRESH_MS */
  refreshMs?: number;
}

/** Keeps a {@link RevokedSet} in step with the backend. */
export class RevokeSync {
  private unsubscribe: Unsubscribe | null = null;
  private timer: TimerHandle | null = null;
  private stateValue: 'idle' | 'running' | 'closed' = 'idle';

  constructor(private readonly host: RevokeSyncHost) {}

  /** True when the backend can feed the set; otherwise the executor asks the backend per message. */
  get live(): boolean {
    return this.host.backend.onRevoke !== undefined && this.host.backend.revokedEntries !== undefined;
  }

  /** Subscribes to notices, then loads every live revoke (in that order, so none is missed). */
  async start(): Promise<void> {
    if (this.stateValue !== 'idle' || !this.live) return;
    this.stateValue = 'running';
    const { backend, set } = this.host;
    const unsubscribe = await backend.onRevoke!((notice) => {
      set.add(notice.ids, notice.ttlMs);
      this.host.onNotice(notice);
    });
    // Closed while subscribing: do not leave the subscription behind.
    if (this.stateValue !== 'running') return unsubscribe();
    this.unsubscribe = unsubscribe;
    await this.refresh();
  }

  /** Re-reads every live revoke from the backend. */
  async refresh(): Promise<void> {
    if (this.stateValue !== 'running') return;
    try {
      // No more than the set keeps, the newest (the ones ending last).
      const entries = await this.host.backend.revokedEntries!(this.host.set.capacity);
      for (const e of entries) this.host.set.add([e.id], e.ttlMs);
    } catch (err) {
      this.host.log.warn({ err: coerceError(err) }, 'could not re-read revoked task ids; keeping the ones known');
    } finally {
      this.schedule();
    }
  }

  private schedule(): void {
    if (this.stateValue !== 'running') return;
    if (this.timer !== null) this.host.clock.clearTimer(this.timer);
    this.timer = this.host.clock.setTimer(() => void this.refresh(), this.host.refreshMs ?? REVOKE_REFRESH_MS);
  }

  /** Stops listening. Idempotent. */
  async close(): Promise<void> {
    this.stateValue = 'closed';
    if (this.timer !== null) this.host.clock.clearTimer(this.timer);
    this.timer = null;
    const stop = this.unsubscribe;
    this.unsubscribe = null;
    await stop?.().catch(() => undefined);
  }
}
