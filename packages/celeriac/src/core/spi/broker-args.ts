/**
 * @module core/spi/broker-args
 * Argument checks every Broker adapter applies the same way, so adapters refuse bad input
 * with the same INVALID_ARGUMENT errors (the conformance suite relies on it).
 */
import { CeleriacError, ErrorCodes } from '../../errors.js';

/** A queue name must be a non-empty string ('' would name no queue, or only a key prefix). */
export function checkQueueName(queue: string): string {
  if (typeof queue !== 'string' || queue.length === 0) {
    throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `queue name must be a non-empty string, got ${JSON.stringify(queue)}`);
  }
  return queue;
}

/** A prefetch window is an integer >= 0, where 0 means unlimited. */
export function checkPrefetch(prefetch: number): number {
  if (!Number.isInteger(prefetch) || prefetch < 0) {
    throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `prefetch must be an integer >= 0 (0 = unlimited), got ${String(prefetch)}`);
  }
  return prefetch;
}

/** A delivery time, when given, is finite epoch milliseconds. */
export function checkDeliverAt(deliverAt: number | undefined): number | undefined {
  if (deliverAt !== undefined && (typeof deliverAt !== 'number' || !Number.isFinite(deliverAt))) {
    throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `publish: deliverAt must be epoch ms, got ${String(deliverAt)}`);
  }
  return deliverAt;
}

/** Checks every queue name and drops repeats, keeping first-seen order (what a consumer serves). */
export function uniqueQueueNames(queues: readonly string[]): string[] {
  const out: string[] = [];
  for (const q of queues) if (!out.includes(checkQueueName(q))) out.push(q);
  return out;
}
