/**
 * @module worker/autoscaler
 * Pool autoscaling (`--autoscale max,min`), as Celery's autoscaler does it: once a second,
 * grow the pool at once to the number of tasks the worker holds (reserved and running), up
 * to `max`; shrink it toward that number, down to `min`, only once `keepaliveMs` passed since
 * it last grew, so a burst does not make it flap. The decision is pure
 * ({@link autoscaleTarget}); the {@link Autoscaler} applies it on the worker's clock.
 */
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.js';
import { CeleriacError, ErrorCodes } from '../errors.js';

/** The bounds of the pool size. */
export interface AutoscaleRange {
  readonly max: number;
  readonly min: number;
}

/** Celery's AUTOSCALE_KEEPALIVE: no shrinking until this long after the last growth. */
export const AUTOSCALE_KEEPALIVE_MS = 30_000;

/** How often the autoscaler looks (Celery's autoscaler thread sleeps one second). */
export const AUTOSCALE_INTERVAL_MS = 1_000;

/** What one look sees. */
export interface AutoscaleInput {
  /** Pool slots now. */
  readonly procs: number;
  /** Tasks held by the worker (reserved and running). */
  readonly qty: number;
  readonly range: AutoscaleRange;
  /** Epoch ms of the last growth; null if it never grew. */
  readonly lastGrowthAt: number | null;
  readonly now: number;
  readonly keepaliveMs: number;
}

/** The pool size to move to, or null to stay. Never below 1 slot: a pool of 0 runs nothing. */
export function autoscaleTarget(input: AutoscaleInput): number | null {
  const { procs, qty, range, lastGrowthAt, now, keepaliveMs } = input;
  const up = Math.min(qty, range.max);
  if (up > procs) return up;
  const down = Math.max(qty, range.min, 1);
  if (down < procs && lastGrowthAt !== null && now - lastGrowthAt > keepaliveMs) return down;
  return null;
}

/** The worker parts the autoscaler reads and drives. */
export interface AutoscalerHost {
  /** Pool slots now. */
  size(): number;
  /** Tasks held by the worker (reserved and running). */
  held(): number;
  /** Resizes the pool. */
  resize(size: number): void;
  /** The prefetch window follows `max` (Celery: `max_concurrency x multiplier`). */
  setPrefetchSlots(slots: number): void;
  readonly clock: Clock;
  readonly log: Logger;
}

/** Lifecycle: `idle` until started, `running`, `stopped`. */
export type AutoscalerState = 'idle' | 'running' | 'stopped';

/** Resizes a worker's pool with its load. */
export class Autoscaler {
  #state: AutoscalerState = 'idle';
  #range: AutoscaleRange;
  #lastGrowthAt: number | null = null;
  #timer: TimerHandle | null = null;

  constructor(
    private readonly host: AutoscalerHost,
    range: AutoscaleRange,
    private readonly keepaliveMs = AUTOSCALE_KEEPALIVE_MS,
  ) {
    this.#range = checkRange(range);
  }

  get state(): AutoscalerState {
    return this.#state;
  }

  /** The bounds in force. */
  get range(): AutoscaleRange {
    return this.#range;
  }

  /** Starts looking once a second. */
  start(): void {
    if (this.#state !== 'idle') return;
    this.#state = 'running';
    this.#arm();
  }

  stop(): void {
    this.#state = 'stopped';
    if (this.#timer !== null) this.host.clock.clearTimer(this.#timer);
    this.#timer = null;
  }

  /**
   * New bounds (the `autoscale` control command): a pool above the new max shrinks to it at
   * once, one below the new min grows to it; the prefetch window follows the max.
   */
  update(range: AutoscaleRange): AutoscaleRange {
    this.#range = checkRange(range);
    const size = this.host.size();
    if (size > this.#range.max) this.#resize(this.#range.max, 'down');
    else if (size < this.#range.min) this.#resize(this.#range.min, 'up');
    this.host.setPrefetchSlots(this.#range.max);
    return this.#range;
  }

  /** One look: grow or shrink when the load says so. */
  step(): void {
    const procs = this.host.size();
    const target = autoscaleTarget({ procs, qty: this.host.held(), range: this.#range, lastGrowthAt: this.#lastGrowthAt, now: this.host.clock.now(), keepaliveMs: this.keepaliveMs });
    if (target !== null) this.#resize(target, target > procs ? 'up' : 'down');
  }

  #resize(size: number, way: 'up' | 'down'): void {
    const procs = this.host.size();
    if (way === 'up') this.#lastGrowthAt = this.host.clock.now();
    this.host.log.info(`Scaling ${way} ${Math.abs(size - procs)} processes.`);
    this.host.resize(Math.max(1, size));
  }

  #arm(): void {
    this.#timer = this.host.clock.setTimer(() => {
      this.#timer = null;
      if (this.#state !== 'running') return;
      try {
        this.step();
      } catch (err) {
        this.host.log.error({ err }, 'autoscaler: could not resize the pool');
      }
      this.#arm();
    }, AUTOSCALE_INTERVAL_MS);
  }
}

function checkRange(range: AutoscaleRange): AutoscaleRange {
  const { max, min } = range;
  if (!Number.isInteger(max) || !Number.isInteger(min) || max < 1 || min < 0 || min > max) {
    throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `autoscale needs integers max >= 1 and 0 <= min <= max, got max=${String(max)} min=${String(min)}`);
  }
  return Object.freeze({ max, min });
}
