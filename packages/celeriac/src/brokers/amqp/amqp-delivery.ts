/**
 * @module brokers/amqp/amqp-delivery
 * One delivery of an AMQP consumer: the message as the worker reads it (the envelope text,
 * or the message decoded straight from the frame), its delivery count, and the settlement
 * calls, each handed to its consumer (amqp-consumer.ts) once.
 */
import { isUtf8 } from 'node:buffer';
import type { Channel, ConsumeMessage } from 'amqplib';
import { textIsUtf8 } from '../../amqp/strict-text.js';
import { envelopeOf, fromWire } from '../../amqp/wire.js';
import type { Delivery, Settlement } from '../../core/spi/broker.js';
import type { SetAsideCategory } from '../../core/set-aside.js';
import { CeleriacError, ErrorCodes } from '../../errors.js';
import type { Message } from '../../protocol/types.js';
import { targetOfDelayKey, type DelayLadder } from './delayed.js';

/** Header of a settlement's copy: deliveries of the message before the copy. Dropped on delivery (amqp/wire.ts). */
export const DELIVERIES_HEADER = 'x-celeriac-deliveries';

/** What a delivery needs from the consumer that holds it. */
export interface DeliveryOwner {
  readonly ladder: DelayLadder;
  deliveriesOf(held: Held): number | undefined;
  deliveryLimit(queue: string): number | undefined;
  /** Applies a settlement the delivery has claimed (once). */
  settle(delivery: AmqpDelivery, s: Settlement): Promise<void>;
}

/** A message held on its channel until it is settled. */
export interface Held {
  readonly msg: ConsumeMessage;
  readonly channel: Channel;
  readonly queue: string;
}

/** The settlement of every acked task, shared. */
const ACK: Settlement = Object.freeze({ kind: 'ack' });

function countOf(value: unknown): number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : 0;
}

/**
 * Deliveries of `msg` so far, this one included: what a quorum queue counted and what copies
 * carried; undefined on a classic queue with nothing carried (it cannot tell).
 */
export function deliveriesOf(msg: ConsumeMessage, quorum: boolean): number | undefined {
  const headers = msg.properties.headers as Record<string, unknown> | undefined;
  const returned = countOf(headers?.['x-delivery-count']);
  const carried = countOf(headers?.[DELIVERIES_HEADER]);
  if (!quorum && carried === 0) return undefined;
  return 1 + returned + carried;
}

/** A message delivered to an {@link AmqpConsumer}; settling it goes through its consumer. */
export class AmqpDelivery implements Delivery {
  #settled = false;
  /** Set when the channel died with this delivery unsettled and the message came back. */
  replacement: Held | undefined;
  #raw: string | undefined;

  constructor(
    readonly held: Held,
    private readonly consumer: DeliveryOwner,
    readonly redelivered: boolean,
  ) {}

  get raw(): string {
    const { msg, queue } = this.held;
    if (this.#raw === undefined) {
      const target = msg.fields.exchange === '' ? null : targetOfDelayKey(this.consumer.ladder, msg.fields.routingKey);
      this.#raw = envelopeOf(msg, this.tag, this.redelivered, target === null ? undefined : { exchange: '', routingKey: queue });
    }
    return this.#raw;
  }

  /**
   * The message straight from the AMQP frame, as {@link raw} would decode to (marked
   * `redelivered` the same way), without writing and parsing the envelope: the worker's path.
   */
  get decoded(): Message {
    const message = fromWire(this.held.msg);
    if (this.redelivered) message.headers['redelivered'] = true;
    return message;
  }

  /**
   * Why it cannot be decoded, when its text is not UTF-8 (one rule for headers and body, as on
   * Redis: amqplib and {@link decoded} would replace such bytes with U+FFFD silently).
   */
  get undecodable(): string | undefined {
    const { properties, content } = this.held.msg;
    if (!textIsUtf8(properties)) return 'bad-encoding: the message headers are not valid UTF-8 (bytes that are not UTF-8 in its header table or properties)';
    if (properties.contentType === 'application/json' && !isUtf8(content)) return 'bad-encoding: Body is not valid UTF-8';
    return undefined;
  }

  get queue(): string {
    return this.held.queue;
  }

  get deliveryCount(): number | undefined {
    return this.consumer.deliveriesOf(this.held);
  }

  get maxDeliveries(): number | undefined {
    return this.consumer.deliveryLimit(this.held.queue);
  }

  get tag(): string {
    return String(this.held.msg.fields.deliveryTag);
  }

  get settled(): boolean {
    return this.#settled;
  }

  #take(): void {
    if (this.#settled) throw new CeleriacError(ErrorCodes.STATE, `delivery ${this.tag} of ${this.queue} is already settled`);
    this.#settled = true;
  }

  async #settle(s: Settlement): Promise<void> {
    this.#take();
    await this.consumer.settle(this, s);
  }

  /** Every task acks: no async frame here (see AmqpConsumer.settle). */
  ack(): Promise<void> {
    try {
      this.#take();
      return this.consumer.settle(this, ACK);
    } catch (err) {
      return Promise.reject(err);
    }
  }
  reject(options: { requeue: boolean }): Promise<void> {
    return this.#settle({ kind: 'reject', requeue: options.requeue });
  }
  restore(): Promise<void> {
    return this.#settle({ kind: 'restore' });
  }
  defer(deliverAt: number, options?: { redelivered?: boolean }): Promise<void> {
    return this.#settle(options?.redelivered === true ? { kind: 'defer', deliverAt, redelivered: true } : { kind: 'defer', deliverAt });
  }
  setAside(reason: string, options?: { category?: SetAsideCategory }): Promise<void> {
    return this.#settle({ kind: 'setAside', reason, category: options?.category === 'dead-letter' ? 'dead-letter' : 'malformed' });
  }
}
