/**
 * @module brokers/amqp/purge-delayed
 * Purging a queue's delayed messages out of the delay ladder (delayed.ts), whose level
 * queues are shared by every target queue: RabbitMQ cannot remove chosen messages from the
 * middle of a queue, so each level queue is walked once, head to tail:
 * - a message for the purged queue is acked (dropped);
 * - any other message is published again into the ladder with what is left of its delay
 *   (from the {@link DELIVER_AT_HEADER} every ladder publish carries) and acked; a message
 *   without that header (from an older Celeriac) goes back into the same level with its
 *   routing key, so it keeps its path and waits at most one level's time longer.
 * Each step's publish and ack commit together (tx channel, amqp/tx.ts), so a purge cut off
 * half-way loses and duplicates nothing. Levels are walked from the longest delay down, the
 * way messages move, so a message that expires into a lower level during the walk is still
 * met there; one that leaves the ladder into its queue is removed by the purge of the queue
 * that follows. Messages published during the purge are not purged.
 */
import type { Channel, GetMessage, Options } from 'amqplib';
import type { AmqpSession } from '../../amqp/session.js';
import { plainValue } from '../../amqp/tables.js';
import { txCommit, txSelect } from '../../amqp/tx.js';
import { fromWire, toWire } from '../../amqp/wire.js';
import type { Clock } from '../../core/clock.js';
import { CeleriacError, ErrorCodes, coerceError } from '../../errors.js';
import { delayRoutingKey, entryExchange, targetOfDelayKey, type DelayLadder } from './delayed.js';
import { existingLadders } from './ladder-declare.js';
import { withLadderLock } from './ladder-lock.js';

/** Header of every ladder publish: when the message is due (epoch ms). Dropped on delivery (amqp/wire.ts). */
export const DELIVER_AT_HEADER = 'x-celeriac-deliver-at';
/** Steps committed at once. */
const BATCH = 100;

/** Drops `queue`'s messages from every ladder there is, one reader of the ladders at a time (ladder-lock.ts); returns how many. */
export async function purgeLadders(session: AmqpSession, queue: string, clock: Pick<Clock, 'now'>): Promise<number> {
  return withLadderLock(session, async () => {
    let dropped = 0;
    for (const ladder of await existingLadders(session)) dropped += await purgeDelayed(session, ladder, queue, clock);
    return dropped;
  });
}

/**
 * Drops the ladder's messages for `queue`; returns how many. A failure half-way (the
 * connection lost) keeps every committed step and undoes the rest; the error says how many
 * were dropped before it.
 */
export async function purgeDelayed(session: AmqpSession, ladder: DelayLadder, queue: string, clock: Pick<Clock, 'now'>): Promise<number> {
  const ch = await session.openChannel();
  ch.on('error', () => undefined);
  const dropped = { committed: 0 };
  try {
    await txSelect(ch);
    for (let level = ladder.levels - 1; level >= 0; level--) await walkLevel(ch, ladder, level, queue, clock, dropped);
    return dropped.committed;
  } catch (err) {
    const e = coerceError(err);
    throw new CeleriacError(ErrorCodes.TRANSPORT, `RabbitMQ: purge of ${queue}'s delayed messages stopped after dropping ${dropped.committed} (the others are untouched): ${e.message}`, { cause: e });
  } finally {
    await ch.close().catch(() => undefined);
  }
}

async function walkLevel(ch: Channel, ladder: DelayLadder, level: number, queue: string, clock: Pick<Clock, 'now'>, dropped: { committed: number }): Promise<void> {
  const name = ladder.levelName(level);
  const { messageCount } = await ch.checkQueue(name);
  let batch = 0;
  let pending = 0;
  for (let i = 0; i < messageCount; i++) {
    const msg = await ch.get(name, { noAck: false });
    if (msg === false) break;
    if (targetOfDelayKey(ladder, msg.fields.routingKey) === queue) batch++;
    else sendOn(ch, ladder, msg, level, clock.now());
    ch.ack(msg);
    if (++pending >= BATCH) {
      await txCommit(ch);
      dropped.committed += batch;
      [pending, batch] = [0, 0];
    }
  }
  if (pending > 0) {
    await txCommit(ch);
    dropped.committed += batch;
  }
}

/** Publishes a message of another queue back into the ladder, keeping its due time. */
function sendOn(ch: Channel, ladder: DelayLadder, msg: GetMessage, level: number, now: number): void {
  const headers = (msg.properties.headers ?? {}) as Record<string, unknown>;
  const deliverAt = Number(plainValue(headers[DELIVER_AT_HEADER]));
  const target = targetOfDelayKey(ladder, msg.fields.routingKey);
  if (!Number.isFinite(deliverAt) || target === null) {
    ch.publish(ladder.levelName(level), msg.fields.routingKey, msg.content, msg.properties as Options.Publish);
    return;
  }
  const wire = toWire(fromWire(msg), { dropExpiration: true, extraHeaders: { [DELIVER_AT_HEADER]: deliverAt } });
  ch.publish(entryExchange(ladder), delayRoutingKey(ladder, deliverAt - now, target), wire.content, wire.options);
}
