/**
 * @module brokers/memory/memory-consumer
 * The consumer and delivery objects of the memory broker. They hold per-consumer state
 * (queues, prefetch window, round-robin position) and forward every settlement to the
 * broker through the narrow {@link ConsumerHost} interface, where the queues live.
 */
import type { ConsumeOptions, Consumer, Delivery, Settlement } from '../../core/spi/broker.js';
import type { SetAsideCategory } from '../../core/set-aside.js';
import type { Link } from '../../core/linked-set.js';
import { CeleriacError, ErrorCodes, coerceError } from '../../errors.js';
import type { StoredMessage } from './queue-store.js';
import { checkPrefetch, checkQueueName, uniqueQueueNames } from '../../core/spi/broker-args.js';


/** What consumers and deliveries need from the broker. */
export interface ConsumerHost {
  /** Applies a settlement; throws `CELERIAC_ERR_STATE` when closed or already settled. */
  settle(delivery: MemoryDelivery, settlement: Settlement): void;
  /** Asks for a (deferred) delivery round because a window or a queue changed. */
  wake(): void;
  /** Forgets a closed consumer. */
  detach(consumer: MemoryConsumer): void;
}

/** One message handed to a consumer; settled exactly once through the broker. */
export class MemoryDelivery implements Delivery {
  /** Set by the broker when settled (or restored on broker close). */
  settled = false;
  /** Its place among the broker's unsettled deliveries while it is there. */
  unsettled: Link<MemoryDelivery> | undefined = undefined;

  constructor(
    private readonly host: ConsumerHost,
    /** The consumer whose window this delivery occupies. */
    readonly consumer: MemoryConsumer,
    /** The queue it came from. */
    readonly queue: string,
    /** Its priority bucket, where requeues and restores put it back. */
    readonly bucket: number,
    /** The stored message. */
    readonly message: StoredMessage,
    /** Broker-wide delivery order, used to restore in order on close. */
    readonly seq: number,
  ) {}

  get raw(): string {
    return this.message.raw;
  }

  get tag(): string {
    return this.message.tag;
  }

  get redelivered(): boolean {
    return this.message.redelivered;
  }

  get deliveryCount(): number {
    return this.message.deliveries ?? 1;
  }

  async ack(): Promise<void> {
    this.host.settle(this, { kind: 'ack' });
  }

  async reject(options: { requeue: boolean }): Promise<void> {
    this.host.settle(this, { kind: 'reject', requeue: options.requeue });
  }

  async restore(): Promise<void> {
    this.host.settle(this, { kind: 'restore' });
  }

  async defer(deliverAt: number, options: { redelivered?: boolean } = {}): Promise<void> {
    if (typeof deliverAt !== 'number' || !Number.isFinite(deliverAt)) {
      throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `defer: deliverAt must be epoch ms, got ${String(deliverAt)}`);
    }
    this.host.settle(this, options.redelivered === true ? { kind: 'defer', deliverAt, redelivered: true } : { kind: 'defer', deliverAt });
  }

  async setAside(reason: string, options: { category?: SetAsideCategory } = {}): Promise<void> {
    this.host.settle(this, { kind: 'setAside', reason: String(reason), category: options.category === 'dead-letter' ? 'dead-letter' : 'malformed' });
  }
}

/** Lifecycle of a {@link MemoryConsumer}. */
export type MemoryConsumerState = 'open' | 'closed';

/** A consumption of some queues with a prefetch window, served by the broker's pump. */
export class MemoryConsumer implements Consumer {
  /** Unsettled deliveries currently held (maintained by the broker). */
  unsettled = 0;
  #state: MemoryConsumerState = 'open';
  #queues: string[];
  #prefetch: number;
  /** Index of the queue tried first next time (kombu rotates queues after each hit). */
  #next = 0;

  constructor(
    private readonly host: ConsumerHost,
    private readonly options: ConsumeOptions,
  ) {
    this.#queues = uniqueQueueNames(options.queues);
    this.#prefetch = checkPrefetch(options.prefetch);
  }

  /** 'open' until closed by {@link MemoryConsumer.close} or the broker's close. */
  get state(): MemoryConsumerState {
    return this.#state;
  }

  get queues(): readonly string[] {
    return Object.freeze([...this.#queues]);
  }

  setPrefetch(prefetch: number): void {
    this.#prefetch = checkPrefetch(prefetch);
    this.host.wake();
  }

  addQueue(queue: string): void {
    if (!this.#queues.includes(checkQueueName(queue))) this.#queues.push(queue);
    this.host.wake();
  }

  cancelQueue(queue: string): void {
    const i = this.#queues.indexOf(queue);
    if (i < 0) return;
    this.#queues.splice(i, 1);
    if (this.#next > i) this.#next--;
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.markClosed();
    this.host.detach(this);
  }

  /** Stops deliveries without detaching (the broker is closing). */
  markClosed(): void {
    this.#state = 'closed';
  }

  /** True when open and the prefetch window has room. */
  hasRoom(): boolean {
    return this.#state === 'open' && (this.#prefetch === 0 || this.unsettled < this.#prefetch);
  }

  /** Queues in the order to try now: rotated so the one after the last hit comes first. */
  rotation(): string[] {
    const n = this.#queues.length;
    if (n === 0) return [];
    const start = this.#next % n;
    return [...this.#queues.slice(start), ...this.#queues.slice(0, start)];
  }

  /** Records a hit on `queue`, so the next round starts with the queue after it. */
  servedFrom(queue: string): void {
    const i = this.#queues.indexOf(queue);
    this.#next = i < 0 ? 0 : i + 1;
  }

  /** Hands a delivery to the user callback; a throwing callback is reported, not fatal. */
  dispatch(delivery: MemoryDelivery): void {
    try {
      this.options.onDelivery(delivery);
    } catch (error) {
      this.options.onError?.(coerceError(error));
    }
  }
}
