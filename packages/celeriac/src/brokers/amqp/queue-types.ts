/**
 * @module brokers/amqp/queue-types
 * Task queue declarations by queue type (core/queue-topology.ts) and what to do when a queue
 * already exists with another type. RabbitMQ cannot change a queue's type: re-declaring it
 * otherwise is a 406 (`inequivalent arg 'x-queue-type'`) that closes the channel. The stated
 * behaviour:
 *
 * | configured | exists as | outcome |
 * |---|---|---|
 * | classic | quorum | with `workerDetectQuorumQueues` (default): used as it is, a warning, per-consumer prefetch; else a CONFIG error |
 * | quorum | classic | a CONFIG error naming the queue and the ways out (nothing would be replicated) |
 *
 * A quorum queue has no `x-max-priority` (RabbitMQ 3.x refuses it on quorum queues), so
 * `queueMaxPriority` applies to classic queues only.
 */
import type { QueueSpec } from '../../amqp/topology.js';
import type { QueueType, TaskQueuePlan } from '../../core/queue-topology.js';
import { CeleriacError, ErrorCodes } from '../../errors.js';

/** The declaration of a task queue of this plan. */
export function taskQueueSpecOf(plan: TaskQueuePlan, maxPriority: number | null): QueueSpec {
  if (plan.type === 'quorum' || maxPriority === null) return { durable: true, autoDelete: false, arguments: plan.arguments };
  return { durable: true, autoDelete: false, arguments: { ...plan.arguments, 'x-max-priority': maxPriority } };
}

/**
 * The type a queue exists with, read from RabbitMQ's 406 on a declaration of another type
 * (`... received none but current is the value 'quorum' of type 'longstr'`, `... received 'classic'
 * but current is 'quorum'`, `... but current is none`), or null when the error is another.
 */
export function existingTypeOf(err: unknown): QueueType | null {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (e?.code !== 406 || typeof e.message !== 'string' || !e.message.includes("inequivalent arg 'x-queue-type'")) return null;
  const current = /but current is (?:the value )?(?:'([a-z]+)'|none)/.exec(e.message);
  if (current === null) return null;
  const type = current[1] ?? 'classic';
  return type === 'quorum' ? 'quorum' : type === 'classic' ? 'classic' : null;
}

/** The CONFIG error of a queue that exists with a type other than the configured one. */
export function typeMismatchError(queue: string, configured: QueueType, existing: QueueType, cause: unknown): CeleriacError {
  const way =
    configured === 'quorum'
      ? `RabbitMQ cannot turn it into a quorum queue: drain it and delete it (rabbitmqctl delete_queue ${queue}) so it is declared again as quorum, or send to a queue of a new name, or configure it classic (taskQueues / taskDefaultQueueType)`
      : 'configure it quorum (taskQueues / taskDefaultQueueType), as the fleet that made it does, or leave workerDetectQuorumQueues on to use it as it is';
  return new CeleriacError(ErrorCodes.CONFIG, `queue ${JSON.stringify(queue)} exists as a ${existing} queue but is configured ${configured}: ${way}`, { cause });
}
