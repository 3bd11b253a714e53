/**
 * @module brokers/amqp/settlement-memory
 * What an AMQP consumer remembers of its settlements so that a redelivery gets the effect
 * already made, never a second run or a second copy: the settlements of deliveries whose
 * channel died before their own ack could go (orphans), kept until the redelivery arrives or
 * for {@link ORPHAN_MEMORY_MS}; and the settlements sent lately on the live channel, which may
 * not have reached RabbitMQ when that channel dies ({@link uncertainWindowMs}).
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import type { Clock } from '../../core/clock.js';
import type { Settlement } from '../../core/spi/broker.js';
import type { Held } from './amqp-delivery.js';

/** How long a settlement made for an orphan waits for its redelivery. */
export const ORPHAN_MEMORY_MS = 30 * 60_000;
/** Settlements this recent when their channel dies may not have reached RabbitMQ, whatever the heartbeat. */
export const UNCERTAIN_SETTLEMENT_MS = 5000;
/**
 * At most this many recent settlements, and messages of at most this many bytes, are kept for
 * that (the oldest go first): each holds its message's body, to tell its redelivery by.
 */
const UNCERTAIN_SETTLEMENT_MAX = 4096;
const UNCERTAIN_BYTES_MAX = 16 * 1024 * 1024;
/** The bounds on all the settlements remembered for redeliveries: a connection that flaps keeps no more. */
const REMEMBERED_MAX = 4 * UNCERTAIN_SETTLEMENT_MAX;
const REMEMBERED_BYTES_MAX = 4 * UNCERTAIN_BYTES_MAX;

/**
 * How long before its channel dies a settlement sent on it may not have reached RabbitMQ: as
 * long as a link that silently drops what is sent (no FIN, no RST) goes unnoticed, plus
 * {@link UNCERTAIN_SETTLEMENT_MS}. amqplib declares a connection dead after two heartbeat checks
 * in a row saw nothing come in, and checks once per interval: up to three intervals of silence.
 * With heartbeats off only the socket tells, however late: the bounds on count and on age
 * ({@link ORPHAN_MEMORY_MS}) alone apply. Five
 * seconds in all, as before, made an ack sent into a link dead for longer (RabbitMQ never got
 * it) count as received, and the task ran again when its message came back.
 */
export function uncertainWindowMs(heartbeatSec: number): number {
  return heartbeatSec > 0 ? UNCERTAIN_SETTLEMENT_MS + 3 * heartbeatSec * 1000 : Number.POSITIVE_INFINITY;
}

interface Recent {
  readonly held: Held;
  /** What to do with a redelivery: the effect already made, never a second copy. */
  readonly settlement: Settlement;
  readonly at: number;
}

interface Remembered {
  readonly settlement: Settlement;
  readonly msg: ConsumeMessage;
  readonly at: number;
}

const bytesOf = (msg: ConsumeMessage): number => msg.content.length;

/** The identity of a message across redeliveries. */
export function identity(queue: string, msg: ConsumeMessage): string {
  const cid = typeof msg.properties.correlationId === 'string' ? msg.properties.correlationId : '';
  return `${queue}\u0000${cid}\u0000${msg.content.length}`;
}

/** One consumer's memory of settlements that may meet a redelivery (see the module header). */
export class SettlementMemory {
  /** Settlements of orphans whose redelivery has not arrived yet. */
  readonly #orphanSettled = new Map<string, Remembered[]>();
  /** Settlements sent on the live channel lately, oldest first (see uncertainWindowMs), and their messages' bytes. */
  #recent: Recent[] = [];
  #recentBytes = 0;

  /** @param uncertainMs the window of {@link uncertainWindowMs} for the connection in use (read when a channel dies). */
  constructor(
    private readonly clock: Pick<Clock, 'now'>,
    private readonly uncertainMs: () => number = () => UNCERTAIN_SETTLEMENT_MS,
  ) {}

  /** Remembers the settlement of a delivery whose channel is gone, for its redelivery. */
  remember(held: Held, s: Settlement): void {
    this.#remember(held, s);
    this.#prune();
  }

  /** The settlement remembered for a redelivery of `held`'s message, taken (once); undefined when none. */
  take(held: Held): Settlement | undefined {
    const key = identity(held.queue, held.msg);
    const done = this.#orphanSettled.get(key);
    const doneAt = done?.findIndex((e) => e.msg.content.equals(held.msg.content)) ?? -1;
    if (done === undefined || doneAt < 0) return undefined;
    const [entry] = done.splice(doneAt, 1);
    if (done.length === 0) this.#orphanSettled.delete(key);
    return (entry as { settlement: Settlement }).settlement;
  }

  #remember(held: Held, s: Settlement, at = this.clock.now()): void {
    const key = identity(held.queue, held.msg);
    const list = this.#orphanSettled.get(key) ?? [];
    list.push({ settlement: s, msg: held.msg, at });
    this.#orphanSettled.set(key, list);
  }

  /**
   * Records a settlement sent on the live channel. A restore is left out (its redelivery is
   * meant to run); a settlement that published a copy is recorded as the ack it ended with.
   */
  noteSent(held: Held, s: Settlement): void {
    if (s.kind === 'restore') return;
    const settlement: Settlement = s.kind === 'reject' && !s.requeue ? s : { kind: 'ack' };
    const now = this.clock.now();
    const recent = this.#recent;
    recent.push({ held, settlement, at: now });
    this.#recentBytes += bytesOf(held.msg);
    // Trimmed in batches (at twice the bounds), so a busy channel pays O(1) per settlement.
    const window = this.uncertainMs();
    if (recent.length > 2 * UNCERTAIN_SETTLEMENT_MAX || this.#recentBytes > 2 * UNCERTAIN_BYTES_MAX || (recent[0] as Recent).at < now - 2 * window) {
      this.#trim(now - window);
    }
  }

  /** Keeps the newest recent settlements sent from `since` on, within the bounds. */
  #trim(since: number): void {
    const recent = this.#recent;
    let from = recent.length;
    let bytes = 0;
    while (from > 0 && recent.length - from < UNCERTAIN_SETTLEMENT_MAX) {
      const r = recent[from - 1] as Recent;
      if (r.at < since || bytes + bytesOf(r.held.msg) > UNCERTAIN_BYTES_MAX) break;
      bytes += bytesOf(r.held.msg);
      from--;
    }
    this.#recent = recent.slice(from);
    this.#recentBytes = bytes;
  }

  /** The channel died: its recent settlements are kept for their possible redeliveries. */
  keepUncertain(channel: Channel): void {
    this.#trim(this.clock.now() - this.uncertainMs());
    for (const r of this.#recent) if (r.held.channel === channel) this.#remember(r.held, r.settlement, r.at);
    this.#recent = this.#recent.filter((r) => r.held.channel !== channel);
    this.#recentBytes = 0;
    for (const r of this.#recent) this.#recentBytes += bytesOf(r.held.msg);
    this.#prune();
  }

  /** Forgets what waited past ORPHAN_MEMORY_MS, then the oldest past the bounds on count and bytes. */
  #prune(): void {
    const cutoff = this.clock.now() - ORPHAN_MEMORY_MS;
    const entries = [...this.#orphanSettled.values()].flat().filter((e) => e.at >= cutoff);
    let bytes = 0;
    for (const e of entries) bytes += bytesOf(e.msg);
    let keep: Set<Remembered> | undefined;
    if (entries.length > REMEMBERED_MAX || bytes > REMEMBERED_BYTES_MAX) {
      keep = new Set();
      let sum = 0;
      for (const e of entries.sort((a, b) => b.at - a.at)) {
        if (keep.size === REMEMBERED_MAX || sum + bytesOf(e.msg) > REMEMBERED_BYTES_MAX) break;
        sum += bytesOf(e.msg);
        keep.add(e);
      }
    }
    for (const [key, list] of this.#orphanSettled) {
      const kept = list.filter((e) => e.at >= cutoff && (keep === undefined || keep.has(e)));
      if (kept.length === 0) this.#orphanSettled.delete(key);
      else this.#orphanSettled.set(key, kept);
    }
  }
}
