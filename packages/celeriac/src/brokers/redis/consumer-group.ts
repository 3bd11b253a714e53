/**
 * @module brokers/redis/consumer-group
 * The consumers of one Redis broker, for the broker's own duties: renewal reads their held
 * deliveries, promotions and restores wake them, background failures are reported to them,
 * and close closes them and collects what they still hold. A closed consumer stays here
 * while it holds deliveries (the worker settles them after closing it), so their leases
 * are still renewed; it is forgotten once it holds none.
 */
import type { LostDelivery } from '../../core/spi/broker.js';
import type { RedisConsumer } from './redis-consumer.js';
import type { RedisDelivery } from './redis-delivery.js';
import type { TransportLog } from '../../core/transport-table.js';

/** A broker's consumers, open ones and closed ones still holding deliveries. */
export class ConsumerGroup {
  readonly #members = new Set<RedisConsumer>();

  constructor(private readonly log: TransportLog | undefined) {}

  add(consumer: RedisConsumer): void {
    this.#forgetDone();
    this.#members.add(consumer);
  }

  /** The prefix of every lease token its consumers' fetches write (redis-consumer.ts #fetch). */
  tokenPrefixes(): string[] {
    return [...this.#members].map((c) => `${c.id}:`);
  }

  /** Deliveries whose lease should be renewed, over every consumer. */
  held(): RedisDelivery[] {
    this.#forgetDone();
    return [...this.#members].flatMap((c) => c.held());
  }

  /** A renewal found these tags taken back. */
  markLost(tags: readonly string[]): void {
    const lost = new Set(tags);
    for (const c of this.#members) c.markLost(lost);
  }

  /** Whether an open consumer takes lost-task reports (else the records wait for one that does). */
  hearsLost(): boolean {
    for (const c of this.#members) if (c.hearsLost) return true;
    return false;
  }

  /** Lost early-acked tasks: told to the first open consumer that takes them. */
  reportLost(lost: readonly LostDelivery[]): void {
    for (const c of this.#members) {
      if (!c.hearsLost) continue;
      c.reportLost(lost);
      return;
    }
    this.log?.('error', `${lost.length} lost task(s) found with no consumer left to report them`, { tags: lost.map((l) => l.tag) });
  }

  /** Messages became ready (promoted or restored): every open consumer should fetch. */
  wakeAll(): void {
    for (const c of this.#members) if (c.state === 'open') c.wake();
  }

  /** A background duty failed: the open consumers' onError hear of it, else the log. */
  report(error: unknown): void {
    let told = false;
    for (const c of this.#members) {
      if (c.state !== 'open') continue;
      c.report(error);
      told = true;
    }
    if (!told) this.log?.('warn', 'redis broker background duty failed', { err: error as Error });
  }

  /** Background duties work again after failures: the open consumers' onRecovered hear it. */
  recovered(): void {
    for (const c of this.#members) if (c.state === 'open') c.recovered();
  }

  /**
   * Closes every consumer and waits for what they gave back; returns the deliveries still
   * unsettled, latest fetched first (so restoring them in this order keeps queue order).
   */
  async closeAll(): Promise<RedisDelivery[]> {
    const members = [...this.#members];
    await Promise.all(members.map((c) => c.close()));
    await Promise.all(members.map((c) => c.givenBack()));
    this.#members.clear();
    return members.flatMap((c) => c.takeUnsettled()).sort((a, b) => b.seq - a.seq);
  }

  #forgetDone(): void {
    for (const c of this.#members) if (c.done) this.#members.delete(c);
  }
}
