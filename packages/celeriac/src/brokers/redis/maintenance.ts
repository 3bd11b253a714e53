/**
 * @module brokers/redis/maintenance
 * The background duties of a consuming Redis broker, each on its own timer:
 * - **renew**: every `leaseRenewMs`, extend the leases (and bump the unacked_index scores)
 *   of every delivery this process holds, so a long task is never taken back;
 * - **sweep**: every `sweepIntervalMs` (and at start), restore-stale.lua: expired Celeriac
 *   leases, and Python-held tags older than the visibility timeout;
 * - **promote**: move due ETA messages from the delayed set to their queues. The fleet shares
 *   it: each broker looks every `promoteIntervalMs` times the number of live promoters (jittered
 *   by half either way), so the fleet looks about once per `promoteIntervalMs` whatever its
 *   size, for ETA messages another process added; and the one broker holding the claim on the
 *   next known due time (promote-due.lua) waits for that exact time. Safe with any number of
 *   brokers doing it at once;
 * - **presence**: every `leaseRenewMs` (and at start), advertise this broker as a live
 *   promoter, so ETA publishes may wait in the delayed set (delayed.ts); {@link
 *   Maintenance.withdraw} takes that back on close;
 * - **lost tasks**: with each sweep, early-acked tasks whose broker's presence lapsed for
 *   `lostTaskGraceSec` are handed to a consumer's `onLost` (running.ts).
 * Failures are reported to the consumers and the timer re-armed: a duty never stops until
 * {@link Maintenance.stop}.
 */
import { randomUUID } from 'node:crypto';
import type { TimerHandle } from '../../core/clock.js';
import type { ConsumerGroup } from './consumer-group.js';
import { presenceTtlMs, type DelayedSet } from './delayed.js';
import type { ResolvedRedisBrokerOptions } from './options.js';
import { bookKeys } from './lease-scripts.js';
import { BELL_SLACK_MS } from './bell.js';
import type { Transitions } from './transitions.js';
import type { BrokerKeys } from '../../redis/keys.js';
import type { RedisTarget } from '../../redis/url.js';
import { LeaseKeeper, type KeptLease } from './lease-keeper.js';
import type { RedisDelivery } from './redis-delivery.js';
import type { RunningRecords } from './running.js';

/** The broker's services maintenance works with. */
export interface MaintenanceDeps {
  readonly options: ResolvedRedisBrokerOptions;
  readonly transitions: Transitions;
  readonly delayed: DelayedSet;
  /** The broker's id in the promoter set. */
  readonly id: string;
  /** Whose leases are renewed, who is woken and told of failures. */
  readonly consumers: ConsumerGroup;
  /** The broker's Redis and key names, for the lease keeper thread's own connection. */
  readonly target: RedisTarget;
  readonly keys: BrokerKeys;
  /** Early-acked running tasks (running.ts): the sweep reports those whose broker died. */
  readonly running?: Pick<RunningRecords, 'takeLost'>;
}

/** A held delivery as the lease keeper renews it. */
const kept = (d: RedisDelivery): KeptLease => ({ tag: d.tag, token: d.token, until: d.leaseUntil });

/** Lifecycle of {@link Maintenance}. */
export type MaintenanceState = 'stopped' | 'running';

type Duty = 'renew' | 'sweep' | 'promote' | 'presence';

const PROMOTE_BATCH = 500;
const SWEEP_BATCH = 1000;
/** The next sweep after one whose lost-task walk stopped mid-pass (take-lost-tasks.lua). */
const WALK_AGAIN_MS = 100;
const RENEW_BATCH = 500;

/** Timers for lease renewal, the recovery sweep and ETA promotion. */
export class Maintenance {
  #state: MaintenanceState = 'stopped';
  readonly #timers = new Map<Duty, TimerHandle>();
  /** Whether this broker advertised itself as a promoter (and must withdraw on close). */
  #advertised = false;
  /** The thread that renews leases while the event loop is blocked (options.leaseRenewal 'thread'). */
  #keeper: LeaseKeeper | null = null;

  constructor(private readonly deps: MaintenanceDeps) {}

  get state(): MaintenanceState {
    return this.#state;
  }

  /** Where leases are renewed now: the keeper thread once it runs, else the event loop. */
  get leaseRenewer(): 'thread' | 'event-loop' {
    return this.#keeper?.usable === true ? 'thread' : 'event-loop';
  }

  /** Starts every duty; sweep and promote run at once. Idempotent. */
  start(): void {
    if (this.#state === 'running') return;
    this.#state = 'running';
    const o = this.deps.options;
    // A Sentinel-managed Redis is renewed on the event loop (the keeper's connection is plain).
    if (o.leaseRenewal === 'thread' && this.deps.target.sentinel === undefined) {
      const consumers = this.deps.consumers;
      this.#keeper = LeaseKeeper.start(
        {
          target: this.deps.target,
          keys: bookKeys(this.deps.keys),
          recoverAfterMs: o.recoverAfterMs,
          leaseRenewMs: o.leaseRenewMs,
          commandTimeoutMs: o.commandTimeoutMs,
          // A blocked fetch runs by its poll (the quiet one at most) and slack; the margin is for Redis's own queue.
          fetchSettleMs: o.quietPollIntervalMs + 2 * BELL_SLACK_MS + Math.min(1000, o.leaseRenewMs / 2),
          presence: { key: this.deps.keys.promoters, member: this.deps.id, ttlMs: presenceTtlMs(o) },
        },
        { lost: (tags) => consumers.markLost(tags), log: o.log },
      );
    }
    this.#arm('renew', o.leaseRenewMs);
    this.#arm('sweep', 0);
    this.#arm('promote', 0);
    this.#arm('presence', 0);
  }

  /** A consumer started: the keeper learns its token prefix now, so a loop blocked from its first fetch keeps what it fetched. */
  consumersChanged(): void {
    // Not only once usable: a thread still starting reads it when it is.
    this.#keeper?.owners(this.deps.consumers.tokenPrefixes());
  }

  /**
   * A delivery's task got a hard-limit deadline: the keeper learns it now. Not only once usable:
   * a thread still starting reads it when it runs, so that a loop blocked from then on does not
   * have the delivery renewed past its deadline.
   */
  leaseLimited(delivery: RedisDelivery): void {
    const keeper = this.#keeper;
    if (keeper !== null && delivery.state === 'held') keeper.add([kept(delivery)]);
  }

  /** Runs the promote duty now (a delayed message was published here). */
  promoteSoon(): void {
    if (this.#state === 'running') this.#arm('promote', 0);
  }

  /** Cancels every timer; a duty in flight finishes but does not re-arm. */
  stop(): void {
    this.#state = 'stopped';
    for (const timer of this.#timers.values()) this.deps.options.clock.clearTimer(timer);
    this.#timers.clear();
    this.#keeper?.close();
    this.#keeper = null;
  }

  /** Duties whose last run failed. */
  readonly #failing = new Set<Duty>();

  #arm(duty: Duty, ms: number): void {
    const clock = this.deps.options.clock;
    const old = this.#timers.get(duty);
    if (old !== undefined) clock.clearTimer(old);
    this.#timers.set(duty, clock.setTimer(() => void this.#fire(duty), Math.max(0, ms)));
  }

  async #fire(duty: Duty): Promise<void> {
    this.#timers.delete(duty);
    const o = this.deps.options;
    let next: number;
    try {
      // The duty starts once the timer callback has returned: a FakeClock fires timers
      // inside advance(), and a duty must read the time the whole advance reached (tests
      // move a worker's clock past an ETA in one step and expect it promoted).
      await undefined;
      next = await this.#run(duty);
      // The last failing duty works again: the consumers' onRecovered hear it.
      if (this.#failing.delete(duty) && this.#failing.size === 0) this.deps.consumers.recovered();
    } catch (error) {
      // Stopped while it ran: the broker's close cut it short (its connection destroyed), no news.
      if (this.#state !== 'running') return;
      this.#failing.add(duty);
      this.deps.consumers.report(error);
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
        return this.#advertise();
    }
  }

  /**
   * On close (after {@link Maintenance.stop}): withdraws this broker as a promoter, handing
   * the delayed messages back to their queues if it was the last (delayed.ts). Never throws.
   */
  async withdraw(): Promise<void> {
    if (this.#advertised) await this.deps.delayed.withdraw(this.deps.id, this.deps.options);
  }

  async #advertise(): Promise<number> {
    const o = this.deps.options;
    if (this.#state === 'running') {
      this.#advertised = true;
      await this.deps.delayed.advertise(this.deps.id, o);
    }
    return o.leaseRenewMs;
  }

  async #renew(): Promise<number> {
    const o = this.deps.options;
    const t = this.deps.transitions;
    const held = this.deps.consumers.held();
    const keeper = this.#keeper;
    if (keeper !== null && keeper.usable) {
      // The keeper renews them, now and while this loop is blocked: this is its liveness tick.
      keeper.feed(held.map(kept), this.deps.consumers.tokenPrefixes());
      return o.leaseRenewMs;
    }
    for (let i = 0; i < held.length; i += RENEW_BATCH) {
      const lost = await t.renewLeases(held.slice(i, i + RENEW_BATCH), o.clock.now(), o.recoverAfterMs);
      if (lost.length > 0) this.deps.consumers.markLost(lost);
    }
    return o.leaseRenewMs;
  }

  async #sweep(): Promise<number> {
    const o = this.deps.options;
    const t = this.deps.transitions;
    const outcome = await t.restoreStale(o.clock.now(), o.visibilityTimeoutMs, randomUUID(), SWEEP_BATCH);
    if (outcome !== undefined && outcome.ours + outcome.theirs > 0) this.deps.consumers.wakeAll();
    const walking = await this.#reportLost();
    // A full batch means more may be waiting: go again soon. So does a walk over the running
    // records that stopped mid-pass: a few workers with many records would take many sweep
    // periods over one pass, and a lost task that long to be reported.
    const full = outcome !== undefined && Math.max(outcome.ours, outcome.theirs) >= SWEEP_BATCH;
    return full ? 0 : walking ? Math.min(WALK_AGAIN_MS, o.sweepIntervalMs) : o.sweepIntervalMs;
  }

  /** Hands early-acked tasks of dead brokers (redis/lost-tasks.ts) to a consumer that reports them; true while the walk's pass goes on. */
  async #reportLost(): Promise<boolean> {
    const { running, consumers, options: o } = this.deps;
    if (running === undefined || o.lostTaskGraceMs === 0 || !consumers.hearsLost()) return false;
    const { lost, more } = await running.takeLost(o.clock.now(), o.lostTaskGraceMs, o.sweepIntervalMs);
    if (lost.length > 0) consumers.reportLost(lost);
    return more;
  }

  async #promote(): Promise<number> {
    const o = this.deps.options;
    const t = this.deps.transitions;
    const now = o.clock.now();
    const { moved, nextDue, claimed, promoters } = await t.promoteDue(now, PROMOTE_BATCH, { id: this.deps.id, slackMs: o.promoteIntervalMs });
    if (moved > 0) this.deps.consumers.wakeAll();
    if (moved >= PROMOTE_BATCH) return 0;
    // Each of a thousand idle workers looked five times a second, and every one that knew the
    // next due time called at it: with ETA messages due every few ms, the whole fleet did.
    const look = o.promoteIntervalMs * Math.max(1, promoters) * (0.5 + Math.random());
    return nextDue === undefined || !claimed ? look : Math.min(look, Math.max(0, nextDue - now));
  }
}
