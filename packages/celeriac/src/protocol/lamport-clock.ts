/**
 * @module protocol/lamport-clock
 * The logical clock Celery stamps on events (`clock`) and pidbox messages (`headers.clock`)
 * so receivers can order what several nodes said (docs/protocol.md §4.2, §5.2).
 */

/** A Lamport clock: `forward()` before sending, `adjust(theirs)` on receiving. */
export class LamportClock {
  #value: number;

  constructor(initial = 0) {
    this.#value = initial;
  }

  /** The current value. */
  get value(): number {
    return this.#value;
  }

  /** Ticks for a local event and returns the new value (Celery's `forward`). */
  forward(): number {
    this.#value += 1;
    return this.#value;
  }

  /**
   * Moves past a value seen from another node: max(ours, theirs) + 1, as Celery's `adjust`.
   * Non-numbers (a missing header) count as 0.
   */
  adjust(other: unknown): number {
    const theirs = typeof other === 'number' && Number.isFinite(other) ? Math.trunc(other) : 0;
    this.#value = Math.max(this.#value, theirs) + 1;
    return this.#value;
  }
}
