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
 */
import type { Channel } from 'amqplib';
import type { ChannelSlot } from '../../amqp/channel-slot.js';
import { typeTable } from '../../amqp/tables.js';
import type { SetAsideCategory, SetAsideQuotas } from '../../core/set-aside.js';
import type { TransportLog } from '../../core/transport-table.js';

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
