import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../errors.js';
import { amqpExpiration, amqpQueueName, checkTarget, qosCount, shortString, TTL_MAX_MS } from './limits.js';
import { rpcQueueSpec } from './topology.js';
import { typeTable } from './tables.js';

describe('AMQP field widths', () => {
  it('takes a short string up to 255 UTF-8 bytes, counted as bytes, not characters', () => {
    for (const fits of ['a'.repeat(255), '\u00e9'.repeat(127), '\u20ac'.repeat(85), '\u{1F600}'.repeat(63)]) expect(shortString(fits, 'name')).toBe(fits);
    for (const [text, bytes] of [['a'.repeat(256), 256], ['\u00e9'.repeat(128), 256], ['\u20ac'.repeat(86), 258], ['\u{1F600}'.repeat(64), 256]] as const) {
      expect(() => shortString(text, 'routing key')).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT, message: expect.stringContaining(`is ${bytes} bytes; RabbitMQ takes at most 255`) }));
    }
    // Header names too, nested ones included (tables.ts).
    expect(() => typeTable({ ok: { ['k'.repeat(300)]: 1 } })).toThrow(/header name "k{40}\.\.\." is 300 bytes/);
    expect(() => amqpQueueName('')).toThrow(/non-empty/);
    expect(amqpQueueName('celery')).toBe('celery');
  });

  it('checks a publish target: a queue name on the default exchange, else the exchange and the key', () => {
    expect(() => checkTarget('', '')).toThrow(/non-empty/);
    expect(() => checkTarget('', 'q'.repeat(256))).toThrow(/^queue name/);
    expect(() => checkTarget('x'.repeat(256), 'k')).toThrow(/^exchange name/);
    expect(() => checkTarget('celery', 'k'.repeat(256))).toThrow(/^routing key/);
    expect(() => checkTarget('celery', '')).not.toThrow();
  });

  it('sends a prefetch past 16 bits as no limit, as kombu does', () => {
    expect([0, 8, 65_535, 65_536, 80_000].map(qosCount)).toEqual([0, 8, 65_535, 0, 0]);
  });

  it("bounds a time to live by RabbitMQ's ten years, and leaves off an expiration it cannot read", () => {
    expect(['0', '60000', '315360000000', '315360000001', '99999999999999999999', '1e+21', '6e4', '-1', '60000.5', ''].map(amqpExpiration)).toEqual([
      '0', '60000', '315360000000', '315360000000', '315360000000', undefined, undefined, undefined, undefined, undefined,
    ]);
    expect(rpcQueueSpec(86_400).arguments).toEqual({ 'x-expires': 86_400_000 });
    expect(rpcQueueSpec(1e12).arguments).toEqual({ 'x-expires': TTL_MAX_MS });
    expect(rpcQueueSpec(null).arguments).toEqual({});
  });
});
