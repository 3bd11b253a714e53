/**
 * Hostile Redis contents: a key of the wrong type where the broker expects a list (someone
 * SETs a string at a queue key, or at the set-aside key), and two messages with the same
 * delivery tag. Each gives a clear error and loses nothing: before, a wrong-type set-aside
 * key dropped the message while the log said it was given back, a wrong-type bucket in the
 * middle of a fetch lost what that fetch had popped, and a duplicate tag logged "it will be
 * delivered again" for a message that never was.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisClientType } from 'redis';
import { RedisBroker } from '../../../src/brokers/redis/redis-broker.js';
import type { Delivery } from '../../../src/core/spi/broker.js';
import { makeMessage } from '../../../src/testing/broker-harness.js';
import { waitFor } from '../../../src/testing/wait-for.js';
import { deletePrefix, newPrefix, prefixedUrl, rawClient, redisAvailable } from './redis-test-env.js';

const available = await redisAvailable();
const prefix = newPrefix();

/** A Celery-shaped envelope with a chosen delivery tag. */
const envelope = (id: string, tag: string): string =>
  `{"body": "W10=", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"id": "${id}", "task": "t.x"}, "properties": {"delivery_info": {"exchange": "", "routing_key": "q"}, "priority": 0, "body_encoding": "base64", "delivery_tag": "${tag}"}}`;

describe.skipIf(!available)('Redis broker: wrong-type keys and duplicate delivery tags', () => {
  let raw: RedisClientType;
  let broker: RedisBroker;

  beforeAll(async () => {
    raw = await rawClient();
    broker = new RedisBroker(prefixedUrl(prefix), { pollIntervalMs: 20 });
  });

  afterAll(async () => {
    await broker?.close();
    await deletePrefix(raw, prefix);
    await raw?.close();
  });

  /** Consumes `queues` into an array; returns it, the errors seen (with times) and the consumer. */
  function consume(queues: string[], prefetch = 10) {
    const got: Delivery[] = [];
    const errors: { at: number; message: string }[] = [];
    const consumer = broker.consume({ queues, prefetch, onDelivery: (d) => void got.push(d), onError: (e) => void errors.push({ at: Date.now(), message: e.message }) });
    return { got, errors, consumer };
  }

  it('a string at a queue key: the other queues are served, nothing popped is lost, and the error names the key, with backoff', async () => {
    const good = `good-${randomUUID().slice(0, 8)}`;
    const bad = `bad-${randomUUID().slice(0, 8)}`;
    await raw.set(`${prefix}${bad}`, 'not a list');
    for (let i = 0; i < 3; i++) await broker.publish(makeMessage(`g-${i}`), { exchange: '', routingKey: good });
    const { got, errors, consumer } = consume([bad, good]);
    await waitFor(() => got.length === 3, 'the good queue served');
    await waitFor(() => errors.length >= 3, 'three fetch errors');
    await consumer.close();
    expect(errors[0]?.message).toContain(`WRONGTYPE ${prefix}${bad} holds a string, not a list: nothing can be taken from that queue, and nothing was lost`);
    // Not a hot loop: the fetch backs off after each error.
    for (let i = 1; i < errors.length; i++) expect(errors[i]!.at - errors[i - 1]!.at).toBeGreaterThanOrEqual(20);
    expect(await raw.get(`${prefix}${bad}`)).toBe('not a list');
    for (const d of got) await d.ack();
    expect(await raw.hLen(`${prefix}unacked`)).toBe(0);
  });

  it('a string at the set-aside key: setAside fails with a clear error and the message stays held, not lost', async () => {
    const q = `aside-${randomUUID().slice(0, 8)}`;
    await broker.publish(makeMessage('parked'), { exchange: '', routingKey: q });
    const { got, consumer } = consume([q]);
    await waitFor(() => got.length === 1, 'the delivery');
    await consumer.close();
    await raw.set(`${prefix}celeriac.setaside`, 'oops');
    const started = Date.now();
    await expect(got[0]!.setAside('malformed')).rejects.toThrow(`WRONGTYPE ${prefix}celeriac.setaside holds a string, not a list: the message stays held and comes back by its lease`);
    // At once: not retried as if Redis were down.
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await raw.hExists(`${prefix}unacked`, got[0]!.tag)).toBeTruthy();
    expect(await raw.zScore(`${prefix}celeriac.leases`, got[0]!.tag)).not.toBeNull();
    await raw.del(`${prefix}celeriac.setaside`);
  });

  it('two messages with one delivery tag are both held, under distinct tags, and both acked', async () => {
    const q = `dup-${randomUUID().slice(0, 8)}`;
    const tag = randomUUID();
    // Same tag within one fetch, and once more after the first two are held.
    await raw.lPush(`${prefix}${q}`, [envelope('first', tag), envelope('second', tag)]);
    const { got, consumer } = consume([q]);
    await waitFor(() => got.length === 2, 'both deliveries');
    await raw.lPush(`${prefix}${q}`, envelope('third', tag));
    await waitFor(() => got.length === 3, 'the third delivery');
    await consumer.close();
    expect(got[0]!.tag).toBe(tag);
    expect(got[1]!.tag).toMatch(new RegExp(`^${tag}~dup\\.`));
    expect(got[2]!.tag).toMatch(new RegExp(`^${tag}~dup\\.`));
    expect(new Set(got.map((d) => d.tag)).size).toBe(3);
    const mine = async () => (await raw.hKeys(`${prefix}unacked`)).filter((k) => k.startsWith(tag));
    expect(await mine()).toHaveLength(3);
    // Each one's own envelope is kept for recovery.
    expect(await raw.hGet(`${prefix}unacked`, got[1]!.tag)).toContain('"id": "second"');
    // The third came alone (a fetch of one message checks its tag with HSETNX): held too.
    expect(await raw.hGet(`${prefix}unacked`, got[2]!.tag)).toContain('"id": "third"');
    expect(await raw.hGet(`${prefix}unacked`, tag)).toContain('"id": "first"');
    expect(await raw.zScore(`${prefix}celeriac.leases`, got[2]!.tag)).not.toBeNull();
    for (const d of got) await d.ack();
    expect(await mine()).toEqual([]);
  });
});
