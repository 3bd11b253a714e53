/**
 * @module core/queue-topology
 * How task queues are declared, from the settings Celery 5.5+ uses for it: the queue type
 * (`classic`, or `quorum`: replicated on a RabbitMQ cluster), the type of the exchange a
 * queue is bound to, and each queue's own arguments. Only brokers that have queue types
 * (RabbitMQ) read it. Pure: settings in, a frozen description out.
 *
 * | setting | Celery's | applies to |
 * |---|---|---|
 * | `taskDefaultQueueType` | `task_default_queue_type` | the default queue (`taskDefaultQueue`) |
 * | `taskCreateMissingQueueType` | `task_create_missing_queue_type` | every other queue declared on use |
 * | `taskDefaultExchangeType` | `task_default_exchange_type` | the exchange of the default queue |
 * | `taskQueues` | `task_queues` (`queue_arguments`, `exchange.type`) | the queues it names, over the two above |
 */
import type { Json } from '../protocol/types.js';

/** RabbitMQ's queue types Celery declares. */
export type QueueType = 'classic' | 'quorum';
/** Exchange types a task queue can be bound to. */
export type ExchangeType = 'direct' | 'topic' | 'fanout';

/** One entry of `taskQueues`: Celery's `Queue(name, Exchange(name, type), queue_arguments=...)`. */
export interface TaskQueueOptions {
  /** `x-*` arguments, as Celery's `queue_arguments` (`x-queue-type`, `x-delivery-limit`, ...). */
  readonly queueArguments?: { readonly [key: string]: Json };
  /** The type of the queue's exchange (named as the queue). @default 'direct' */
  readonly exchangeType?: ExchangeType;
}

/** What a broker needs to declare task queues. */
export interface QueueTopology {
  readonly defaultQueue: string;
  readonly defaultQueueType: QueueType;
  readonly defaultExchangeType: ExchangeType;
  readonly missingQueueType: QueueType;
  readonly queues: { readonly [name: string]: TaskQueueOptions };
  /**
   * Celery's `worker_detect_quorum_queues`: a queue that exists as a quorum queue though
   * configured classic is used as it is (with a warning) instead of failing.
   */
  readonly detectQuorumQueues: boolean;
}

/** One task queue resolved. */
export interface TaskQueuePlan {
  readonly type: QueueType;
  readonly exchangeType: ExchangeType;
  /** The queue's own arguments (with `x-queue-type` when quorum). */
  readonly arguments: { readonly [key: string]: Json };
  /** `x-delivery-limit` of a quorum queue, or null. */
  readonly deliveryLimit: number | null;
}

/** Classic queues, direct exchanges, nothing per queue: Celery's defaults. */
export const CLASSIC_TOPOLOGY: QueueTopology = Object.freeze({
  defaultQueue: 'celery',
  defaultQueueType: 'classic',
  defaultExchangeType: 'direct',
  missingQueueType: 'classic',
  queues: Object.freeze({}),
  detectQuorumQueues: true,
});

/** How `queue` is declared under `topology`. */
export function planTaskQueue(topology: QueueTopology, queue: string): TaskQueuePlan {
  const own = Object.hasOwn(topology.queues, queue) ? topology.queues[queue] : undefined;
  const isDefault = queue === topology.defaultQueue;
  const args: { [key: string]: Json } = { ...(own?.queueArguments ?? {}) };
  const named = args['x-queue-type'];
  const type: QueueType = named === 'quorum' || named === 'classic' ? named : isDefault ? topology.defaultQueueType : topology.missingQueueType;
  // Celery writes `x-queue-type` only for quorum queues; a classic queue has none (a 5.2 fleet's).
  if (type === 'quorum') args['x-queue-type'] = 'quorum';
  else if (named === 'classic') delete args['x-queue-type'];
  const limit = args['x-delivery-limit'];
  return {
    type,
    exchangeType: own?.exchangeType ?? (isDefault ? topology.defaultExchangeType : 'direct'),
    arguments: args,
    deliveryLimit: type === 'quorum' && typeof limit === 'number' && Number.isInteger(limit) && limit >= 0 ? limit : null,
  };
}

/** True when any queue the topology names is a quorum queue (Celery's `detect_quorum_queues`). */
export function usesQuorumQueues(topology: QueueTopology): boolean {
  if (topology.defaultQueueType === 'quorum' || topology.missingQueueType === 'quorum') return true;
  return Object.keys(topology.queues).some((q) => planTaskQueue(topology, q).type === 'quorum');
}

const QUEUE_TYPES: readonly string[] = ['classic', 'quorum'];
const EXCHANGE_TYPES: readonly string[] = ['direct', 'topic', 'fanout'];

/** Check of `taskDefaultQueueType` / `taskCreateMissingQueueType`. */
export function queueTypeProblem(value: string): string | null {
  return QUEUE_TYPES.includes(value) ? null : "must be 'classic' or 'quorum'";
}

/** Check of `taskDefaultExchangeType`. */
export function exchangeTypeProblem(value: string): string | null {
  return EXCHANGE_TYPES.includes(value) ? null : "must be 'direct', 'topic' or 'fanout'";
}

/** Check of `taskQueues`. */
export function taskQueuesProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be an object of queue name -> { queueArguments?, exchangeType? }';
  for (const [name, entry] of Object.entries(value)) {
    const where = `queue ${JSON.stringify(name)}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return `${where} must be an object { queueArguments?, exchangeType? }`;
    const extra = Object.keys(entry).find((k) => k !== 'queueArguments' && k !== 'exchangeType');
    if (extra !== undefined) return `${where}: unknown name ${extra} (expected queueArguments, exchangeType)`;
    const { queueArguments: args, exchangeType } = entry as { queueArguments?: unknown; exchangeType?: unknown };
    if (exchangeType !== undefined && (typeof exchangeType !== 'string' || exchangeTypeProblem(exchangeType) !== null)) return `${where}: exchangeType must be 'direct', 'topic' or 'fanout'`;
    if (args === undefined) continue;
    if (typeof args !== 'object' || args === null || Array.isArray(args)) return `${where}: queueArguments must be an object of x-* arguments`;
    const type = (args as Record<string, unknown>)['x-queue-type'];
    if (type !== undefined && (typeof type !== 'string' || !QUEUE_TYPES.includes(type))) return `${where}: x-queue-type must be 'classic' or 'quorum' (streams are not task queues)`;
    const limit = (args as Record<string, unknown>)['x-delivery-limit'];
    if (limit !== undefined && !(Number.isInteger(limit) && (limit as number) >= 0)) return `${where}: x-delivery-limit must be an integer, 0 or more`;
  }
  return null;
}

/** The topology the settings describe. */
export function queueTopologyOf(s: {
  readonly taskDefaultQueue: string;
  readonly taskDefaultQueueType: QueueType;
  readonly taskDefaultExchangeType: ExchangeType;
  readonly taskCreateMissingQueueType: QueueType;
  readonly taskQueues: { readonly [name: string]: TaskQueueOptions };
  readonly workerDetectQuorumQueues: boolean;
}): QueueTopology {
  return Object.freeze({
    defaultQueue: s.taskDefaultQueue,
    defaultQueueType: s.taskDefaultQueueType,
    defaultExchangeType: s.taskDefaultExchangeType,
    missingQueueType: s.taskCreateMissingQueueType,
    queues: s.taskQueues,
    detectQuorumQueues: s.workerDetectQuorumQueues,
  });
}
