/**
 * @module brokers/amqp/set-aside-queues
 * Where the RabbitMQ broker parks the messages a worker sets aside, and how much each place
 * holds. Two durable classic queues, as the Redis broker's store has two parts
 * (core/set-aside.ts), so a flood of garbage never pushes out a dead letter, often the only
 * copy of its task:
 *
 * | category | queue | bounds (broker transport options) |
 * | --- | --- | --- |
 * | malformed | `celeriac.set-aside` | `setAsideMaxCount`, `setAsideMaxBytes` |
 * | dead-letter | `celeriac.deadletters` | `deadLetterMaxCount`, `deadLetterMaxBytes` |
 *
 * The bounds are the queue's `x-max-length` and `x-max-length-bytes` (bodies only): past
 * either RabbitMQ drops the oldest message itself (its default overflow, drop-head). Without
 * them a poison flood filled RabbitMQ's disk until its disk alarm blocked every publisher of
 * the fleet. A queue made before with other arguments (an older Celeriac made it unbounded;
 * other bounds) cannot be changed by a declaration: it is used as it is, with a warning.
 *
 * A copy keeps no `expiration` (RabbitMQ would drop it from the queue once the task's own
 * `expires` passed), and a body past its part's record bound (a sixteenth of its bytes, 1 KiB
 * to 4 MiB, as the Redis store's) is cut to it, its whole size in `x-celeriac-set-aside-truncated`:
 * a body past the queue's bytes would be dropped at once, and nothing said what it was.
 */
import type { Channel } from 'amqplib';
import type { ChannelSlot } from '../../amqp/channel-slot.js';
import { typeTable } from '../../amqp/tables.js';
import { toWire, type WireOut } from '../../amqp/wire.js';
import type { SetAsideCategory, SetAsideQuotas } from '../../core/set-aside.js';
import type { TransportLog } from '../../core/transport-table.js';
import type { Message } from '../../protocol/types.js';

/** Where malformed messages are set aside (durable; inspect with `rabbitmqctl list_queues`). */
export const SET_ASIDE_QUEUE = 'celeriac.set-aside';
/** Where dead letters are set aside: valid tasks past `workerMaxDeliveries` or a quorum queue's delivery limit. */
export const DEAD_LETTER_QUEUE = 'celeriac.deadletters';

/** The queue of a category (malformed when none is given). */
export function setAsideQueueOf(category: SetAsideCategory | undefined): string {
  return category === 'dead-letter' ? DEAD_LETTER_QUEUE : SET_ASIDE_QUEUE;
}

/**
 * Declares the queue of `category` with its part's bounds on `ch`. One that exists with other
 * arguments (RabbitMQ's 406, which closes `ch`) is checked on a fresh channel of `admin` and
 * used as it is, with a warning naming what to do.
 */
export async function declareSetAsideQueue(ch: Channel, admin: ChannelSlot<Channel>, category: SetAsideCategory, quotas: SetAsideQuotas, log: TransportLog): Promise<void> {
  const queue = setAsideQueueOf(category);
  const { maxCount, maxBytes } = quotas[category];
  try {
    await ch.assertQueue(queue, { durable: true, autoDelete: false, exclusive: false, arguments: typeTable({ 'x-max-length': maxCount, 'x-max-length-bytes': maxBytes }) });
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown } | null;
    if (e?.code !== 406 || typeof e.message !== 'string' || !e.message.includes("inequivalent arg 'x-max-length")) throw err;
    await admin.runIdempotent((next) => next.checkQueue(queue));
    const [count, bytes] = category === 'dead-letter' ? ['deadLetterMaxCount', 'deadLetterMaxBytes'] : ['setAsideMaxCount', 'setAsideMaxBytes'];
    log('warn', `queue ${queue} exists with other bounds than ${count} ${maxCount} and ${bytes} ${maxBytes} (an older Celeriac made it unbounded, or other settings): set-aside messages go there as it is; to bound it, delete it once empty (rabbitmqctl delete_queue ${queue} --if-empty) or set a RabbitMQ max-length policy`, { queue });
  }
}

/** The wire form of the copy of `message` set aside from `queue` (see the module comment). */
export function setAsideWire(message: Message, queue: string, reason: string, category: SetAsideCategory, quotas: SetAsideQuotas, timestamp: number): WireOut {
  const size = Buffer.byteLength(message.body, 'utf8');
  const bound = quotas[category].maxRecordBytes;
  const headers = { 'x-celeriac-set-aside-reason': reason, 'x-celeriac-set-aside-from': queue, ...(size > bound ? { 'x-celeriac-set-aside-truncated': size } : {}) };
  const kept = size > bound ? { ...message, body: utf8Start(message.body, bound) } : message;
  return toWire(kept, { extraHeaders: headers, timestamp, dropExpiration: true });
}

/** The longest start of `text` of at most `bytes` UTF-8 bytes, never cutting a character. */
function utf8Start(text: string, bytes: number): string {
  const all = Buffer.from(text, 'utf8');
  let end = bytes;
  // A continuation byte (10xxxxxx) next: its character began before `end`, so it goes too.
  while (end > 0 && ((all[end] ?? 0) & 0xc0) === 0x80) end--;
  return all.subarray(0, end).toString('utf8');
}
