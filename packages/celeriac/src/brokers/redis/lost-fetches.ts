/**
 * @module brokers/redis/lost-fetches
 * The fetches of a consumer that failed after they may have run in Redis: their reply was lost
 * with its connection. The commonest is a blocked fetch (bell.ts) on a network path that died
 * silently: a publish ends its BRPOP in Redis, the fetch takes the message under a lease, and
 * the reply never arrives. Such messages waited for their lease to run out (`recoverAfterSec`,
 * 60 s by default) and the recovery sweep (test/failure/network-blackhole.test.ts).
 *
 * The consumer notes each failed fetch here (its token prefix and the lease expiry it wrote
 * are enough to find its messages: scripts/reclaim.lua) and, once a fetch works again or as it
 * closes, gives back what they took to the front of their queues. A failed fetch's reply is never read, so
 * nothing given back was handed to a task. Nothing is added to a fetch that works.
 */
import type { TransportLog } from '../../core/transport-table.js';
import { coerceError } from '../../errors.js';

/** One failed fetch: what reclaim.lua needs to find the messages it took. */
export interface LostFetch {
  /** Its bucket keys (step-major) and queues, as fetch.lua got them. */
  readonly buckets: readonly string[];
  readonly queues: readonly string[];
  /** The lease expiry it wrote, epoch ms on the broker's clock. */
  readonly expiresAt: number;
  /** Its token prefix. */
  readonly prefix: string;
}

/** Most failed fetches remembered: in a long outage, the latest (older ones come back by their lease). */
export const MOST_LOST_FETCHES = 32;

/** A consumer's failed fetches, until their messages are given back or their lease runs out. */
export class LostFetches {
  #lost: LostFetch[] = [];
  #reclaiming = false;

  constructor(
    /** Gives back what one fetch took (reclaim.lua); resolves to how many messages. */
    private readonly reclaimOne: (fetch: LostFetch) => Promise<number>,
    private readonly now: () => number,
    private readonly log?: TransportLog,
  ) {}

  /** Failed fetches not reclaimed yet. */
  get size(): number {
    return this.#lost.length;
  }

  /** A fetch failed: what it may have taken is given back at the next {@link reclaim}. */
  note(fetch: LostFetch): void {
    this.#lost.push(fetch);
    if (this.#lost.length > MOST_LOST_FETCHES) this.#lost.shift();
  }

  /**
   * Gives back what the noted fetches took, one script call each, once a fetch has worked
   * again. Those whose lease ran out are dropped (the recovery sweep restores their messages);
   * one whose call fails stays for the next time. Never rejects; one run at a time.
   */
  async reclaim(): Promise<void> {
    if (this.#reclaiming || this.#lost.length === 0) return;
    this.#reclaiming = true;
    let given = 0;
    try {
      while (this.#lost.length > 0) {
        const fetch = this.#lost[0] as LostFetch;
        if (fetch.expiresAt > this.now()) given += await this.reclaimOne(fetch);
        this.#lost.shift();
      }
    } catch (error) {
      this.log?.('warn', 'could not give back the messages of a fetch whose reply was lost; they come back when their lease runs out', { err: coerceError(error) });
    } finally {
      this.#reclaiming = false;
    }
    if (given > 0) this.log?.('warn', `gave back ${given} message(s) taken by a fetch whose reply was lost with its connection`, {});
  }
}
