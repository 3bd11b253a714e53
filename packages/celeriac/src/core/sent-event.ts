/**
 * @module core/sent-event
 * The `task-sent` event a producer sends after publishing a task when `taskSendSentEvent`
 * is on (docs/protocol.md §4.3). Receivers override its clock (producers do not sync
 * clocks), so each producer host simply counts its own.
 */
import { randomUUID } from 'node:crypto';
import { buildEvent, encodeEventEnvelope, EVENT_EXCHANGE, utcOffsetHours } from '../protocol/events.js';
import { LamportClock } from '../protocol/lamport-clock.js';
import type { Clock } from './clock.js';
import type { OutgoingTask } from './producer.js';
import type { Broker } from './spi/broker.js';

const clocks = new WeakMap<Broker, LamportClock>();

/** Publishes `task-sent` for a published task. Never throws: an event is not worth a failed send. */
export async function sendTaskSentEvent(broker: Broker, clock: Clock, out: OutgoingTask, onError: (err: unknown) => void): Promise<void> {
  let lamport = clocks.get(broker);
  if (lamport === undefined) clocks.set(broker, (lamport = new LamportClock()));
  const h = out.message.headers;
  const now = clock.now();
  const event = buildEvent(
    'task-sent',
    { hostname: h.origin, utcoffset: utcOffsetHours(new Date(now).getTimezoneOffset()), pid: process.pid, clock: lamport.forward(), timestamp: now / 1000 },
    {
      uuid: h.id, root_id: h.root_id, parent_id: h.parent_id, name: h.task, args: h.argsrepr, kwargs: h.kwargsrepr, retries: h.retries,
      eta: h.eta, expires: h.expires, queue: out.route.queue, exchange: out.route.exchange, routing_key: out.route.routingKey,
      // Not in Celery's event (monitors ignore unknown fields): lets a dashboard find a group's members.
      group: h.group ?? undefined,
    },
  );
  try {
    const raw = encodeEventEnvelope(event, { hostname: h.origin, routingKey: 'task.sent', deliveryTag: randomUUID() });
    await broker.publishFanout(EVENT_EXCHANGE, 'task.sent', raw);
  } catch (err) {
    onError(err);
  }
}
