/**
 * @module brokers/amqp/consumer-host
 * What a RabbitMQ consumer (amqp-consumer.ts) needs from its broker (amqp-broker.ts).
 */
import type { AmqpSession } from '../../amqp/session.js';
import type { Clock } from '../../core/clock.js';
import type { QueueType } from '../../core/queue-topology.js';
import type { Consumer, Settlement } from '../../core/spi/broker.js';
import type { TransportLog } from '../../core/transport-table.js';
import type { Message } from '../../protocol/types.js';
import type { DelayLadder } from './delayed.js';

/** What a consumer needs from its broker. */
export interface ConsumerHost {
  readonly session: AmqpSession;
  readonly log: TransportLog;
  /** Reads the time settlements are remembered at. */
  readonly clock: Pick<Clock, 'now'>;
  /** The delay ladder in use (to tell a delivery's target queue from its routing key). */
  readonly ladder: DelayLadder;
  /** False when consumers must use per-consumer prefetch (quorum queues in the app). */
  readonly qosGlobal: boolean;
  /** Declares a task queue as Celery does (cached). */
  declareQueue(queue: string): Promise<void>;
  /** The type `queue` exists with. */
  queueType(queue: string): QueueType;
  /** Deliveries RabbitMQ makes of a message of `queue` at most, when it counts them. */
  deliveryLimit(queue: string): number | undefined;
  /**
   * Publishes a copy of `message` for a settlement (confirmed), before the original is acked;
   * `deliveries` is the original's delivery count, carried on by a requeue or defer copy.
   */
  publishCopy(message: Message, queue: string, settlement: Settlement, deliveries?: number): Promise<void>;
  /** Called when the consumer is done (closed and nothing left unsettled). */
  forget(consumer: Consumer): void;
}
