/**
 * @module server/login-limiter
 * Slows password guessing. Every failed login (a wrong basic-auth pair or bearer token)
 * counts against the client address and against the user name it tried, whether or not that
 * user exists (so a lock says nothing about which names are real). After
 * {@link FREE_FAILURES} failures (by default) a key is locked for 1 s, doubling with each further failure up
 * to {@link MAX_LOCK_MS}; while either key is locked every attempt is answered 429 without
 * looking at the password, so a lock cannot be used to test one. A success clears both keys;
 * failures are forgotten after {@link FORGET_MS} without one.
 */
import type { Clock } from 'celeriac/spi';

/** Failures allowed before the first lock. */
export const FREE_FAILURES = 5;
/** Longest lock, ms. */
export const MAX_LOCK_MS = 5 * 60_000;
/** Failures are forgotten after this long without one, ms. */
export const FORGET_MS = 15 * 60_000;
/** Most keys tracked; the oldest are dropped first (a flood of names cannot fill memory). */
const MAX_KEYS = 50_000;

interface Entry {
  failures: number;
  lastAt: number;
  lockedUntil: number;
}

/** One failed or refused login, for the log. */
export interface LoginFailure {
  readonly ip: string;
  readonly user: string | null;
  readonly failures: number;
  /** ms the keys are locked from now (0: not locked). */
  readonly lockedForMs: number;
}

/** Counts failed logins per client and per user name. */
export class LoginLimiter {
  readonly #keys = new Map<string, Entry>();
  /** Failed logins (wrong credentials). */
  failedTotal = 0;
  /** Attempts refused because a key was locked. */
  lockedTotal = 0;

  constructor(
    private readonly clock: Clock,
    /** Failures allowed before the first lock. */
    private readonly freeFailures = FREE_FAILURES,
  ) {}

  /** ms until `ip` and `user` may try again (0: now). */
  lockedFor(ip: string, user: string | null): number {
    const now = this.clock.now();
    let wait = 0;
    for (const key of this.#keysOf(ip, user)) {
      const e = this.#keys.get(key);
      if (e !== undefined) wait = Math.max(wait, e.lockedUntil - now);
    }
    if (wait > 0) this.lockedTotal++;
    return Math.max(0, wait);
  }

  /** Records a failure; returns what to log. */
  fail(ip: string, user: string | null): LoginFailure {
    const now = this.clock.now();
    this.failedTotal++;
    let failures = 0;
    let lock = 0;
    for (const key of this.#keysOf(ip, user)) {
      const old = this.#keys.get(key);
      const e: Entry = old !== undefined && now - old.lastAt < FORGET_MS ? old : { failures: 0, lastAt: now, lockedUntil: 0 };
      e.failures++;
      e.lastAt = now;
      if (e.failures >= this.freeFailures) e.lockedUntil = now + Math.min(MAX_LOCK_MS, 1000 * 2 ** Math.min(30, e.failures - this.freeFailures));
      this.#keys.delete(key);
      this.#keys.set(key, e);
      failures = Math.max(failures, e.failures);
      lock = Math.max(lock, e.lockedUntil - now);
    }
    while (this.#keys.size > MAX_KEYS) this.#keys.delete(this.#keys.keys().next().value as string);
    return { ip, user, failures, lockedForMs: Math.max(0, lock) };
  }

  /** A success: the client and the user start afresh. */
  succeed(ip: string, user: string | null): void {
    for (const key of this.#keysOf(ip, user)) this.#keys.delete(key);
  }

  /** Prometheus lines of the counters. */
  metrics(): string {
    return [
      '# HELP celeriac_dashboard_login_failures_total Failed logins (wrong basic-auth pair or bearer token)',
      '# TYPE celeriac_dashboard_login_failures_total counter',
      `celeriac_dashboard_login_failures_total ${this.failedTotal}`,
      '# HELP celeriac_dashboard_login_locked_total Login attempts refused while the client or user was locked',
      '# TYPE celeriac_dashboard_login_locked_total counter',
      `celeriac_dashboard_login_locked_total ${this.lockedTotal}`,
      '',
    ].join('\n');
  }

  #keysOf(ip: string, user: string | null): string[] {
    return user === null ? [`ip\0${ip}`] : [`ip\0${ip}`, `user\0${user}`];
  }
}
