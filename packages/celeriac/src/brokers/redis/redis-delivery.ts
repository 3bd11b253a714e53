/**
 * @module brokers/redis/redis-delivery
 * One message a {@link RedisConsumer} fetched: what settling it needs (its bucket, tag and
 * lease token) and its state. Each settlement method hands the delivery back to the consumer
 * that holds it, which applies it (redis-consumer.ts, settlements.ts).
 */
import type { Delivery, Settlement } from '../../core/spi/broker.js';
import type { SetAsideCategory } from '../../core/set-aside.js';
import type { Link } from '../../core/linked-set.js';
import { CeleriacError, ErrorCodes } from '../../errors.js';
import { isRedelivered } from '../../protocol/envelope.js';
import type { RunningRequest } from './transitions.js';

/** The settlement of every ack (made once: every task is acked). */
const ACK: Settlement = Object.freeze({ kind: 'ack' });

/**
 * Lifecycle of a delivery: held until settled once; `lost` when a renewal found the lease
 * gone; `retrying` while a settlement that failed for want of Redis is tried again (its lease
 * still renewed).
 */
export type RedisDeliveryState = 'held' | 'lost' | 'retrying' | 'settled';

/** The consumer side a delivery settles through: the consumer that fetched it. */
export interface DeliveryHolder {
  settle(delivery: RedisDelivery, settlement: Settlement): Promise<void>;
  /** The delivery's task got a hard-limit deadline ({@link RedisDelivery.limitLease}). */
  leaseLimited?(delivery: RedisDelivery): void;
  /** The delivery's task was acked early and runs ({@link RedisDelivery.markRunning}). */
  markRunning?(delivery: RedisDelivery): () => void;
  /** That task's end is being stored ({@link RedisDelivery.storingEnd}). */
  storingEnd?(delivery: RedisDelivery, stored: Promise<unknown>): void;
  /** The task of a delivery given back before starts ({@link RedisDelivery.countStart}). */
  countStart?(delivery: RedisDelivery): Promise<void>;
}

/** One message handed to a consumer; settled exactly once. */
export class RedisDelivery implements Delivery {
  state: RedisDeliveryState = 'held';
  /** Its place among its consumer's unsettled deliveries while it is there. */
  unsettled: Link<RedisDelivery> | undefined = undefined;
  /** Whether it counts in its consumer's prefetch window: until its settlement is sent. */
  windowed = false;
  #redelivered: boolean | undefined;
  /** Epoch ms past which a blocked event loop no longer keeps its lease (the task's hard limit); null = none. */
  leaseUntil: number | null = null;
  /** Whether its ack records its task as running (running.ts, transitions.ts AckedHeld). */
  running: RunningRequest | undefined = undefined;

  constructor(
    /** The consumer whose window this delivery occupies. */
    readonly holder: DeliveryHolder,
    readonly queue: string,
    /** The bucket list it was popped from: where requeue / restore / defer put it back. */
    readonly bucketKey: string,
    readonly raw: string,
    readonly tag: string,
    /** Lease token from fetch.lua. */
    readonly token: string,
    /** Process-wide fetch order, used to restore in order on close. */
    readonly seq: number,
    /** Deliveries so far, this one included (celeriac.deliveries, kept across workers: fetch.lua). */
    readonly deliveryCount: number = 1,
  ) {}

  /** Why it cannot be decoded, when fetch found so (Delivery.undecodable); not set on the others. */
  declare undecodable?: string;

  /** Its envelope cannot be decoded for `reason` (bytes that are not UTF-8, found by fetch). */
  refuseDecoding(reason: string): void {
    this.undecodable = reason;
  }

  /** Read from the envelope when first asked (kombu marks headers and delivery_info). */
  get redelivered(): boolean {
    return (this.#redelivered ??= isRedelivered(this.raw));
  }

  ack(): Promise<void> {
    return this.holder.settle(this, ACK);
  }

  reject(options: { requeue: boolean }): Promise<void> {
    return this.holder.settle(this, { kind: 'reject', requeue: options.requeue });
  }

  restore(): Promise<void> {
    return this.holder.settle(this, { kind: 'restore' });
  }

  async defer(deliverAt: number, options: { redelivered?: boolean } = {}): Promise<void> {
    if (typeof deliverAt !== 'number' || !Number.isFinite(deliverAt)) {
      throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `defer: deliverAt must be epoch ms, got ${String(deliverAt)}`);
    }
    return this.holder.settle(this, options.redelivered === true ? { kind: 'defer', deliverAt, redelivered: true } : { kind: 'defer', deliverAt });
  }

  setAside(reason: string, options: { category?: SetAsideCategory } = {}): Promise<void> {
    return this.holder.settle(this, { kind: 'setAside', reason: String(reason), category: options.category === 'dead-letter' ? 'dead-letter' : 'malformed' });
  }

  limitLease(epochMs: number): void {
    this.leaseUntil = epochMs;
    this.holder.leaseLimited?.(this);
  }

  markRunning(): () => void {
    return this.holder.markRunning?.(this) ?? noop;
  }

  storingEnd(stored: Promise<unknown>): void {
    this.holder.storingEnd?.(this, stored);
  }

  countStart(): Promise<void> {
    return this.holder.countStart?.(this) ?? DONE;
  }
}

const noop = (): void => undefined;
const DONE: Promise<void> = Promise.resolve();
