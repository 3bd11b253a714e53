/**
 * @module worker/control/request-info
 * The dicts inspect replies are made of (docs/protocol.md §5.4): a request's `info()`
 * and a kombu queue's `as_dict()`.
 */
import { isoformatUtc } from '../../protocol/time.js';
import type { Json, JsonObject } from '../../protocol/types.js';
import type { HeldRequest, ScheduledRequest } from './control-target.js';

/** Celery's `Request.info()` for a held request. */
export function requestInfo(request: HeldRequest, hostname: string): JsonObject {
  const h = request.message.headers;
  return {
    id: h.id,
    name: h.task,
    args: request.message.args,
    kwargs: request.message.kwargs,
    type: h.task,
    hostname,
    time_start: request.startedAt === null ? null : request.startedAt / 1000,
    acknowledged: request.acknowledged,
    delivery_info: { exchange: '', routing_key: request.queue, priority: request.message.properties.priority, redelivered: request.redelivered },
    worker_pid: request.startedAt === null ? null : process.pid,
  };
}

/** One entry of the `scheduled` reply. */
export function scheduledInfo(entry: ScheduledRequest, hostname: string): JsonObject {
  const request: HeldRequest = { message: entry.message, state: 'reserved', startedAt: null, acknowledged: false, queue: entry.queue, redelivered: false };
  return { eta: isoformatUtc(entry.deliverAt), priority: entry.priority, request: requestInfo(request, hostname) };
}

/** kombu's `Queue.as_dict(recurse=True)` for a queue bound to its own direct exchange. */
export function queueInfo(name: string): JsonObject {
  const nulls = (...keys: string[]): Record<string, Json> => Object.fromEntries(keys.map((k) => [k, null]));
  return {
    name,
    exchange: { name, type: 'direct', arguments: null, durable: true, passive: false, auto_delete: false, delivery_mode: null, no_declare: false },
    routing_key: name,
    ...nulls('queue_arguments', 'binding_arguments', 'consumer_arguments'),
    durable: true,
    exclusive: false,
    auto_delete: false,
    no_ack: false,
    alias: null,
    bindings: [],
    no_declare: null,
    ...nulls('expires', 'message_ttl', 'max_length', 'max_length_bytes', 'max_priority'),
  };
}
