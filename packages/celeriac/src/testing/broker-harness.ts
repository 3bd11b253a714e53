/**
 * @module testing/broker-harness
 * Helpers of the broker conformance suites (one per broker role): test messages, a delivery
 * collector per consumer ({@link Inbox}), per-test bookkeeping ({@link Harness}) that leaves
 * the broker clean, and {@link defineBrokerSuite}, the set-up every suite shares. Internal to
 * testing/; not exported from `celeriac/testing`.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect } from 'vitest';
import type { Consumer, Delivery, PublishOptions, QueueBroker } from '../core/spi/broker.js';
import type { Message } from '../protocol/types.js';
import { sleep, waitFor } from './wait-for.js';

/** A minimal protocol v2 task message whose `headers.id` identifies it in assertions. */
export function makeMessage(id: string): Message {
  return {
    headers: { lang: 'py', task: 'conformance.noop', id, root_id: id, parent_id: null, retries: 0 },
    properties: { correlation_id: id, reply_to: '', delivery_mode: 2, priority: 0 },
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    body: JSON.stringify([[id], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]),
  };
}

/** The envelope of a delivery, parsed. */
export function envelopeOf(delivery: Delivery): { headers: Record<string, unknown>; properties: Record<string, unknown>; body: string } {
  return JSON.parse(delivery.raw) as never;
}

/** The `headers.id` a test gave the message. */
export function idOf(delivery: Delivery): string {
  return String(envelopeOf(delivery).headers['id']);
}

/** Collects the deliveries of one consumer, in order. */
export class Inbox {
  /** Every delivery with its local arrival time (epoch ms), in arrival order. */
  readonly received: { delivery: Delivery; at: number }[] = [];
  /** Acks made through {@link Inbox.ack}. */
  acked = 0;
  /** Most deliveries held unacked at once, as seen at each arrival. */
  maxUnsettled = 0;
  #taken = 0;
  /** The consumer feeding this inbox (set by {@link Harness.consume}). */
  consumer!: Consumer;

  /** The `onDelivery` callback to give the broker. */
  readonly onDelivery = (delivery: Delivery): void => {
    this.received.push({ delivery, at: Date.now() });
    this.maxUnsettled = Math.max(this.maxUnsettled, this.received.length - this.acked);
  };

  /** Deliveries received so far. */
  get count(): number {
    return this.received.length;
  }

  /** The next delivery not yet returned by `next`, waiting for it if needed. */
  async next(timeoutMs = 3000): Promise<Delivery> {
    await waitFor(() => this.#taken < this.received.length, () => `delivery #${this.#taken + 1}`, timeoutMs);
    return (this.received[this.#taken++] as { delivery: Delivery }).delivery;
  }

  /** Acks and counts it (so `maxUnsettled` tracks the window). */
  async ack(delivery: Delivery): Promise<void> {
    // Counted before awaiting: the broker may push the next delivery before ack() resolves.
    this.acked++;
    await delivery.ack();
  }

  /** Takes `n` deliveries, acking each before taking the next; returns their ids. */
  async drainAcking(n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const d = await this.next();
      ids.push(idOf(d));
      await this.ack(d);
    }
    return ids;
  }

  /** Waits until `n` deliveries arrived in total. */
  async waitForCount(n: number, timeoutMs = 3000): Promise<void> {
    await waitFor(() => this.received.length >= n, () => `${n} deliveries (got ${this.received.length})`, timeoutMs);
  }

  /**
   * Waits `ms`, then asserts exactly `total` deliveries arrived since the consumer started and
   * before the `ms` were up. A delivery stamped after that is not counted: on a loaded host the
   * sleep can end well past its time, and what arrived in between was not early.
   */
  async expectTotal(total: number, ms: number): Promise<void> {
    const deadline = Date.now() + Math.max(0, ms);
    await sleep(Math.max(0, ms));
    const inTime = this.received.filter((r) => r.at <= deadline);
    const ids = inTime.map((r) => idOf(r.delivery));
    const late = this.received.length - inTime.length;
    expect(inTime.length, `deliveries within ${ms} ms: ${ids.join(', ')} (${late} after)`).toBe(total);
  }
}

/** Per-test bookkeeping so every test leaves the broker clean. */
export class Harness<B extends QueueBroker = QueueBroker> {
  readonly #queues: string[] = [];
  readonly #inboxes: Inbox[] = [];

  constructor(
    readonly broker: B,
    private readonly prefix: string,
  ) {}

  /** A fresh, declared queue. */
  async queue(label = 'q'): Promise<string> {
    const name = `${this.prefix}${label}-${randomUUID().slice(0, 8)}`;
    this.#queues.push(name);
    await this.broker.declareQueue(name);
    return name;
  }

  /** Publishes {@link makeMessage}(id) to `queue` on the default exchange. */
  async publish(queue: string, id: string, extra: Partial<PublishOptions> = {}): Promise<void> {
    await this.broker.publish(makeMessage(id), { exchange: '', routingKey: queue, ...extra });
  }

  /** Starts a consumer whose deliveries land in a new {@link Inbox}. */
  consume(queues: string[], prefetch: number): Inbox {
    const inbox = new Inbox();
    inbox.consumer = this.broker.consume({ queues, prefetch, onDelivery: inbox.onDelivery });
    this.#inboxes.push(inbox);
    return inbox;
  }

  /** Closes the test's consumers, acks what they left unsettled and purges its queues. */
  async dispose(): Promise<void> {
    for (const inbox of this.#inboxes) {
      await inbox.consumer.close().catch(() => undefined);
      // Settle whatever the test left; already-settled ones reject, which is fine here.
      for (const { delivery } of inbox.received) await delivery.ack().catch(() => undefined);
    }
    for (const queue of this.#queues) await this.broker.purge(queue).catch(() => undefined);
  }
}

/** Options every broker conformance suite takes. */
export interface BrokerSuiteOptions<B extends QueueBroker = QueueBroker> {
  /**
   * Runs after each test, before the broker is closed (delete keys, vhosts...). Consumers
   * are already closed, deliveries acked and the test's queues purged by then.
   */
  cleanup?: (broker: B) => Promise<void>;
  /**
   * Prefix of every queue name the suite creates (each test adds a random suffix).
   * @default 'celeriac-conformance-'
   */
  queuePrefix?: string;
}

/**
 * A vitest `describe` block whose tests each get a fresh, connected broker from `makeBroker`
 * inside a {@link Harness}; after each test the harness cleans up and the broker is closed.
 */
export function defineBrokerSuite<B extends QueueBroker>(
  title: string,
  makeBroker: () => Promise<B> | B,
  options: BrokerSuiteOptions<B>,
  define: (get: () => Harness<B>) => void,
): void {
  const prefix = options.queuePrefix ?? 'celeriac-conformance-';
  describe(title, () => {
    let broker: B;
    let h: Harness<B>;

    beforeEach(async () => {
      broker = await makeBroker();
      await broker.connect();
      h = new Harness(broker, prefix);
    });

    afterEach(async () => {
      await h.dispose();
      await options.cleanup?.(broker);
      await broker.close();
    });

    define(() => h);
  });
}
