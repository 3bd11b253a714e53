import { randomUUID } from 'node:crypto';
import type { RedisClientType } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Delivery } from '../../../src/core/spi/broker.js';
import { decodeEnvelope } from '../../../src/protocol/envelope.js';
import { makeMessage } from '../../../src/testing/broker-harness.js';
import { RedisBroker } from '../../../src/brokers/redis/redis-broker.js';
import { deletePrefix, newPrefix, prefixedUrl, rawClient, redisAvailable } from './redis-test-env.js';

const available = await redisAvailable();
const prefix = newPrefix();
const SEP = '\x06\x16';

/** The docs/protocol.md §9(f) recipe's envelope, as Python pushes it (python json.dumps separators). */
function pythonEnvelope(queue: string, tid: string, tag: string, eta: string | null = null): string {
  const body = Buffer.from('[[40, 2], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]').toString('base64');
  return `{"body": "${body}", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"lang": "py", "task": "interop.add", "id": "${tid}", "shadow": null, "eta": ${eta === null ? 'null' : `"${eta}"`}, "expires": null, "group": null, "group_index": null, "retries": 0, "timelimit": [null, null], "root_id": "${tid}", "parent_id": null, "argsrepr": "[40, 2]", "kwargsrepr": "{}", "origin": "gen1@host", "ignore_result": false}, "properties": {"correlation_id": "${tid}", "reply_to": "", "delivery_mode": 2, "delivery_info": {"exchange": "", "routing_key": "${queue}"}, "priority": 0, "body_encoding": "base64", "delivery_tag": "${tag}"}}`;
}

async function firstDelivery(broker: RedisBroker, queue: string): Promise<{ d: Delivery; close: () => Promise<void> }> {
  let resolve!: (d: Delivery) => void;
  const got = new Promise<Delivery>((r) => (resolve = r));
  const consumer = broker.consume({ queues: [queue], prefetch: 1, onDelivery: resolve });
  const d = await Promise.race([got, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no delivery')), 3000))]);
  return { d, close: () => consumer.close() };
}

describe.skipIf(!available)('RedisBroker: kombu layout', () => {
  let raw: RedisClientType;
  let broker: RedisBroker;

  beforeAll(async () => {
    raw = await rawClient();
    broker = new RedisBroker(prefixedUrl(prefix), { pollIntervalMs: 20 });
    await broker.connect();
  });

  afterAll(async () => {
    await broker?.close();
    await deletePrefix(raw, prefix);
    await raw?.close();
  });

  it('declares the binding and LPUSHes kombu envelopes to the priority buckets', async () => {
    await broker.declareQueue('celery');
    expect(await raw.sMembers(`${prefix}_kombu.binding.celery`)).toEqual([`celery${SEP}${SEP}celery`]);
    await broker.publish(makeMessage('p0'), { exchange: '', routingKey: 'celery' });
    await broker.publish(makeMessage('p7'), { exchange: '', routingKey: 'celery', priority: 7 });
    expect(await raw.lLen(`${prefix}celery`)).toBe(1);
    const high = await raw.lIndex(`${prefix}celery\x06\x166`, 0);
    const env = decodeEnvelope(high as string);
    expect(env.message.headers['id']).toBe('p7');
    expect(env.deliveryInfo).toEqual({ exchange: '', routing_key: 'celery' });
    const parsed = JSON.parse(high as string) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['body', 'content-encoding', 'content-type', 'headers', 'properties']);
    expect((parsed['properties'] as Record<string, unknown>)['body_encoding']).toBe('base64');
    expect(await broker.queueLength('celery')).toBe(2);
    expect(await broker.purge('celery')).toBe(2);
  });

  it('routes a named exchange through its binding set', async () => {
    await raw.sAdd(`${prefix}_kombu.binding.media`, `media.hi${SEP}${SEP}media-q`);
    await broker.publish(makeMessage('m'), { exchange: 'media', routingKey: 'media.hi' });
    const env = decodeEnvelope((await raw.lIndex(`${prefix}media-q`, 0)) as string);
    expect(env.deliveryInfo).toEqual({ exchange: 'media', routing_key: 'media.hi' });
    await broker.purge('media-q');
  });

  it('records a fetched message in unacked + unacked_index + our lease, and ack removes them', async () => {
    await broker.publish(makeMessage('u1'), { exchange: '', routingKey: 'ackq' });
    const before = Date.now() / 1000;
    const { d, close } = await firstDelivery(broker, 'ackq');
    const value = await raw.hGet(`${prefix}unacked`, d.tag);
    const [env, exchange, routingKey] = JSON.parse(value as string) as [unknown, string, string];
    expect(env).toEqual(JSON.parse(d.raw));
    expect(value?.startsWith(`[${d.raw}, `)).toBe(true);
    expect([exchange, routingKey]).toEqual(['', 'ackq']);
    const score = await raw.zScore(`${prefix}unacked_index`, d.tag);
    expect(score).toBeGreaterThanOrEqual(before - 1);
    expect(score).toBeLessThanOrEqual(Date.now() / 1000 + 1);
    expect(await raw.zScore(`${prefix}celeriac.leases`, d.tag)).toBeGreaterThan(Date.now());
    // Lease data is "<token> <bucket>". The token alone is longer than Redis's default
    // hash-max-listpack-value (64 bytes), so a busy worker's lease hash is a hash table
    // whatever the key prefix and queue name, never a listpack scanned on every lookup.
    const data = await raw.hGet(`${prefix}celeriac.lease.data`, d.tag);
    const token = (data as string).slice(0, (data as string).indexOf(' '));
    expect(token.length).toBeGreaterThan(64);
    expect(data).toBe(`${token} ${prefix}ackq`);
    expect(await raw.sendCommand(['OBJECT', 'ENCODING', `${prefix}celeriac.lease.data`])).toBe('hashtable');
    await d.ack();
    expect(await raw.hExists(`${prefix}unacked`, d.tag)).toBe(0);
    expect(await raw.zScore(`${prefix}unacked_index`, d.tag)).toBeNull();
    expect(await raw.zScore(`${prefix}celeriac.leases`, d.tag)).toBeNull();
    await close();
  });

  it('delivers a message pushed raw the way Python does (§9 f recipe)', async () => {
    const tid = randomUUID();
    const tag = randomUUID();
    await raw.sAdd(`${prefix}_kombu.binding.pyq`, `pyq${SEP}${SEP}pyq`);
    await raw.lPush(`${prefix}pyq`, pythonEnvelope('pyq', tid, tag));
    const { d, close } = await firstDelivery(broker, 'pyq');
    expect(d.tag).toBe(tag);
    expect(d.redelivered).toBe(false);
    const decoded = decodeEnvelope(d.raw);
    expect(decoded.message.headers['id']).toBe(tid);
    expect(JSON.parse(decoded.message.body)).toEqual([[40, 2], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]);
    // Closed first: an open consumer may fetch the requeued message again before we look.
    await close();
    await d.reject({ requeue: true });
    const again = await raw.lIndex(`${prefix}pyq`, 0);
    const marked = JSON.parse(again as string) as { headers: Record<string, unknown>; properties: { delivery_info: Record<string, unknown>; delivery_tag: string } };
    expect(marked.headers['redelivered']).toBe(true);
    expect(marked.properties.delivery_info['redelivered']).toBe(true);
    expect(marked.properties.delivery_tag).toBe(tag);
    await broker.purge('pyq');
  });

  it('finds the delivery tag of envelopes of any member order and spacing, and reads redelivered marks', async () => {
    const queue = `shapes-${randomUUID()}`;
    const tid = randomUUID();
    const python = pythonEnvelope(queue, tid, 'tag-python');
    const compact = JSON.stringify(JSON.parse(pythonEnvelope(queue, tid, 'tag-compact')));
    const parsed = JSON.parse(pythonEnvelope(queue, tid, 'tag-first')) as Record<string, unknown>;
    const propertiesFirst = JSON.stringify({ properties: parsed['properties'], headers: parsed['headers'], body: parsed['body'] });
    // A header object whose own last member is a delivery_tag, with headers last: not the tag.
    const decoyLast = `{"body": "W10=", "properties": {"delivery_info": {}, "delivery_tag": "tag-real"}, "headers": {"x": {"delivery_tag": "decoy"}}}`;
    const redelivered = python.replace('"ignore_result": false}', '"ignore_result": false, "redelivered": true}').replace('tag-python', 'tag-again');
    // Routed through a named exchange: its unacked entry still names the queue it was popped
    // from, so a restore puts it back there instead of fanning it out again.
    const routed = pythonEnvelope(queue, tid, 'tag-routed').replace(`"delivery_info": {"exchange": "", "routing_key": "${queue}"}`, '"delivery_info": {"exchange": "media", "routing_key": "media.hi"}');
    expect(routed).toContain('"exchange": "media"');
    for (const env of [python, compact, propertiesFirst, decoyLast, redelivered, routed]) await raw.lPush(`${prefix}${queue}`, env);
    const tags: string[] = [];
    const marks: boolean[] = [];
    for (let i = 0; i < 6; i++) {
      const { d, close } = await firstDelivery(broker, queue);
      await close();
      tags.push(d.tag);
      marks.push(d.redelivered);
      // kombu's restore of this entry puts it back on the queue it was popped from.
      expect(JSON.parse((await raw.hGet(`${prefix}unacked`, d.tag)) as string)).toEqual([JSON.parse(d.raw), '', queue]);
      await d.ack();
    }
    expect(tags).toEqual(['tag-python', 'tag-compact', 'tag-first', 'tag-real', 'tag-again', 'tag-routed']);
    expect(marks).toEqual([false, false, false, false, true, false]);
  });

  it('reads a uuid-length tag from its fixed place, and an escaped one of that length by decoding', async () => {
    const queue = `tags36-${randomUUID()}`;
    const tid = randomUUID();
    const uuid = randomUUID();
    // JSON texts of exactly 36 characters, a uuid's length, whose values hold a quote and a
    // backslash: taken from the fixed place, they would be read escaped.
    const quoted = `${'q'.repeat(33)}\\"y`;
    const slashed = `${'s'.repeat(33)}\\\\z`;
    expect([uuid.length, quoted.length, slashed.length]).toEqual([36, 36, 36]);
    for (const tag of [uuid, quoted, slashed]) await raw.lPush(`${prefix}${queue}`, pythonEnvelope(queue, tid, tag));
    const tags: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { d, close } = await firstDelivery(broker, queue);
      await close();
      tags.push(d.tag);
      expect(await raw.hExists(`${prefix}unacked`, d.tag)).toBe(1);
      await d.ack();
      expect(await raw.hExists(`${prefix}unacked`, d.tag)).toBe(0);
    }
    expect(tags).toEqual([uuid, `${'q'.repeat(33)}"y`, `${'s'.repeat(33)}\\z`]);
  });

  it('delivers a malformed envelope under a generated tag and can set it aside', async () => {
    await raw.lPush(`${prefix}badq`, 'not json');
    const { d, close } = await firstDelivery(broker, 'badq');
    expect(d.raw).toBe('not json');
    expect(d.tag).toMatch(/^celeriac-malformed-/);
    expect(JSON.parse((await raw.hGet(`${prefix}unacked`, d.tag)) as string)).toEqual(['not json', '', '']);
    await d.setAside('undecodable');
    const records = await broker.setAsideMessages();
    expect(records.at(-1)).toMatchObject({ raw: 'not json', queue: 'badq', reason: 'undecodable' });
    expect(await raw.hExists(`${prefix}unacked`, d.tag)).toBe(0);
    await close();
  });
});
