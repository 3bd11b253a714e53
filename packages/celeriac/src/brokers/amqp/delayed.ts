/**
 * @module brokers/amqp/delayed
 * Delayed delivery held by RabbitMQ, never by a worker (issue 27 §3): ETA/countdown messages
 * and deferred ones wait in a ladder of delay queues whose per-queue TTL dead-letters them on,
 * and arrive in their target queue at their time as ordinary task messages, which any worker,
 * Python's included, runs at once (their `eta` header has passed). Nothing is held unacked
 * past RabbitMQ's `consumer_timeout`.
 *
 * The ladder (the idea of kombu 5.5's native delayed delivery, in milliseconds and under
 * names of its own so it never clashes with a Celery 5.5 fleet's `celery_delayed_*`):
 * - level i (0..31) is a topic exchange and a durable queue `celeriac.delayed.<i>` whose
 *   `x-message-ttl` is 2^i ms and whose dead-letter exchange is level i-1 (level 0: the
 *   delivery exchange `celeriac.delayed.deliver`);
 * - a message is published to level 31 with routing key `<32 bits of the delay, highest
 *   first>.<target queue>`; at level i a `1` bit routes it into the queue (it waits 2^i ms), a
 *   `0` bit routes it straight on to level i-1 by an exchange-to-exchange binding;
 * - the delivery exchange routes by the target queue name (binding: 32 `*` words, then the
 *   queue name), declared before the first delayed publish to that queue.
 * Every message in one level queue has the same TTL, so expiry order is arrival order and
 * nothing waits behind a longer delay. Delays over 2^32-1 ms (49.7 days) go as far as the
 * ladder reaches; the worker that receives them early defers them again.
 */
import type { ExchangeSpec, QueueSpec } from '../../amqp/topology.js';

/** Number of levels (bits of the delay in ms). */
export const DELAY_LEVELS = 32;
/** Longest delay one trip through the ladder can hold. */
export const MAX_DELAY_MS = 2 ** DELAY_LEVELS - 1;
/** Where messages leave the ladder. */
export const DELIVER_EXCHANGE = 'celeriac.delayed.deliver';
/** The exchange delayed messages are published to. */
export const ENTRY_EXCHANGE = levelName(DELAY_LEVELS - 1);
/** The ladder's exchanges are topic exchanges, durable. */
export const LEVEL_EXCHANGE_SPEC: ExchangeSpec = { type: 'topic', durable: true };

/** Name of level `i`'s exchange and queue. */
export function levelName(i: number): string {
  return `celeriac.delayed.${i}`;
}

/** What to declare for level `i`. */
export interface LevelDeclaration {
  readonly name: string;
  readonly queue: QueueSpec;
  /** Binding key routing into this level's queue (bit i set). */
  readonly queueBinding: string;
  /** Next exchange (level i-1, or the delivery exchange) and the key routing to it (bit i clear). */
  readonly next: string;
  readonly nextBinding: string;
}

function pattern(level: number, bit: '0' | '1'): string {
  return [...Array<string>(DELAY_LEVELS - 1 - level).fill('*'), bit, '#'].join('.');
}

/** The ladder, highest level first (the order to declare it in). */
export function ladder(): LevelDeclaration[] {
  const out: LevelDeclaration[] = [];
  for (let i = DELAY_LEVELS - 1; i >= 0; i--) {
    const next = i === 0 ? DELIVER_EXCHANGE : levelName(i - 1);
    out.push({
      name: levelName(i),
      queue: { durable: true, autoDelete: false, arguments: { 'x-message-ttl': 2 ** i, 'x-dead-letter-exchange': next } },
      queueBinding: pattern(i, '1'),
      next,
      nextBinding: pattern(i, '0'),
    });
  }
  return out;
}

/** Binding key of `queue` on the delivery exchange. */
export function deliverBinding(queue: string): string {
  return `${Array<string>(DELAY_LEVELS).fill('*').join('.')}.${queue}`;
}

/** Routing key of a message delayed by `delayMs` (clamped to 0..MAX_DELAY_MS) for `queue`. */
export function delayRoutingKey(delayMs: number, queue: string): string {
  const ms = Math.max(0, Math.min(MAX_DELAY_MS, Math.ceil(delayMs)));
  return `${ms.toString(2).padStart(DELAY_LEVELS, '0').split('').join('.')}.${queue}`;
}

/** The target queue of a routing key made by {@link delayRoutingKey}, or null. */
export function targetOfDelayKey(routingKey: string): string | null {
  const prefix = DELAY_LEVELS * 2;
  if (routingKey.length <= prefix || !/^([01]\.){32}/.test(routingKey)) return null;
  return routingKey.slice(prefix);
}
