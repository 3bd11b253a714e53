/**
 * @module amqp/topology
 * Queues and exchanges declared exactly as Celery 5.2.6 declares them on RabbitMQ
 * (docs/protocol-amqp.md §1.1, §1.2): the same durability, auto-delete flags and `x-*`
 * arguments, because RabbitMQ refuses a re-declaration that differs (406) and a Python
 * worker dies of it. Pure: names in, declarations out.
 *
 * | entity | declared as |
 * |---|---|
 * | task queue `<q>` | durable, plus `x-max-priority` when configured (Celery's `task_queue_max_priority`) or `x-queue-type: quorum` (brokers/amqp/queue-types.ts); bound to durable exchange `<q>` (direct unless configured) with key `<q>` |
 * | event exchange `celeryev` | topic, durable |
 * | event receiver queue | non-durable, auto-delete, `x-message-ttl` 5000, `x-expires` 60000 |
 * | control exchange `celery.pidbox` | fanout, non-durable |
 * | mailbox `<node>.celery.pidbox`, reply queue `<oid>.reply.celery.pidbox` | non-durable, auto-delete, `x-message-ttl` 300000, `x-expires` 10000 |
 * | reply exchange `reply.celery.pidbox` | direct, non-durable |
 * | rpc result queue `<oid>` | non-durable, auto-delete, `x-expires` = result_expires in ms |
 */
import type { Json } from '../protocol/types.js';
import { TTL_MAX_MS } from './limits.js';

/** A queue declaration. */
export interface QueueSpec {
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly arguments: { readonly [key: string]: Json };
}

/** An exchange declaration. */
export interface ExchangeSpec {
  readonly type: 'direct' | 'topic' | 'fanout';
  readonly durable: boolean;
}

/** Celery's event exchange. */
export const EVENT_EXCHANGE_SPEC: ExchangeSpec = { type: 'topic', durable: true };
/** Arguments of an event receiver's queue (and a worker's gossip queue). */
export const EVENT_QUEUE_SPEC: QueueSpec = { durable: false, autoDelete: true, arguments: { 'x-message-ttl': 5000, 'x-expires': 60000 } };
/** Arguments of mailbox and pidbox reply queues. */
export const PIDBOX_QUEUE_SPEC: QueueSpec = { durable: false, autoDelete: true, arguments: { 'x-message-ttl': 300000, 'x-expires': 10000 } };

/** The rpc:// result queue of a client: `x-expires` is `result_expires` in ms (none when null). */
export function rpcQueueSpec(resultExpiresSec: number | null): QueueSpec {
  // Past RabbitMQ's longest (limits.ts), the declaration was refused (406) and no result came back.
  return { durable: false, autoDelete: true, arguments: resultExpiresSec === null ? {} : { 'x-expires': Math.min(TTL_MAX_MS, Math.round(resultExpiresSec * 1000)) } };
}

/** True for pidbox queues (mailboxes and reply queues), which Celery declares with TTLs. */
export function isPidboxQueue(queue: string): boolean {
  return queue.endsWith('.pidbox');
}

/**
 * The declaration Celery uses for an exchange of this name. `use` says what it is for when
 * the name is not one of Celery's: pub/sub (`topic`) or a binding target (`direct`).
 */
export function exchangeSpecFor(exchange: string, use: 'pubsub' | 'direct'): ExchangeSpec {
  if (exchange === 'celeryev') return EVENT_EXCHANGE_SPEC;
  if (exchange.startsWith('reply.') && exchange.endsWith('.pidbox')) return { type: 'direct', durable: false };
  if (exchange.endsWith('.pidbox')) return { type: 'fanout', durable: false };
  return use === 'pubsub' ? { type: 'topic', durable: false } : { type: 'direct', durable: false };
}
