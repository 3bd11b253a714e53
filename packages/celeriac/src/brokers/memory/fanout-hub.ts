/**
 * @module brokers/memory/fanout-hub
 * The memory broker's fanout/topic exchanges (events, pidbox requests): subscribers are
 * matched by kombu topic rules and called asynchronously, never inside `publish`, so a
 * listener that publishes again cannot recurse.
 */
import type { Unsubscribe } from '../../core/spi/broker.js';
import { topicMatches } from '../../protocol/topic.js';

interface Subscription {
  readonly exchange: string;
  readonly bindingKey: string;
  readonly listener: (raw: string, routingKey: string) => void;
}

/** In-process pub/sub by exchange and binding key. */
export class FanoutHub {
  readonly #subscriptions = new Set<Subscription>();

  /** Calls every matching listener on a later microtask; returns how many (nobody listening = dropped). */
  publish(exchange: string, routingKey: string, raw: string): number {
    const targets = [...this.#subscriptions].filter((s) => s.exchange === exchange && topicMatches(s.bindingKey, routingKey));
    if (targets.length === 0) return 0;
    queueMicrotask(() => {
      for (const s of targets) {
        // A subscription cancelled meanwhile gets nothing more.
        if (this.#subscriptions.has(s)) s.listener(raw, routingKey);
      }
    });
    return targets.length;
  }

  /** Adds a listener; the returned function removes it. */
  subscribe(exchange: string, bindingKey: string, listener: (raw: string, routingKey: string) => void): Unsubscribe {
    const s: Subscription = { exchange, bindingKey, listener };
    this.#subscriptions.add(s);
    return async () => {
      this.#subscriptions.delete(s);
    };
  }

  /** Drops every subscription (broker close). */
  clear(): void {
    this.#subscriptions.clear();
  }
}
