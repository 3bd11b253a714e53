/**
 * @module redis/reply-watchdog
 * One health check per connection instead of one timer per command.
 *
 * A connection is alive while replies come back. Redis answers in order on a connection,
 * so "commands are outstanding and no reply came for `timeoutMs`" means the oldest command
 * waited that long: the connection is stalled (a frozen server, a half-dead TCP peer that
 * never sends RST). Then every outstanding command is failed at once and the owner is told,
 * so it can replace the connection; nothing waits forever, and a worker is never left idle
 * on a dead socket.
 *
 * The hot path costs a Set add and delete per command: no timer, no AbortSignal, no clock
 * read. A single interval samples "did any reply arrive since the last sample?"; a stall is
 * declared after enough silent samples to cover `timeoutMs` (so it fires between
 * `timeoutMs` and `timeoutMs` plus one sample period after the last reply).
 */
import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import { LinkedSet } from '../core/linked-set.js';

interface Outstanding {
  reject(error: Error): void;
}

/** Options of {@link ReplyWatchdog}. */
export interface ReplyWatchdogOptions {
  /** Longest silence, with commands outstanding, before the connection counts as stalled. */
  timeoutMs: number;
  /** Called after the outstanding commands were failed (replace the connection here). */
  onStall(): void;
  /**
   * While `active()` (the client is reconnecting), commands wait at most `timeoutMs` instead:
   * a command queued just before the socket died sits in node-redis's offline queue with no
   * timer of its own. Such a stall fails the commands but does not call `onStall`: the
   * client is already reconnecting.
   */
  offline?: { readonly timeoutMs: number; active(): boolean };
  /**
   * Timer source. Real time by default: this measures I/O, so a fake clock moved by a test
   * (to expire leases, say) must not make a healthy connection look stalled.
   * @default systemClock
   */
  clock?: Clock;
}

/** Watches replies of one connection; see the module header. */
export class ReplyWatchdog {
  readonly #timeoutMs: number;
  readonly #onStall: () => void;
  readonly #clock: Clock;
  readonly #periodMs: number;
  /** Silent samples (commands outstanding, no reply since the previous one) that make a stall. */
  readonly #limit: number;
  readonly #offline: { readonly limit: number; readonly timeoutMs: number; active(): boolean } | undefined;
  /** A linked set, not a Set: each entry holds its command's promise (see core/linked-set.ts). */
  readonly #outstanding = new LinkedSet<Outstanding>();
  #replied = false;
  #silent = 0;
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(options: ReplyWatchdogOptions) {
    this.#timeoutMs = options.timeoutMs;
    this.#onStall = options.onStall;
    this.#clock = options.clock ?? systemClock;
    const shortest = Math.min(this.#timeoutMs, options.offline?.timeoutMs ?? Number.POSITIVE_INFINITY);
    this.#periodMs = Math.max(5, Math.min(1000, Math.floor(shortest / 4)));
    this.#limit = Math.ceil(this.#timeoutMs / this.#periodMs) + 1;
    const offline = options.offline;
    this.#offline = offline === undefined ? undefined : { limit: Math.ceil(offline.timeoutMs / this.#periodMs) + 1, timeoutMs: offline.timeoutMs, active: () => offline.active() };
  }

  /** Commands waiting for a reply. */
  get outstanding(): number {
    return this.#outstanding.size;
  }

  /** Resolves or rejects as `command` does, or rejects when the connection stalls first. */
  watch<T>(command: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry = this.#outstanding.add({ reject });
      if (this.#timer === undefined && !this.#stopped) this.#arm();
      command.then(
        (value) => {
          this.#replied = true;
          this.#outstanding.delete(entry);
          resolve(value);
        },
        (error: unknown) => {
          this.#replied = true;
          this.#outstanding.delete(entry);
          reject(error);
        },
      );
    });
  }

  /** Stops sampling (on close); commands still outstanding settle as their command does. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    this.#timer = this.#clock.setTimer(() => this.#sample(), this.#periodMs);
  }

  #sample(): void {
    this.#timer = undefined;
    if (this.#outstanding.size === 0) {
      // Idle: stop sampling until the next command, so an idle client costs nothing.
      this.#silent = 0;
      this.#replied = false;
      return;
    }
    this.#silent = this.#replied ? 0 : this.#silent + 1;
    this.#replied = false;
    const offline = this.#offline !== undefined && this.#offline.active() ? this.#offline : undefined;
    if (offline !== undefined && this.#silent >= offline.limit) this.#stall(`no reply within ${offline.timeoutMs} ms (reconnecting)`, false);
    else if (this.#silent >= this.#limit) this.#stall(`no reply within ${this.#timeoutMs} ms`, true);
    if (!this.#stopped) this.#arm();
  }

  #stall(message: string, report: boolean): void {
    this.#silent = 0;
    const error = new Error(message);
    const failed = this.#outstanding.values();
    this.#outstanding.clear();
    for (const entry of failed) entry.reject(error);
    if (report) this.#onStall();
  }
}
