/**
 * @module brokers/redis/fetch-window
 * A consumer's prefetch window as numbers (redis-consumer.ts owns the loop and reports to it):
 * the deliveries in the window (fetched, no settlement sent yet), the room spoken for by
 * fetches in flight, and whether a second fetch should go while one is in flight.
 *
 * One fetch in flight at a time, each sized to the room the last reply left, paced a worker
 * at -c 10 by Redis's answer to its fetch (the scripts queued before it on the connection,
 * then its own work per message): the 40 messages of the window ran out before the next 30
 * came, and the worker waited. So once half the window is free again while a fetch is still
 * out, a second one goes for that room (never a third: Redis answers them in order, and the
 * first's messages come first). Room given to a fetch in flight counts as taken, so the
 * window is never exceeded. A window more than twice the batch size (-c 100: 400 against
 * batches of 100) has its fetches as large as they go already and never asks for a second.
 *
 * After a full batch the loop sends a fetch ahead, before it hands the batch out, when none is
 * in flight, for the room there is; and more, up to {@link FETCHES_AHEAD} in flight, each only
 * for a whole batch. A window smaller than a batch (-c 1, -c 10) never sends those: as small
 * fetches next to the second fetch above, they made 17 % more Redis commands per task at -c 1.
 */
import type { RedisDelivery } from './redis-delivery.js';

/**
 * Fetches in flight after a full batch, while the window has room. With one, at -c 100 the
 * fetch sent ahead of batch k reached Redis behind the acks and results of batch k - 1
 * (written while the worker ran it): Redis answered it only after storing them, and the
 * worker waited for it after every other batch, 45 % of a drain of 20,000 (its fetch loop's
 * awaits, measured). With two, one of them is always queued before those writes. A window
 * that cannot hold a whole batch beside the one handed out and the first fetch ahead (-c 10:
 * 40 messages against batches of 100) never sends the second.
 */
export const FETCHES_AHEAD = 2;

/** A fetch in flight: its reply, and the room and rotation it was sent with. */
export interface Fetch {
  readonly reply: Promise<RedisDelivery[]>;
  readonly room: number;
  readonly queues: readonly string[];
  /** A blocked fetch's (bell.ts): whether a doorbell token ended its block; undefined for others. */
  readonly rang: Promise<boolean> | undefined;
}

/** The prefetch window's counts (see the module comment). */
export class FetchWindow {
  /** Most deliveries in the window; 0 = no limit. */
  prefetch: number;
  /** Deliveries in the window. */
  #held = 0;
  /** Room asked for by fetches in flight. */
  #reserved = 0;
  /** Fetches in flight. */
  #inFlight = 0;

  constructor(prefetch: number) {
    this.prefetch = prefetch;
  }

  /** Deliveries in the window now. */
  get held(): number {
    return this.#held;
  }

  /** Fetches in flight now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** How many messages a fetch may ask for now, `batch` at most. */
  room(batch: number): number {
    return this.prefetch === 0 ? batch : Math.min(batch, Math.max(0, this.prefetch - this.#held - this.#reserved));
  }

  /** A fetch for `room` messages went out. */
  sent(room: number): void {
    this.#reserved += room;
    this.#inFlight++;
  }

  /** A fetch for `room` messages answered with `got` (0 when it failed), which join the window. */
  answered(room: number, got: number): void {
    this.#reserved -= room;
    this.#inFlight--;
    this.#held += got;
  }

  /** A delivery left the window: its settlement went out, or it was given back. */
  left(): void {
    this.#held--;
  }

  /**
   * Whether a fetch should go ahead of a full batch about to be handed out, with `pending` sent
   * and not yet taken by the loop (see the module comment).
   */
  wantsAhead(pending: number, batch: number): boolean {
    return pending === 0 || (pending < FETCHES_AHEAD && this.room(batch) >= batch);
  }

  /** Whether a second fetch should go now (see the module comment). */
  wantsAnother(batch: number): boolean {
    return this.#inFlight === 1 && this.prefetch > 0 && this.room(batch) >= Math.ceil(this.prefetch / 2);
  }
}
