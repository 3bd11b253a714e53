/**
 * @module brokers/redis/maintenance
 * The background duties of a consuming Redis broker, each on its own timer:
 * - **renew**: every `leaseRenewMs`, extend the leases (and bump the unacked_index scores)
 *   of every delivery this process holds, so a long task is never taken back;
 * - **sweep**: every `sweepIntervalMs` (and at start), restore-stale.lua: expired Celeriac
 *   leases, and Python-held tags older than the visibility timeout;
 * - **promote**: move due ETA messages from the delayed set to their queues, at the known
 *   next due time, or after `promoteIntervalMs` at the latest (another process may have
 *   added an earlier one). Safe with any number of brokers doing it at once;
 * - **presence**: every `leaseRenewMs` (and at start), advertise this broker as a live
 *   promoter, so ETA publishes may wait in the delayed set (delayed.ts).
 * Failures are reported and the timer re-armed: a duty never stops until {@link Maintenance.stop}.
 */
import { randomUUID } from 'node:crypto';
import type { TimerHandle } from '../../core/clock.js';
import type { ResolvedRedisBrokerOptions } from './options.js';
import type { Held, Transitions } from './transitions.js';

/** What maintenance needs from the broker. */
export interface MaintenanceHost {
  readonly options: ResolvedRedisBrokerOptions;
  /** The transitions, once connected. */
  transitions(): Promise<Transitions>;
  /** Deliveries held by this process whose lease should be renewed. */
  held(): readonly Held[];
  /** A renewal found these tags taken back. */
  lost(tags: readonly string[]): void;
  /** Messages became ready (promoted or restored): consumers should fetch. */
  ready(): void;
  /** A duty failed. */
  report(error: unknown): void;
  /** Advertises this broker as a live promoter of due ETA messages. */
  advertise(): Promise<void>;
}

/** Lifecycle of {@link Maintenance}. */
export type MaintenanceState = 'stopped' | 'running';

type Duty = 'renew' | 'sweep' | 'promote' | 'presence';

const PROMOTE_BATCH = 500;
const SWEEP_BATCH = 1000;
const RENEW_BATCH = 500;

/** Timers for lease renewal, the recovery sweep and ETA promotion. */
export class Maintenance {
  #state: MaintenanceState = 'stopped';
  readonly #timers = new Map<Duty, TimerHandle>();

  constructor(private readonly host: MaintenanceHost) {}

  get state(): MaintenanceState {
    return this.#state;
  }

  /** Starts every duty; sweep and promote run at once. Idempotent. */
  start(): void {
    if (this.#state === 'running') return;
    this.#state = 'running';
    const o = this.host.options;
    this.#arm('renew', o.leaseRenewMs);
    this.#arm('sweep', 0);
    this.#arm('promote', 0);
    this.#arm('presence', 0);
  }

  /** Runs the promote duty now (a delayed message was published here). */
  promoteSoon(): void {
    if (this.#state === 'running') this.#arm('promote', 0);
  }

  /** Cancels every timer; a duty in flight finishes but does not re-arm. */
  stop(): void {
    this.#state = 'stopped';
    for (const timer of this.#timers.values()) this.host.options.clock.clearTimer(timer);
    this.#timers.clear();
  }

  #arm(duty: Duty, ms: number): void {
    const clock = this.host.options.clock;
    const old = this.#timers.get(duty);
    if (old !== undefined) clock.clearTimer(old);
    this.#timers.set(duty, clock.setTimer(() => void this.#fire(duty), Math.max(0, ms)));
  }

  async #fire(duty: Duty): Promise<void> {
    this.#timers.delete(duty);
    const o = this.host.options;
    let next: number;
    try {
      next = await this.#run(duty);
    } catch (error) {
      this.host.report(error);
      next = duty === 'sweep' ? o.sweepIntervalMs : duty === 'promote' ? o.promoteIntervalMs : o.leaseRenewMs;
    }
    if (this.#state === 'running' && !this.#timers.has(duty)) this.#arm(duty, next);
  }

  #run(duty: Duty): Promise<number> {
    switch (duty) {
      case 'renew':
        return this.#renew();
      case 'sweep':
        return this.#sweep();
      case 'promote':
        return this.#promote();
      case 'presence':
        return this.host.advertise().then(() => this.host.options.leaseRenewMs);
    }
  }

  async #renew(): Promise<number> {
    const o = this.host.options;
    const t = await this.host.transitions();
    const held = this.host.held();
    for (let i = 0; i < held.length; i += RENEW_BATCH) {
      const lost = await t.renewLeases(held.slice(i, i + RENEW_BATCH), o.clock.now(), o.recoverAfterMs);
      if (lost.length > 0) this.host.lost(lost);
    }
    return o.leaseRenewMs;
  }

  async #sweep(): Promise<number> {
    const o = this.host.options;
    const t = await this.host.transitions();
    const outcome = await t.restoreStale(o.clock.now(), o.visibilityTimeoutMs, randomUUID(), SWEEP_BATCH);
    if (outcome !== undefined && outcome.ours + outcome.theirs > 0) this.host.ready();
    // A full batch means more may be waiting: go again soon.
    const full = outcome !== undefined && Math.max(outcome.ours, outcome.theirs) >= SWEEP_BATCH;
    return full ? 0 : o.sweepIntervalMs;
  }

  async #promote(): Promise<number> {
    const o = this.host.options;
    const t = await this.host.transitions();
    const now = o.clock.now();
    const { moved, nextDue } = await t.promoteDue(now, PROMOTE_BATCH);
    if (moved > 0) this.host.ready();
    if (moved >= PROMOTE_BATCH) return 0;
    return nextDue === undefined ? o.promoteIntervalMs : Math.min(o.promoteIntervalMs, Math.max(0, nextDue - now));
  }
}
