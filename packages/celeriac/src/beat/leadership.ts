/**
 * @module beat/leadership
 * Holding beat's lease: acquire when free, renew every third of the ttl, and give up the
 * moment the store says the token lost it. A renewal that fails on the transport keeps the
 * token only until the lease would have expired by our own count; after that this process
 * stops acting as leader even if it cannot reach the store (the fence would refuse it anyway).
 */
import type { Clock } from '../core/clock.js';
import type { BeatStore } from '../core/spi/beat-store.js';

/** What {@link Leadership.check} found. */
export interface LeadershipCheck {
  /** The token when this process leads. */
  readonly token: string | null;
  /** True on the check that won the lease. */
  readonly gained: boolean;
  /** Epoch ms of the next check this process needs (renewal, or another try). */
  readonly nextCheckAt: number;
}

/** The lease side of a Beat. */
export class Leadership {
  #token: string | null = null;
  /** Our own conservative count of the lease's end: when the last grant or renewal was sent + ttl. */
  #validUntil = 0;
  #renewAt = 0;

  constructor(
    private readonly store: BeatStore,
    private readonly clock: Clock,
    private readonly holder: string,
    private readonly ttlMs: number,
  ) {}

  /** The token, while this process believes it leads. */
  get token(): string | null {
    return this.#token !== null && this.clock.now() < this.#validUntil ? this.#token : null;
  }

  /** Acquires or renews as due. Store errors propagate (the caller logs and retries). */
  async check(): Promise<LeadershipCheck> {
    const sentAt = this.clock.now();
    if (this.#token !== null && sentAt >= this.#validUntil) this.#token = null;
    if (this.#token !== null) {
      if (sentAt < this.#renewAt) return { token: this.#token, gained: false, nextCheckAt: this.#renewAt };
      if (await this.store.renew(this.#token, this.ttlMs)) {
        this.#granted(sentAt);
        return { token: this.#token, gained: false, nextCheckAt: this.#renewAt };
      }
      this.#token = null;
    }
    const attempt = await this.store.acquire(this.holder, this.ttlMs);
    if (attempt.token === null) {
      // Try again right when the holder's lease would run out.
      return { token: null, gained: false, nextCheckAt: this.clock.now() + Math.min(attempt.retryInMs + 5, this.ttlMs) };
    }
    this.#token = attempt.token;
    this.#granted(sentAt);
    return { token: this.#token, gained: true, nextCheckAt: this.#renewAt };
  }

  /** Forget the lease (a fenced write was refused: someone else leads now). */
  lost(): void {
    this.#token = null;
  }

  /** Release the lease if held (clean shutdown: another beat takes over at once). */
  async release(): Promise<void> {
    const token = this.#token;
    this.#token = null;
    if (token !== null) await this.store.release(token);
  }

  #granted(sentAt: number): void {
    this.#validUntil = sentAt + this.ttlMs;
    this.#renewAt = sentAt + this.ttlMs / 3;
  }
}
