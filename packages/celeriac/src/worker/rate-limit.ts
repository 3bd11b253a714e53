/**
 * @module worker/rate-limit
 * Rate limits. Per worker, as Celery's `rate_limit`: a token bucket per task name (capacity 1,
 * as Celery's, so runs are evenly spaced). Across the cluster (`clusterRateLimit`, Celeriac
 * only): a reservation in the result backend spaces runs of a task across every worker.
 * A message over a limit waits here, holding neither a pool slot nor other tasks' deliveries.
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import { parseRate, type RateLimit } from '../core/rate.js';
import type { ResultBackend } from '../core/spi/backend.js';
import type { AnyTask } from '../core/task.js';
import { CeleriacError, ErrorCodes } from '../errors.js';

/**
 * Fails when a task has `clusterRateLimit` and the backend cannot enforce it (a worker
 * refuses to start rather than run such a task unlimited).
 * @throws CeleriacError CONFIG
 */
export function assertClusterLimitsSupported(tasks: Iterable<AnyTask>, backend: ResultBackend): void {
  if (backend.acquireRateToken !== undefined) return;
  for (const task of tasks) {
    if (task.options.clusterRateLimit !== undefined && parseRate(task.options.clusterRateLimit) > 0) {
      throw new CeleriacError(ErrorCodes.CONFIG, `task ${task.name} has clusterRateLimit but the ${backend.kind} result backend cannot enforce it`);
    }
  }
}

/** A token bucket refilled at `ratePerSec`, holding at most `capacity` tokens. Pure: time is passed in. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly ratePerSec: number,
    readonly capacity: number,
    now: number,
  ) {
    if (!(ratePerSec > 0) || !(capacity >= 1)) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, 'TokenBucket needs a rate > 0 and a capacity >= 1');
    this.tokens = capacity;
    this.last = now;
  }

  private refill(now: number): void {
    if (now > this.last) this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.ratePerSec);
    this.last = Math.max(this.last, now);
  }

  /** Takes a token if one is there. */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until a token is there (0 = now). */
  waitMs(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : Math.max(1, Math.ceil(((1 - this.tokens) / this.ratePerSec) * 1000));
  }
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

interface Lane {
  bucket: TokenBucket | null;
  readonly waiters: Waiter[];
  timer: TimerHandle | null;
}

/** What {@link RateLimits} needs from its worker. */
export interface RateLimitsHost {
  readonly clock: Clock;
  readonly backend: ResultBackend;
  /** `taskDefaultRateLimit`: the per-worker limit of tasks that set none. */
  readonly defaultLimit: RateLimit | null;
}

/** The rate limits of one worker. */
export class RateLimits {
  private readonly lanes = new Map<string, Lane>();
  /** Limits set at run time (`setRateLimit`, Celery's `rate_limit` control command). */
  private readonly overrides = new Map<string, number>();
  private readonly sleepers = new Set<{ timer: TimerHandle; waiter: Waiter }>();

  constructor(private readonly host: RateLimitsHost) {}

  /**
   * Sets the per-worker limit of a task from now on (null = back to its own option); returns
   * the tasks per second now in force (0 = none). Waiting messages follow the new limit.
   */
  set(task: AnyTask, limit: RateLimit | null): number {
    if (limit === null) this.overrides.delete(task.name);
    else this.overrides.set(task.name, parseRate(limit));
    const lane = this.lanes.get(task.name);
    const rate = this.rateOf(task);
    if (lane !== undefined) {
      lane.bucket = rate > 0 ? new TokenBucket(rate, 1, this.host.clock.now()) : null;
      this.pump(lane);
    }
    return rate;
  }

  /** Tasks per second allowed per worker for `task` (0 = no limit). */
  rateOf(task: AnyTask): number {
    const override = this.overrides.get(task.name);
    if (override !== undefined) return override;
    const own = task.options.rateLimit;
    const limit = own === undefined ? this.host.defaultLimit : own;
    return limit === null ? 0 : parseRate(limit);
  }

  /**
   * Null when `task` may start now; otherwise resolves when it may under both limits, and
   * rejects with STATE when {@link RateLimits.cancelWaiters} is called first (shutdown).
   */
  acquire(task: AnyTask): Promise<void> | null {
    const local = this.acquireLocal(task);
    if (local === null && task.options.clusterRateLimit === undefined) return null;
    return this.acquireBoth(task, local);
  }

  private async acquireBoth(task: AnyTask, local: Promise<void> | null): Promise<void> {
    if (local !== null) await local;
    const cluster = task.options.clusterRateLimit;
    if (cluster === undefined) return;
    const rate = parseRate(cluster);
    if (rate <= 0) return;
    const { backend } = this.host;
    if (backend.acquireRateToken === undefined) {
      throw new CeleriacError(ErrorCodes.CONFIG, `task ${task.name} has clusterRateLimit but the ${backend.kind} result backend cannot enforce it`);
    }
    const wait = await backend.acquireRateToken(task.name, 1000 / rate);
    if (wait > 0) await this.sleep(wait);
  }

  /** Null when a local token is free now (or there is no local limit). */
  private acquireLocal(task: AnyTask): Promise<void> | null {
    let lane = this.lanes.get(task.name);
    if (lane === undefined) {
      // One lane per task name, made on first sight, even unlimited: later calls are a lookup.
      const rate = this.rateOf(task);
      lane = { bucket: rate > 0 ? new TokenBucket(rate, 1, this.host.clock.now()) : null, waiters: [], timer: null };
      this.lanes.set(task.name, lane);
    }
    if (lane.bucket === null) return null;
    if (lane.waiters.length === 0 && lane.bucket.take(this.host.clock.now())) return null;
    const l = lane;
    return new Promise<void>((resolve, reject) => {
      l.waiters.push({ resolve, reject });
      this.pump(l);
    });
  }

  /** Lets waiters through while tokens last, then sleeps until the next token. */
  private pump(lane: Lane): void {
    const { clock } = this.host;
    if (lane.timer !== null) clock.clearTimer(lane.timer);
    lane.timer = null;
    while (lane.waiters.length > 0 && (lane.bucket === null || lane.bucket.take(clock.now()))) lane.waiters.shift()?.resolve();
    if (lane.waiters.length === 0 || lane.bucket === null) return;
    lane.timer = clock.setTimer(() => this.pump(lane), lane.bucket.waitMs(clock.now()));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const entry = {
        timer: this.host.clock.setTimer(() => {
          this.sleepers.delete(entry);
          resolve();
        }, ms),
        waiter: { resolve, reject },
      };
      this.sleepers.add(entry);
    });
  }

  /** Messages waiting for a limit now. */
  get waiting(): number {
    let n = this.sleepers.size;
    for (const lane of this.lanes.values()) n += lane.waiters.length;
    return n;
  }

  /** Rejects every waiting message (on shutdown): they never started and go back to their queue. */
  cancelWaiters(): void {
    const err = new CeleriacError(ErrorCodes.STATE, 'worker is closing');
    for (const lane of this.lanes.values()) {
      if (lane.timer !== null) this.host.clock.clearTimer(lane.timer);
      lane.timer = null;
      for (const w of lane.waiters.splice(0)) w.reject(err);
    }
    for (const s of this.sleepers) {
      this.host.clock.clearTimer(s.timer);
      s.waiter.reject(err);
    }
    this.sleepers.clear();
  }
}
