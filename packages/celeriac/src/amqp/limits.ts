/**
 * @module amqp/limits
 * The widths of AMQP 0-9-1 fields a caller's values travel in: short strings (names,
 * routing keys, header names, most properties: 255 bytes) and `basic.qos`'s prefetch count
 * (16 bits). Checked here, before amqplib encodes them: past a width it threw a RangeError
 * naming no field ("The value of "value" is out of range"), which a publish retried as a lost
 * connection and a consumer's channel open failed on for good. And RabbitMQ's own bound on
 * a time to live, past which it closed the channel.
 */
import { checkQueueName } from '../core/spi/broker-args.js';
import { CeleriacError, ErrorCodes } from '../errors.js';

/** The most bytes of an AMQP short string. */
export const SHORT_STRING_MAX = 255;

/** The largest prefetch count `basic.qos` carries. */
export const QOS_COUNT_MAX = 0xffff;

/**
 * The longest time to live RabbitMQ takes, in ms: ten years (measured on 3.10). A message's
 * `expiration` or a queue's `x-expires` past it closes the channel with a 406, so a task sent
 * with `expires` eleven years out failed four times with "channel closed".
 */
export const TTL_MAX_MS = 315_360_000_000;

/**
 * A message's `expiration` property as RabbitMQ takes it: whole ms, at most
 * {@link TTL_MAX_MS}. Undefined for one it cannot read ("1e21", "60000.5", "-1" from another
 * producer): the message then has no TTL, and a task's `expires` header still holds.
 */
export function amqpExpiration(expiration: string): string | undefined {
  if (!/^\d{1,21}$/.test(expiration)) return undefined;
  return Number(expiration) > TTL_MAX_MS ? String(TTL_MAX_MS) : expiration;
}

/** `text` when it fits an AMQP short string, else an INVALID_ARGUMENT naming `what`. */
export function shortString(text: string, what: string): string {
  // Three bytes per UTF-16 unit at most: most names are known to fit without counting.
  if (text.length * 3 <= SHORT_STRING_MAX) return text;
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes <= SHORT_STRING_MAX) return text;
  const shown = text.length > 40 ? `${text.slice(0, 40)}...` : text;
  throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${what} ${JSON.stringify(shown)} is ${bytes} bytes; RabbitMQ takes at most ${SHORT_STRING_MAX} (an AMQP short string)`);
}

/** A queue name RabbitMQ can take: non-empty, at most 255 bytes. */
export function amqpQueueName(queue: string): string {
  return shortString(checkQueueName(queue), 'queue name');
}

/** Checks where a publish goes: a queue by name (the default exchange, `''`), or an exchange and key. */
export function checkTarget(exchange: string, routingKey: string): void {
  if (exchange === '') {
    amqpQueueName(routingKey);
    return;
  }
  shortString(exchange, 'exchange name');
  shortString(routingKey, 'routing key');
}

/** The count `basic.qos` is sent with: a prefetch past 16 bits is no limit (0), as kombu's QoS makes it. */
export function qosCount(prefetch: number): number {
  return prefetch > QOS_COUNT_MAX ? 0 : prefetch;
}
