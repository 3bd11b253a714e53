/**
 * @module testing/fake-clock
 * A manual {@link Clock} for tests: time only moves when the test says so, and timers fire
 * synchronously, in due-time order, while it moves. ETA, expiry, backoff and schedule
 * logic is tested with it instead of sleeps.
 */
import type { Clock, TimerHandle } from '../core/clock.js';

interface FakeTimer {
  readonly due: number;
  /** Creation order: timers due at the same instant fire in the order they were set. */
  readonly seq: number;
  readonly fn: () => void;
}

/**
 * A {@link Clock} whose time is moved by hand.
 *
 * ```ts
 * const clock = new FakeClock();
 * clock.setTimer(() => console.log('fired'), 1000);
 * clock.advance(999);  // nothing
 * clock.advance(1);    // "fired"
 * ```
 *
 * Timer callbacks run synchronously inside {@link FakeClock.advance} / {@link FakeClock.set};
 * work they schedule on promises or microtasks runs only after the test awaits.
 */
export class FakeClock implements Clock {
  /** The default start time: 2026-01-01T00:00:00.000Z. */
  static readonly DEFAULT_START = Date.UTC(2026, 0, 1);

  #now: number;
  #seq = 0;
  readonly #timers = new Map<object, FakeTimer>();

  /**
   * @param startMs Initial epoch milliseconds. @default FakeClock.DEFAULT_START
   */
  constructor(startMs: number = FakeClock.DEFAULT_START) {
    this.#now = startMs;
  }

  /** The current fake time, epoch milliseconds. */
  now(): number {
    return this.#now;
  }

  /** Schedules `fn` at `now() + ms` (negative and NaN delays count as 0; `Infinity` never fires). */
  setTimer(fn: () => void, ms: number): TimerHandle {
    const handle = {};
    const delay = Number.isNaN(ms) ? 0 : Math.max(0, ms);
    this.#timers.set(handle, { due: this.#now + delay, seq: this.#seq++, fn });
    return handle;
  }

  /** Cancels a timer; unknown or already fired handles are ignored. */
  clearTimer(handle: TimerHandle): void {
    this.#timers.delete(handle);
  }

  /** How many timers are pending. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /**
   * Moves time forward by `ms`, firing every timer due on the way in time order. During
   * each callback `now()` reads that timer's due time; timers set by a callback fire too
   * if they fall due before the target.
   */
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new RangeError(`FakeClock.advance: ms must be a finite number >= 0, got ${ms}`);
    }
    this.#runUntil(this.#now + ms);
  }

  /**
   * Sets the time to `epochMs`. Moving forward fires due timers as {@link FakeClock.advance}
   * does; moving backward only changes `now()` (pending timers keep their absolute due time).
   */
  set(epochMs: number): void {
    if (!Number.isFinite(epochMs)) {
      throw new RangeError(`FakeClock.set: epochMs must be finite, got ${epochMs}`);
    }
    if (epochMs >= this.#now) this.#runUntil(epochMs);
    else this.#now = epochMs;
  }

  #runUntil(target: number): void {
    for (;;) {
      const next = this.#nextDue(target);
      if (next === undefined) break;
      this.#timers.delete(next[0]);
      this.#now = Math.max(this.#now, next[1].due);
      next[1].fn();
    }
    this.#now = target;
  }

  #nextDue(target: number): [object, FakeTimer] | undefined {
    let best: [object, FakeTimer] | undefined;
    for (const entry of this.#timers) {
      const t = entry[1];
      if (t.due > target) continue;
      if (!best || t.due < best[1].due || (t.due === best[1].due && t.seq < best[1].seq)) best = entry;
    }
    return best;
  }
}
