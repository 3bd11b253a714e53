/**
 * @module brokers/redis/wakeup
 * How a consumer's fetch loop waits: until told something changed, or until its poll timer
 * (on the broker's injected clock) runs out.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';

/** How a wait of the fetch loop ended: told something changed, its timer ran out, or what it waited beside settled. */
export type WaitEnd = 'notified' | 'timeout' | 'done';

/** Resolves a waiting fetch loop early; remembers a wake-up that came while not waiting. */
export class Wakeup {
  #pending = false;
  #release: ((end: WaitEnd) => void) | undefined;

  notify(): void {
    this.#pending = true;
    this.#release?.('notified');
  }

  /** Forgets wake-ups older than the fetch about to start. */
  clear(): void {
    this.#pending = false;
  }

  /**
   * Waits `ms` whatever notifications come (a backoff after a failure: a publish during an
   * outage must not bring the next failure at once), but no longer once `open()` turns false.
   */
  async pause(clock: Clock, ms: number, open: () => boolean): Promise<void> {
    const until = clock.now() + ms;
    while (open() && clock.now() < until) await this.wait(clock, until - clock.now());
  }

  /** {@link Wakeup.wait}, ended also ('done') when `beside` settles (a blocked fetch: bell.ts). */
  waitBeside(clock: Clock, ms: number, beside: Promise<unknown>): Promise<WaitEnd> {
    const end = this.wait(clock, ms);
    const release = this.#release;
    const done = (): void => {
      if (release !== undefined && this.#release === release) release('done');
    };
    beside.then(done, done);
    return end;
  }

  wait(clock: Clock, ms: number | undefined): Promise<WaitEnd> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve('notified');
    }
    return new Promise((resolve) => {
      let timer: TimerHandle | undefined;
      this.#release = (end) => {
        if (timer !== undefined) clock.clearTimer(timer);
        this.#release = undefined;
        this.#pending = false;
        resolve(end);
      };
      if (ms !== undefined) timer = clock.setTimer(() => this.#release?.('timeout'), ms);
    });
  }
}

/** Resolves in the next turn of the event loop, after I/O callbacks and writes queued now. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
