/**
 * @module brokers/amqp/amqp-errors
 * How the RabbitMQ broker reads amqplib's errors: a returned mandatory publish, a nack, a 404,
 * and the TRANSPORT error every other failure becomes.
 */
import { CeleriacError, ErrorCodes, coerceError } from '../../errors.js';

/** A mandatory publish RabbitMQ returned: no queue matched. */
export class UnroutableError extends CeleriacError {
  constructor(message: string) {
    super(ErrorCodes.TRANSPORT, message);
  }
}

/** amqplib's error for a publish RabbitMQ confirmed with `basic.nack`. */
export function isNack(err: unknown): boolean {
  return err instanceof Error && !(err instanceof CeleriacError) && err.message === 'message nacked';
}

/** RabbitMQ's 404 (no such queue or exchange). */
export function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 404;
}

/** `err` as a TRANSPORT error saying what failed (a CeleriacError as it is). */
export function toTransportError(what: string, err: unknown): CeleriacError {
  if (err instanceof CeleriacError) return err;
  const e = coerceError(err);
  return new CeleriacError(ErrorCodes.TRANSPORT, `RabbitMQ: ${what} failed: ${e.message}`, { cause: e });
}
