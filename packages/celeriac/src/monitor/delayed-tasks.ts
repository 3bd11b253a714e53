/**
 * @module monitor/delayed-tasks
 * The ETA / countdown tasks a broker holds for later delivery, as a monitor shows them (the
 * dashboard's broker and tasks pages): read through the broker's delayed-listing role
 * (core/spi/roles.ts) and decoded here, so the dashboard never parses an envelope itself.
 */
import { delayedListingOf } from '../core/spi/roles.js';
import type { Broker, DelayedRecord } from '../core/spi/broker.js';
import { decodeEnvelope } from '../protocol/envelope.js';
import { pyRepr } from '../protocol/repr.js';
import { decodeTaskMessage } from '../protocol/task-message.js';

/** One delayed task message. */
export interface DelayedTask {
  readonly id: string;
  readonly name: string;
  readonly queue: string;
  /** Epoch ms when the broker hands it to its queue. */
  readonly deliverAt: number;
  readonly priority: number;
  /** Python reprs of the arguments, as task events carry them (the sender's `argsrepr` when given). */
  readonly args: string;
  readonly kwargs: string;
}

/** What a broker holds for later delivery. */
export interface DelayedTasks {
  /** Every delayed message of every queue, or null when the broker does not count them. */
  readonly total: number | null;
  /** The earliest ones, at most the limit asked for (unreadable messages left out). */
  readonly tasks: DelayedTask[];
}

/** A listed record as a task, or null when its envelope is not a readable task message. */
export function delayedTaskOf(record: DelayedRecord): DelayedTask | null {
  try {
    const m = decodeTaskMessage(decodeEnvelope(record.raw).message);
    const h = m.headers;
    return {
      id: h.id,
      name: h.task,
      queue: record.queue,
      deliverAt: record.deliverAt,
      priority: m.properties.priority,
      args: h.argsrepr !== '' ? h.argsrepr : pyRepr(m.args),
      kwargs: h.kwargsrepr !== '' ? h.kwargsrepr : pyRepr(m.kwargs),
    };
  } catch {
    return null;
  }
}

/**
 * The earliest `limit` delayed tasks of every queue and how many there are; null when the
 * broker has no delayed listing (nothing to show, as `inspect scheduled` then).
 */
export async function readDelayedTasks(broker: Broker, limit: number): Promise<DelayedTasks | null> {
  const listing = delayedListingOf(broker);
  if (listing === undefined) return null;
  const [records, total] = await Promise.all([listing.delayedMessages(null, limit), listing.delayedCount?.() ?? Promise.resolve(null)]);
  const tasks: DelayedTask[] = [];
  for (const r of records) {
    const t = delayedTaskOf(r);
    if (t !== null) tasks.push(t);
  }
  // The count is read beside the listing and may lag it (a RabbitMQ queue's message count trails
  // the messages just published to it): there are never fewer than were read.
  return { total: total === null ? null : Math.max(total, records.length), tasks };
}
