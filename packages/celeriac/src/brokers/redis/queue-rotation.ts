/**
 * @module brokers/redis/queue-rotation
 * The queues of a consumer in the order its next fetch tries them: rotated after each fetch
 * so the queue after the last one that gave a message comes first, as kombu's round-robin
 * cycle does, so one busy queue does not starve the others.
 */
export class QueueRotation {
  readonly #names: string[];
  #next = 0;

  constructor(names: readonly string[]) {
    this.#names = [...names];
  }

  /** The queues, in the order they were added. */
  get names(): readonly string[] {
    return this.#names;
  }

  includes(queue: string): boolean {
    return this.#names.includes(queue);
  }

  /** Adds `queue` last; false when it was there already. */
  add(queue: string): boolean {
    if (this.#names.includes(queue)) return false;
    this.#names.push(queue);
    return true;
  }

  /** Removes `queue`, keeping the rotation's place; false when it was not there. */
  remove(queue: string): boolean {
    const i = this.#names.indexOf(queue);
    if (i < 0) return false;
    this.#names.splice(i, 1);
    if (this.#next > i) this.#next--;
    return true;
  }

  /** The queues in the order to try now: the one after the last hit first. */
  order(): string[] {
    const n = this.#names.length;
    const start = n === 0 ? 0 : this.#next % n;
    return [...this.#names.slice(start), ...this.#names.slice(0, start)];
  }

  /** A fetch over `tried` (an {@link order}) got messages, the last from `lastQueue`: the next starts after it. */
  advance(tried: readonly string[], lastQueue: string): void {
    const i = this.#names.indexOf(lastQueue);
    this.#next = i < 0 ? this.#next + tried.length : i + 1;
  }
}
