/**
 * @module brokers/amqp/list-delayed
 * What the delay ladders (delayed.ts) hold, for `inspect scheduled`, `query_task` and the
 * dashboard, with no management plugin:
 * - counts: a passive `queue.declare` of every level queue (all target queues together);
 * - messages: RabbitMQ cannot show a message without taking it, so level queues are browsed,
 *   lowest level (soonest due) first: messages are taken with `basic.get`, unacknowledged,
 *   and all given back at once when the channel closes. A returned message keeps its place
 *   and its expiry (classic queues put it back where it was; quorum queues deliver returns
 *   first), so browsing only holds it back for the milliseconds the browse takes.
 * Both ladders are read where they exist, so an app on classic queues also sees what Celery
 * 5.6 or a quorum-queue app delayed in `celery_delayed_*`. Listings and purges take turns
 * (ladder-lock.ts). Limit, documented in docs/brokers-and-backends.md: at most
 * {@link BROWSE_MAX} messages are read per listing (the rest are only counted).
 */
import type { Channel, GetMessage } from 'amqplib';
import type { AmqpSession } from '../../amqp/session.js';
import { plainValue } from '../../amqp/tables.js';
import { envelopeOf, fromWire } from '../../amqp/wire.js';
import type { DelayedRecord } from '../../core/spi/broker.js';
import { parseIsoTime } from '../../protocol/time.js';
import { targetOfDelayKey, type DelayLadder } from './delayed.js';
import { existingLadders } from './ladder-declare.js';
import { withLadderLock } from './ladder-lock.js';
import { DELIVER_AT_HEADER } from './purge-delayed.js';

/** Most messages one listing takes from the level queues. */
export const BROWSE_MAX = 1000;

/** Ready messages of each level queue of each ladder that exists. */
async function ladderCounts(session: AmqpSession): Promise<{ ladder: DelayLadder; level: number; count: number }[]> {
  const model = await session.connection();
  const out: { ladder: DelayLadder; level: number; count: number }[] = [];
  for (const ladder of await existingLadders(session)) {
    const ch = await model.createChannel();
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

/** When a browsed message is due: the header every Celeriac ladder publish carries, else its task `eta`. */
function dueOf(msg: GetMessage): number | null {
  const header = (msg.properties.headers as Record<string, unknown> | undefined)?.[DELIVER_AT_HEADER];
  const at = header === undefined || header === null ? NaN : Number(plainValue(header));
  if (Number.isFinite(at)) return at;
  const eta = fromWire(msg).headers['eta'];
  if (typeof eta !== 'string') return null;
  const etaAt = parseIsoTime(eta);
  return Number.isFinite(etaAt) ? etaAt : null;
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
export async function listDelayed(session: AmqpSession, queues: readonly string[] | null, limit: number): Promise<DelayedRecord[]> {
  if (limit <= 0) return [];
  return withLadderLock(session, () => browse(session, queues, limit));
}

async function browse(session: AmqpSession, queues: readonly string[] | null, limit: number): Promise<DelayedRecord[]> {
  const wanted = queues === null ? null : new Set(queues);
  const levels = browseOrder(await ladderCounts(session));
  const model = await session.connection();
  const ch: Channel = await model.createChannel();
  ch.on('error', () => undefined);
  const out: DelayedRecord[] = [];
  let browsed = 0;
  try {
    for (const { ladder, level } of levels) {
      for (; browsed < BROWSE_MAX; browsed++) {
        const msg = await ch.get(ladder.levelName(level), { noAck: false });
        if (msg === false) break;
        const queue = targetOfDelayKey(ladder, msg.fields.routingKey);
        const deliverAt = dueOf(msg);
        if (queue === null || deliverAt === null || (wanted !== null && !wanted.has(queue))) continue;
        out.push({ raw: envelopeOf(msg, String(msg.fields.deliveryTag), false, { exchange: '', routingKey: queue }), queue, deliverAt });
      }
    }
  } finally {
    // Closing the channel gives back every message it took.
    await ch.close().catch(() => undefined);
  }
  return out.sort((a, b) => a.deliverAt - b.deliverAt).slice(0, limit);
}
