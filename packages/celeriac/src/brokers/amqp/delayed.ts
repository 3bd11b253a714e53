/**
 * @module brokers/amqp/delayed
 * Delayed delivery held by RabbitMQ, never by a worker (issue 27 §3): ETA/countdown messages
 * and deferred ones wait in a ladder of delay queues whose per-queue TTL dead-letters them on,
 * and arrive in their target queue at their time as ordinary task messages, which any worker,
 * Python's included, runs at once (their `eta` header has passed). Nothing is held unacked
 * past RabbitMQ's `consumer_timeout`.
 *
 * A ladder of N levels:
 * - level i (0..N-1) is a topic exchange and a durable queue whose `x-message-ttl` is 2^i
 *   units and whose dead-letter exchange is level i-1 (level 0: the delivery exchange);
 * - a message is published to level N-1 with routing key `<N bits of the delay, highest
 *   first>.<target>`; at level i a `1` bit routes it into the queue (it waits 2^i units), a
 *   `0` bit routes it straight on to level i-1 by an exchange-to-exchange binding;
 * - the delivery exchange routes by the target queue name (binding: one `*` per level, then
 *   the queue name), declared before the first delayed publish to that queue and, with
 *   quorum queues, by every worker for the queues it consumes (as Celery 5.6 workers do).
 * Every message in one level queue has the same TTL, so expiry order is arrival order and
 * nothing waits behind a longer delay. Delays past the ladder's reach go as far as it
 * reaches; the worker that receives them early defers them again.
 *
 * Two ladders, never mixed in one app:
 * - {@link CELERIAC_LADDER}: classic queues, 32 levels of milliseconds, under names of its
 *   own (`celeriac.delayed.*`), used while every task queue is classic;
 * - {@link KOMBU_LADDER}: kombu 5.5+'s native delayed delivery, declared exactly as a Celery
 *   5.6 worker declares it (28 `celery_delayed_N` quorum queues in seconds, `x-overflow:
 *   reject-publish`, at-least-once dead-lettering, the `celery_delayed_delivery` exchange),
 *   used as soon as the app has a quorum queue, so countdowns cross between Celeriac and
 *   Celery 5.6 both ways and the ladder is replicated on a cluster. Whole seconds: a delay is
 *   rounded up, so a message never arrives before its ETA (at most a second after it).
 */
import { SHORT_STRING_MAX, shortString } from '../../amqp/limits.js';
import type { Json } from '../../protocol/types.js';

/** One ladder's names and units. */
export interface DelayLadder {
  /** Number of levels (bits of the delay). */
  readonly levels: number;
  /** Length of one unit of delay, ms. */
  readonly unitMs: number;
  /** Where messages leave the ladder. */
  readonly deliverExchange: string;
  /** Name of level `i`'s exchange and queue. */
  levelName(i: number): string;
  /** The `x-*` arguments of level `i`'s queue, besides TTL and dead-letter exchange. */
  readonly extraArguments: { readonly [key: string]: Json };
}

export const CELERIAC_LADDER: DelayLadder = Object.freeze({
  levels: 32,
  unitMs: 1,
  deliverExchange: 'celeriac.delayed.deliver',
  levelName: (i: number) => `celeriac.delayed.${i}`,
  extraArguments: Object.freeze({}),
});

export const KOMBU_LADDER: DelayLadder = Object.freeze({
  levels: 28,
  unitMs: 1000,
  deliverExchange: 'celery_delayed_delivery',
  levelName: (i: number) => `celery_delayed_${i}`,
  extraArguments: Object.freeze({ 'x-queue-type': 'quorum', 'x-overflow': 'reject-publish', 'x-dead-letter-strategy': 'at-least-once' }),
});

/** The exchange delayed messages are published to: the highest level. */
export function entryExchange(ladder: DelayLadder): string {
  return ladder.levelName(ladder.levels - 1);
}

/** Longest delay one trip through the ladder can hold, ms. */
export function maxDelayMs(ladder: DelayLadder): number {
  return (2 ** ladder.levels - 1) * ladder.unitMs;
}

/** What to declare for level `i`. */
export interface LevelDeclaration {
  readonly name: string;
  readonly arguments: { readonly [key: string]: Json };
  /** Binding key routing into this level's queue (bit i set). */
  readonly queueBinding: string;
  /** Next exchange (level i-1, or the delivery exchange) and the key routing to it (bit i clear). */
  readonly next: string;
  readonly nextBinding: string;
}

function pattern(ladder: DelayLadder, level: number, bit: '0' | '1'): string {
  return [...Array<string>(ladder.levels - 1 - level).fill('*'), bit, '#'].join('.');
}

/** The ladder's declarations, highest level first (the order to declare it in). */
export function declarations(ladder: DelayLadder): LevelDeclaration[] {
  const out: LevelDeclaration[] = [];
  for (let i = ladder.levels - 1; i >= 0; i--) {
    const next = i === 0 ? ladder.deliverExchange : ladder.levelName(i - 1);
    out.push({
      name: ladder.levelName(i),
      arguments: { ...ladder.extraArguments, 'x-message-ttl': 2 ** i * ladder.unitMs, 'x-dead-letter-exchange': next },
      queueBinding: pattern(ladder, i, '1'),
      next,
      nextBinding: pattern(ladder, i, '0'),
    });
  }
  return out;
}

/**
 * Binding key of `queue` on the delivery exchange: one `*` per level, then the queue name, so
 * only keys made for exactly this queue match. (kombu binds the queue's topic exchange with
 * `#.<routing key>` instead, and nothing for a direct exchange; both bindings may exist at
 * once: RabbitMQ delivers a message to a queue once however many bindings match.)
 */
export function deliverBinding(ladder: DelayLadder, queue: string): string {
  return `${Array<string>(ladder.levels).fill('*').join('.')}.${queue}`;
}

/** Routing key of a message delayed by `delayMs` (rounded up to whole units, clamped to the ladder) for `target`. */
export function delayRoutingKey(ladder: DelayLadder, delayMs: number, target: string): string {
  const units = Math.max(0, Math.min(2 ** ladder.levels - 1, Math.ceil(delayMs / ladder.unitMs)));
  // The key holds the queue's name after the delay's bits: a long name fits a queue, not a delay.
  const key = `${units.toString(2).padStart(ladder.levels, '0').split('').join('.')}.${target}`;
  if (Buffer.byteLength(key) <= SHORT_STRING_MAX) return key;
  return shortString(key, `routing key of a message delayed for queue ${JSON.stringify(target.slice(0, 40))} (${ladder.levels * 2} bytes of delay and the queue's name)`);
}

/** The target of a routing key made by {@link delayRoutingKey} for `ladder`, or null. */
export function targetOfDelayKey(ladder: DelayLadder, routingKey: string): string | null {
  const prefix = ladder.levels * 2;
  if (routingKey.length <= prefix) return null;
  for (let i = 0; i < prefix; i += 2) {
    const bit = routingKey.charCodeAt(i);
    if ((bit !== 0x30 && bit !== 0x31) || routingKey.charCodeAt(i + 1) !== 0x2e) return null;
  }
  return routingKey.slice(prefix);
}
