/**
 * @module brokers/redis/lease-keeper
 * Lease renewal that does not depend on a free event loop. A task that computes on the
 * worker's event loop (the async pool) stops every timer there, lease renewal included: past
 * `recoverAfterSec` another worker takes the message, blocks in turn, and the task never
 * finishes once (a livelock). So a consuming broker renews from a worker thread, on a Redis
 * connection of its own (lease-keeper-thread.ts):
 * - the event loop feeds it, every `leaseRenewMs`, the deliveries it holds (tag, token, and
 *   the deadline of the task's hard time limit when it has one) and the token prefixes of its
 *   consumers; that feed is the loop's liveness tick, and is renewed at once. A deadline set
 *   between feeds is added at once. A fetch is not: posting each one to the thread cost more
 *   than the rest of a task's handling at concurrency 1, for a case that is rare.
 * - when no feed came for a renewal period and a half (the loop is blocked), the thread first
 *   looks up in Redis the deliveries held under its consumers' tokens (held-by.lua), so those
 *   fetched since the last feed, by a loop that blocked from a task's first instant, are kept
 *   too. That reads the whole fleet's leases, a stretch per call; it is done again only while
 *   a fetch the loop sent before it blocked may not have run yet, so once or twice per blocked
 *   spell, not every period. Then it keeps renewing them, each only until its deadline: a task past its hard limit
 *   that still holds the loop is left to be taken back, as a dead worker's would be. A
 *   delivery without a deadline is renewed for as long as the worker's process lives, as any
 *   long task is.
 * While it renews for a blocked loop, the thread also renews the broker's presence, so a worker
 * whose loop is blocked is not taken for dead and its early-acked tasks (the well-behaved one
 * beside the blocking one) are not reported lost; the blocking task is named by the worker's
 * block-watch once the loop turns again (worker/pools/block-watch.ts).
 * The thread tells the loop which leases it found taken back. One thread serves every broker
 * of the process (a session each), and ends a little after the last session closed. A
 * worker starts the thread as it starts ({@link LeaseKeeper.warm}) and consumes meanwhile;
 * until the thread runs, or if it cannot start, the broker renews on its event loop (see
 * {@link LeaseKeeper.usable}).
 * What the loop tells a session before the thread runs (its consumers' token prefixes, a
 * deadline) waits in the thread's port, so a broker that consumes at once and whose loop
 * blocks before the thread runs has its deliveries found and kept, each only until its
 * deadline, once it does.
 */
import type { Worker as NodeWorker } from 'node:worker_threads';
import { coerceError } from '../../errors.js';
import { startModuleThread } from '../../core/module-thread.js';
import type { RedisTarget } from '../../redis/url.js';
import type { RedisScript } from '../../redis/script.js';
import type { TransportLog } from '../../core/transport-table.js';
import type { KeptLease } from './lease-renewal.js';
import { HELD_BY_SCRIPT, RENEW_LEASE_SCRIPT } from './lease-scripts.js';

export type { KeptLease } from './lease-renewal.js';

/** What the keeper needs to renew one broker's leases. */
export interface KeeperSession {
  /** The broker's Redis (plain or TLS; Sentinel targets renew on the event loop). */
  readonly target: RedisTarget;
  /** renew-lease.lua's keys (lease-scripts.ts bookKeys). */
  readonly keys: readonly string[];
  readonly recoverAfterMs: number;
  readonly leaseRenewMs: number;
  readonly commandTimeoutMs: number;
  /**
   * How long after it is sent a fetch has run in Redis: the loop's poll plus a blocked fetch's
   * slack and a margin (lease-renewal.ts discoveryDue).
   */
  readonly fetchSettleMs: number;
  /**
   * The broker's presence (celeriac.promoters: member -> expiry, epoch ms), kept up while the
   * loop is blocked as the leases are, so that other workers do not take a blocked worker's
   * early-acked tasks for lost (redis/lost-tasks.ts); only an existing member is renewed
   * (ZADD XX), never one the broker withdrew.
   */
  readonly presence?: { readonly key: string; readonly member: string; readonly ttlMs: number };
}

/**
 * The scripts a session runs, read and hashed by the event loop (which has them already): the
 * thread then loads neither the files nor node:crypto.
 */
export interface KeeperScripts {
  readonly renew: RedisScript;
  readonly heldBy: RedisScript;
}

/** Event loop to keeper thread. */
export type ToKeeper =
  | { readonly type: 'open'; readonly session: number; readonly config: KeeperSession; readonly scripts: KeeperScripts }
  | { readonly type: 'held'; readonly session: number; readonly leases: readonly KeptLease[]; readonly owners: readonly string[] }
  | { readonly type: 'add'; readonly session: number; readonly leases: readonly KeptLease[] }
  | { readonly type: 'owners'; readonly session: number; readonly owners: readonly string[] }
  | { readonly type: 'close'; readonly session: number };

/** Keeper thread to event loop. */
export type FromKeeper =
  | { readonly type: 'ready' }
  | { readonly type: 'lost'; readonly session: number; readonly tags: readonly string[] }
  | { readonly type: 'log'; readonly session: number; readonly level: 'warn' | 'error'; readonly msg: string; readonly error: string | null };

/** What a broker hears from its keeper session. */
export interface KeeperHost {
  /** A renewal found these tags taken back. */
  lost(tags: readonly string[]): void;
  readonly log: TransportLog | undefined;
}

/** How long the thread outlives its last session (a broker closed and another opened soon after). */
const LINGER_MS = 5000;

/** The process's keeper thread, shared by the brokers' sessions. */
class KeeperThread {
  readonly #thread: NodeWorker;
  readonly #sessions = new Map<number, KeeperHost>();
  #next = 1;
  #ready = false;
  #failed = false;
  #linger: NodeJS.Timeout | null = null;
  /** Resolves once the thread runs or failed (see {@link KeeperThread.started}). */
  readonly #started: Promise<void>;
  #onStarted!: () => void;

  constructor() {
    this.#started = new Promise<void>((resolve) => (this.#onStarted = resolve));
    this.#thread = startModuleThread(new URL('./lease-keeper-thread.js', import.meta.url), null, 'celeriac-lease-keeper', (m: FromKeeper) => {
      if (m.type === 'ready') {
        this.#ready = true;
        this.#onStarted();
        return;
      }
      const host = this.#sessions.get(m.session);
      if (m.type === 'lost') host?.lost(m.tags);
      // The thread's failure as its text (`reason`, as the connection-lost lines give it): an
      // Error made here carried a stack of this handler, nothing of where the renewal failed.
      else host?.log?.(m.level, m.msg, m.error === null ? undefined : { reason: m.error });
    });
    this.#thread.on('error', (err) => {
      this.#fail();
      for (const host of this.#sessions.values()) {
        host.log?.('error', 'redis broker: the lease keeper thread failed; leases are renewed on the event loop from now on', { err: coerceError(err) });
      }
    });
    this.#thread.on('exit', () => this.#fail());
  }

  get usable(): boolean {
    return this.#ready && !this.#failed;
  }

  get failed(): boolean {
    return this.#failed;
  }

  open(config: KeeperSession, host: KeeperHost): number {
    if (this.#linger !== null) clearTimeout(this.#linger);
    this.#linger = null;
    const session = this.#next++;
    this.#sessions.set(session, host);
    this.post({ type: 'open', session, config, scripts: { renew: RENEW_LEASE_SCRIPT, heldBy: HELD_BY_SCRIPT } });
    return session;
  }

  close(session: number): void {
    if (!this.#sessions.delete(session)) return;
    this.post({ type: 'close', session });
    if (this.#sessions.size === 0) this.#lingerThenEnd();
  }

  post(message: ToKeeper): void {
    if (!this.#failed) this.#thread.postMessage(message);
  }

  /**
   * Resolves once the thread runs, has failed, or after `timeoutMs`; never rejects. With no
   * session open by then (a worker closed before consuming), the thread ends as after the last.
   */
  async started(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#started, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs).unref()))]);
    clearTimeout(timer);
    if (this.#sessions.size === 0) this.#lingerThenEnd();
  }

  #lingerThenEnd(): void {
    if (this.#failed || this.#linger !== null) return;
    this.#linger = setTimeout(() => {
      this.#fail();
      void this.#thread.terminate();
    }, LINGER_MS);
    this.#linger.unref();
  }

  #fail(): void {
    this.#failed = true;
    this.#onStarted();
    if (shared === this) shared = null;
  }
}

let shared: KeeperThread | null = null;

/** One broker's session with the process's keeper thread. */
export class LeaseKeeper {
  #closed = false;

  private constructor(
    private readonly thread: KeeperThread,
    private readonly session: number,
  ) {}

  /** Opens a session (starting the thread if none runs); null (after logging why) when it cannot start. */
  static start(config: KeeperSession, host: KeeperHost): LeaseKeeper | null {
    try {
      shared ??= new KeeperThread();
      return new LeaseKeeper(shared, shared.open(config, host));
    } catch (err) {
      host.log?.('warn', 'redis broker: no lease keeper thread; leases are renewed on the event loop', { err: coerceError(err) });
      return null;
    }
  }

  /**
   * Starts the process's thread if none runs and waits (at most `timeoutMs`) until it does, so
   * that a consumer started next is kept by it from its first fetch, and the thread's start-up
   * (some 30 ms of CPU) is part of the worker's start, not of its first tasks. Never rejects.
   */
  static async warm(timeoutMs: number, log?: TransportLog): Promise<void> {
    try {
      shared ??= new KeeperThread();
    } catch (err) {
      log?.('warn', 'redis broker: no lease keeper thread; leases are renewed on the event loop', { err: coerceError(err) });
      return;
    }
    await shared.started(timeoutMs);
  }

  /** True once the thread runs, false again if it failed: until then, renew on the event loop. */
  get usable(): boolean {
    return !this.#closed && this.thread.usable;
  }

  /** The liveness tick: the deliveries held now, and the token prefixes of the consumers that may hold more. */
  feed(leases: readonly KeptLease[], owners: readonly string[]): void {
    if (!this.#closed) this.thread.post({ type: 'held', session: this.session, leases, owners });
  }

  /** The token prefixes of the consumers now (a consumer started): the keeper finds their deliveries if the loop blocks. */
  owners(owners: readonly string[]): void {
    if (!this.#closed) this.thread.post({ type: 'owners', session: this.session, owners });
  }

  /**
   * A delivery whose deadline changed (replacing it by tag): the keeper knows it if the loop
   * blocks before the next feed. Renews nothing by itself.
   */
  add(leases: readonly KeptLease[]): void {
    if (!this.#closed) this.thread.post({ type: 'add', session: this.session, leases });
  }

  /** Ends the session (its connection closes; the thread ends after the last one). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.thread.close(this.session);
  }
}
