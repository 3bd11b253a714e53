/**
 * @module worker/redelivery
 * Redelivery with memory. A message the worker could not finish for a reason of its own (the
 * result store refuses writes, the thread or process running it died, an unexpected error)
 * is never given straight back to the front of its queue, where the same worker would take
 * it again at once: it goes through the broker's delayed set after an exponential backoff.
 * The broker counts deliveries (Delivery.deliveryCount); the delivery that reaches
 * `workerMaxDeliveries` is dead-lettered (set aside with its reason) and FAILURE
 * `DeliveryLimitExceeded` is stored when the backend takes it.
 *
 * Before this, a backend that refused writes (a read-only replica after a failover, an ACL
 * NOPERM, OOM) made one late-ack message run 83 times in 10 s.
 */
import type { Clock } from '../core/clock.js';
import type { Delivery } from '../core/spi/broker.js';
import { backoffDelayMs } from '../core/backoff.js';
import { coerceError } from '../errors.js';

/** The longest wait between two deliveries of one message. */
export const MAX_REDELIVERY_DELAY_MS = 600_000;

/** How many tags the local count remembers (for brokers that do not count). */
const LOCAL_COUNT_SIZE = 10_000;

/** The wait before delivery `count + 1`: `baseMs` x 2^(count-1), at most {@link MAX_REDELIVERY_DELAY_MS}. */
export function redeliveryDelayMs(count: number, baseMs: number): number {
  return backoffDelayMs({ firstMs: baseMs, growth: { factor: 2 }, maxMs: MAX_REDELIVERY_DELAY_MS }, count - 1);
}

/**
 * Deliveries of each message: the broker's count when it keeps one, else this worker's own
 * (by delivery tag, bounded), which at least spans the worker's life.
 */
export class DeliveryCounter {
  private readonly local = new Map<string, number>();

  /** Counts a worker-side failure of `delivery`; returns its delivery count. */
  failed(delivery: Delivery): number {
    const fromBroker = delivery.deliveryCount;
    const seen = (this.local.get(delivery.tag) ?? 0) + 1;
    this.local.delete(delivery.tag);
    if (this.local.size >= LOCAL_COUNT_SIZE) {
      const oldest = this.local.keys().next();
      if (oldest.done !== true) this.local.delete(oldest.value);
    }
    this.local.set(delivery.tag, seen);
    return Math.max(fromBroker ?? 0, seen);
  }

  /** Forgets a message that ended for good. */
  forget(tag: string): void {
    this.local.delete(tag);
  }
}

/** What {@link storeAfterEarlyAck} needs. */
export interface EarlyAckStoreOptions {
  readonly clock: Clock;
  /** Attempts in all (`workerMaxDeliveries`; null: 10). */
  readonly maxAttempts: number | null;
  /** `workerRedeliveryDelaySec` in ms: the wait before the 2nd attempt, doubling after. */
  readonly baseDelayMs: number;
  readonly log: { warn(o: object, msg: string): void; error(o: object, msg: string): void };
  readonly taskId: string;
}

/**
 * Stores a final state of a task whose message was acked early. The message is gone, so a
 * refused write (READONLY, OOM, the backend down) cannot be redelivered as with late acks:
 * before, its result was dropped and the task stayed PENDING with no line anywhere. The write
 * is tried again here, with the redelivery backoff, up to `maxAttempts` times; then an error
 * line says the result is lost. Resolves either way (the task ran: nothing else to undo).
 * `firstError` is the failure of the first attempt, made by the caller: the usual store
 * succeeds without entering this function (every task stores a result; see executor.ts).
 */
export async function storeAfterEarlyAck(store: () => Promise<void>, o: EarlyAckStoreOptions, firstError: unknown): Promise<void> {
  const max = o.maxAttempts ?? 10;
  let error = firstError;
  for (let n = 1; ; n++) {
    const err = coerceError(error);
    if (n >= max) {
      o.log.error({ err, taskId: o.taskId, attempts: n }, `could not store the state of task ${o.taskId} after ${n} attempts; its message was acked early, so it will not run again and its result is lost`);
      return;
    }
    const delayMs = redeliveryDelayMs(n, o.baseDelayMs);
    // The error whole (its stack) once per task; the next attempts' lines say only what it was:
    // in a Redis at maxmemory each task's store failed every attempt, and 50 tasks over a
    // 70 s outage logged 3,480 lines of stacks.
    const why = n === 1 ? { err } : { reason: err.message };
    o.log.warn({ ...why, taskId: o.taskId, attempt: n, retryInMs: delayMs }, `could not store the state of task ${o.taskId} (acked early); trying again in ${delayMs / 1000}s`);
    await new Promise<void>((resolve) => o.clock.setTimer(resolve, delayMs));
    try {
      await store();
      return;
    } catch (e) {
      error = e;
    }
  }
}
