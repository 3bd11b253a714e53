/**
 * @module test/redis/broker/redis-test-env
 * Helpers of the Redis broker's tests (real Redis at 127.0.0.1:6379 or $CELERIAC_TEST_REDIS):
 * a random `global_keyprefix` per test file so files never see each other's keys, and a
 * cleanup that deletes only that prefix's keys (SCAN, never FLUSHDB/FLUSHALL). Under CI
 * (`CI=true`) a missing Redis fails the tests instead of skipping them. Uses vitest: import
 * it from test files only.
 */
import { randomUUID } from 'node:crypto';
import { createClient, type RedisClientType } from 'redis';
import { afterAll, beforeAll } from 'vitest';

/** Base URL of the test Redis. */
export const TEST_REDIS_URL = process.env['CELERIAC_TEST_REDIS'] ?? 'redis://127.0.0.1:6379/0';

/** A fresh key prefix, e.g. `t-1a2b3c4d:`. */
export function newPrefix(): string {
  return `t-${randomUUID().slice(0, 8)}:`;
}

/** The broker URL with `global_keyprefix` set. */
export function prefixedUrl(prefix: string): string {
  return `${TEST_REDIS_URL}?global_keyprefix=${encodeURIComponent(prefix)}`;
}

/**
 * True when Redis answers. Under CI a missing Redis throws, so the suite fails loudly.
 */
export async function redisAvailable(): Promise<boolean> {
  const client = createClient({ url: TEST_REDIS_URL, socket: { connectTimeout: 1000, reconnectStrategy: false } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
    await client.close();
    return true;
  } catch (error) {
    if (process.env['CI'] === 'true') throw new Error(`Redis is required under CI but ${TEST_REDIS_URL} did not answer`, { cause: error });
    return false;
  }
}

/** A plain client for inspecting and writing raw keys, as a Python process would. */
export async function rawClient(): Promise<RedisClientType> {
  const client = createClient({ url: TEST_REDIS_URL }) as RedisClientType;
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Deletes every key starting with `prefix` (SCAN + DEL); nothing else. */
export async function deletePrefix(client: RedisClientType, prefix: string): Promise<void> {
  if (prefix.length < 4) throw new Error(`refusing to delete keys of a short prefix ${JSON.stringify(prefix)}`);
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  for await (const keys of client.scanIterator({ MATCH: pattern, COUNT: 500 })) {
    if (keys.length > 0) await client.del(keys);
  }
}

/**
 * Registers, in the enclosing describe, a raw client opened before its tests and, after
 * them, the deletion of `prefix`'s keys and the client's close. Returns the client's getter
 * (valid from the first test on).
 */
export function useRawRedis(prefix: string): () => RedisClientType {
  let raw: RedisClientType | undefined;
  beforeAll(async () => {
    raw = await rawClient();
  });
  afterAll(async () => {
    if (raw === undefined) return;
    await deletePrefix(raw, prefix);
    await raw.close();
  });
  return () => {
    if (raw === undefined) throw new Error('useRawRedis: the client is open only inside tests');
    return raw;
  };
}
