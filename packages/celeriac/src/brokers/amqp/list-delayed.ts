/**
 * @module brokers/amqp/list-delayed
 * What the delay ladders (delayed.ts) hold, for `inspect scheduled`, `query_task` and the
 * dashboard, with no management plugin:
 * - counts: a passive `queue.declare` of every level queue (all target queues together);
 * - messages: RabbitMQ cannot show a message without taking it, so level queues of classic
 *   type are browsed, lowest level (soonest due) first: messages are taken with `basic.get`,
 *   unacknowledged, and all given back at once when the channel closes. A returned message
 *   keeps its place and its expiry (classic queues put it back where it was), so browsing only
 *   holds it back for the milliseconds the browse takes.
 * Both ladders are counted where they exist, so an app on classic queues also sees how many
 * messages Celery 5.6 or a quorum-queue app delayed in `celery_delayed_*`; those are never
 * browsed. A quorum queue counts every return as a delivery (`x-delivery-count`, whatever the
 * way back before RabbitMQ 4.3) and from RabbitMQ 4.0 on has a delivery limit (20 by
 * default), past which a level queue dead-letters the message to the next level: it would
 * leave the ladder early, and every listing (the dashboard polls) would bring that closer. So
 * kombu's ladder, quorum by declaration, is only counted, and a level of Celeriac's ladder
 * found to be quorum (a vhost whose default queue type is quorum: a quorum queue adds
 * `x-delivery-count` to every delivery, 0 on the first) is read no more by this process: the
 * listing that finds it gives that one message back, its count one higher.
 * A message whose due time cannot be read (a malformed `x-celeriac-deliver-at` header or
 * `eta`, neither at all) is listed at the latest its level can hand it to its queue, read from
 * its routing key; one whose routing key names no queue is left out. Listings and purges take
 * turns (ladder-lock.ts). Limit, documented in docs/brokers-and-backends.md: at most
 * {@link BROWSE_MAX} messages are read per listing (the rest are only counted).
 */
import type { Channel, GetMessage } from 'amqplib';
import type { AmqpSession } from '../../amqp/session.js';
import { plainValue } from '../../amqp/tables.js';
import { envelopeOf } from '../../amqp/wire.js';
import type { DelayedRecord } from '../../core/spi/broker.js';
import { isDateMs, parseIsoTime } from '../../protocol/time.js';
import { KOMBU_LADDER, targetOfDelayKey, type DelayLadder } from './delayed.js';
import { existingLadders } from './ladder-declare.js';
import { withLadderLock } from './ladder-lock.js';
import { DELIVER_AT_HEADER } from './purge-delayed.js';

/** Most messages one listing takes from the level queues. */
export const BROWSE_MAX = 1000;

/** Ready messages of each level queue of each ladder that exists. */
async function ladderCounts(session: AmqpSession): Promise<{ ladder: DelayLadder; level: number; count: number }[]> {
  const out: { ladder: DelayLadder; level: number; count: number }[] = [];
  for (const ladder of await existingLadders(session)) {
    const ch = await session.openChannel();
    ch.on('error', () => undefined);
    try {
      for (let level = 0; level < ladder.levels; level++) out.push({ ladder, level, count: (await ch.checkQueue(ladder.levelName(level))).messageCount });
    } finally {
      await ch.close().catch(() => undefined);
    }
  }
  return out;
}

/** Messages in the level queues of both ladders (passive declares). */
export async function countDelayed(session: AmqpSession): Promise<number> {
  return (await ladderCounts(session)).reduce((n, l) => n + l.count, 0);
}


/**
 * When a browsed message is due: the header every Celeriac ladder publish carries, else its
 * task `eta`; null when neither reads as a time (never throws: the message is hostile input).
 */
export function dueOf(msg: Pick<GetMessage, 'properties'>): number | null {
  const headers = msg.properties.headers as Record<string, unknown> | undefined | null;
  if (headers === null || typeof headers !== 'object') return null;
  try {
    const at = plainValue(headers[DELIVER_AT_HEADER]);
    if (isDateMs(at)) return at;
    const eta = plainValue(headers['eta']);
    if (typeof eta !== 'string') return null;
    const etaAt = parseIsoTime(eta);
    return isDateMs(etaAt) ? etaAt : null;
  } catch {
    return null;
  }
}

/**
 * The latest a message at `level` of `ladder` leaves it, from `now`: at most its level's whole
 * wait, then the wait of every lower level its routing key's bits route it into.
 */
export function latestDue(ladder: DelayLadder, level: number, routingKey: string, now: number): number {
  let units = 2 ** level;
  for (let i = 0; i < level; i++) if (routingKey.charCodeAt(2 * (ladder.levels - 1 - i)) === 0x31) units += 2 ** i;
  return now + units * ladder.unitMs;
}

/**
 * The level queues to browse: the shortest-delay levels holding up to {@link BROWSE_MAX}
 * messages, in the order to read them, longest delay first. Messages only move down a
 * ladder, and a message taken stays put until given back, so read in that order every message
 * of a chosen level is met once: one leaving a level not yet read lands in a lower one, also
 * not yet read (or leaves the ladder, due).
 */
function browseOrder(levels: readonly { ladder: DelayLadder; level: number; count: number }[]): { ladder: DelayLadder; level: number }[] {
  const bySoonest = levels.filter((l) => l.count > 0).sort((a, b) => a.ladder.unitMs * 2 ** a.level - b.ladder.unitMs * 2 ** b.level);
  const chosen: { ladder: DelayLadder; level: number }[] = [];
  let held = 0;
  for (const l of bySoonest) {
    if (held >= BROWSE_MAX) break;
    chosen.push(l);
    held += l.count;
  }
  return chosen.reverse();
}

/**
 * The delayed messages of `queues` (null: of every queue) among the first {@link BROWSE_MAX}
 * messages of the ladders (soonest-delay levels first), earliest first, at most `limit`.
 */
export async function listDelayed(session: AmqpSession, queues: readonly string[] | null, limit: number, now: () => number): Promise<DelayedRecord[]> {
  if (limit <= 0) return [];
  return withLadderLock(session, () => browse(session, queues, limit, now));
}

/** Whether a taken message shows its queue counts deliveries (a quorum queue's header, 0 on a first delivery). */
const countsDeliveries = (msg: GetMessage): boolean => {
  const headers = msg.properties.headers as Record<string, unknown> | undefined | null;
  return headers !== null && typeof headers === 'object' && headers['x-delivery-count'] !== undefined;
};

/** Level queues found to be quorum, per session: never browsed again. */
const quorumLevels = new WeakMap<AmqpSession, Set<string>>();

async function browse(session: AmqpSession, queues: readonly string[] | null, limit: number, now: () => number): Promise<DelayedRecord[]> {
  const wanted = queues === null ? null : new Set(queues);
  const quorum = quorumLevels.get(session) ?? new Set<string>();
  quorumLevels.set(session, quorum);
  const levels = browseOrder((await ladderCounts(session)).filter((l) => l.ladder !== KOMBU_LADDER && !quorum.has(l.ladder.levelName(l.level))));
  const ch: Channel = await session.openChannel();
  ch.on('error', () => undefined);
  const out: DelayedRecord[] = [];
  let browsed = 0;
  try {
    for (const { ladder, level } of levels) {
      for (; browsed < BROWSE_MAX; browsed++) {
        const msg = await ch.get(ladder.levelName(level), { noAck: false });
        if (msg === false) break;
        if (countsDeliveries(msg)) {
          quorum.add(ladder.levelName(level));
          break;
        }
        const record = recordOf(msg, ladder, level, now());
        if (record !== null && (wanted === null || wanted.has(record.queue))) out.push(record);
      }
    }
  } finally {
    // Closing the channel gives back every message it took.
    await ch.close().catch(() => undefined);
  }
  return out.sort((a, b) => a.deliverAt - b.deliverAt).slice(0, limit);
}

/** A browsed message as listed; null when its routing key names no queue or its envelope cannot be made. */
function recordOf(msg: GetMessage, ladder: DelayLadder, level: number, now: number): DelayedRecord | null {
  const queue = targetOfDelayKey(ladder, msg.fields.routingKey);
  if (queue === null) return null;
  try {
    const raw = envelopeOf(msg, String(msg.fields.deliveryTag), false, { exchange: '', routingKey: queue });
    return { raw, queue, deliverAt: dueOf(msg) ?? latestDue(ladder, level, msg.fields.routingKey, now) };
  } catch {
    return null;
  }
}
