/**
 * Where a future-ETA message waits (delayed.ts): in celeriac.delayed only while a consuming
 * Celeriac broker is alive to promote it; otherwise in its queue, kombu-style, with its eta
 * header; and delayed messages go back to their queues when the last promoter closes or
 * vanishes. Each test uses its own key prefix, so no other promoter interferes.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClientType } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../../src/core/clock.js';
import { makeMessage } from '../../../src/testing/broker-harness.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { waitFor } from '../../../src/testing/wait-for.js';
import { RedisBroker } from '../../../src/brokers/redis/redis-broker.js';
import { deletePrefix, newPrefix, prefixedUrl, rawClient, redisAvailable } from './redis-test-env.js';

const available = await redisAvailable();
const prefixes: string[] = [];
const brokers: RedisBroker[] = [];

function broker(prefix: string, clock?: Clock): RedisBroker {
  const b = new RedisBroker(prefixedUrl(prefix), { pollIntervalMs: 20, ...(clock ? { clock } : {}) });
  brokers.push(b);
  return b;
}

function freshPrefix(): string {
  const p = newPrefix();
  prefixes.push(p);
  return p;
}

function etaMessage(id: string, at: number) {
  const m = makeMessage(id);
  m.headers['eta'] = new Date(at).toISOString().replace('Z', '+00:00');
  return m;
}

describe.skipIf(!available)('RedisBroker: ETA messages are never stranded in celeriac.delayed', () => {
  let raw: RedisClientType;

  const delayedCount = (p: string) => raw.zCard(`${p}celeriac.delayed`);
  const queued = (p: string, q: string) => raw.lRange(`${p}${q}`, 0, -1);

  /** Starts consuming an idle queue and waits until the broker advertised itself. */
  async function promoter(p: string): Promise<RedisBroker> {
    const b = broker(p);
    b.consume({ queues: [`idle-${randomUUID().slice(0, 6)}`], prefetch: 1, onDelivery: () => undefined });
    await waitFor(async () => (await raw.zScore(`${p}celeriac.promoters`, b.id)) !== null, 'the broker to advertise itself as a promoter');
    return b;
  }

  beforeAll(async () => {
    raw = await rawClient();
  });

  afterEach(async () => {
    await Promise.all(brokers.splice(0).map((b) => b.close()));
  });

  afterAll(async () => {
    for (const p of prefixes) await deletePrefix(raw, p);
    await raw?.close();
  });

  it('with no Celeriac worker alive, a future-ETA publish goes to its queue with its eta header', async () => {
    const p = freshPrefix();
    const producer = broker(p);
    const due = Date.now() + 60_000;
    await producer.publish(etaMessage('e1', due), { exchange: '', routingKey: 'q', deliverAt: due });
    expect(await delayedCount(p)).toBe(0);
    const [envelope] = await queued(p, 'q');
    const headers = (JSON.parse(envelope as string) as { headers: { id: string; eta: string } }).headers;
    expect(headers.id).toBe('e1');
    expect(Date.parse(headers.eta)).toBe(due);
  });

  it('with a Celeriac worker alive, it waits in celeriac.delayed; when that last worker closes, it goes to its queue', async () => {
    const p = freshPrefix();
    const worker = await promoter(p);
    const producer = broker(p);
    const due = Date.now() + 60_000;
    await producer.publish(etaMessage('e2', due), { exchange: '', routingKey: 'q', priority: 7, deliverAt: due });
    expect(await delayedCount(p)).toBe(1);
    expect(await raw.lLen(`${p}q\x06\x166`)).toBe(0);
    await worker.close();
    expect(await delayedCount(p)).toBe(0);
    expect(await raw.zScore(`${p}celeriac.promoters`, worker.id)).toBeNull();
    const [envelope] = await raw.lRange(`${p}q\x06\x166`, 0, -1);
    expect((JSON.parse(envelope as string) as { headers: { id: string } }).headers.id).toBe('e2');
  });

  it('a closing worker leaves delayed messages alone while another worker is alive', async () => {
    const p = freshPrefix();
    const a = await promoter(p);
    await promoter(p);
    const producer = broker(p);
    await producer.publish(etaMessage('e3', Date.now() + 60_000), { exchange: '', routingKey: 'q', deliverAt: Date.now() + 60_000 });
    await a.close();
    expect(await delayedCount(p)).toBe(1);
    expect(await raw.lLen(`${p}q`)).toBe(0);
  });

  it('after the last worker vanished (presence expired), the next Celeriac publish moves delayed messages back', async () => {
    const p = freshPrefix();
    // A worker that was killed: its presence is still in the set for a minute.
    await raw.zAdd(`${p}celeriac.promoters`, { score: Date.now() + 60_000, value: 'killed-worker' });
    const producer = broker(p);
    const due = Date.now() + 3_600_000;
    await producer.publish(etaMessage('e4', due), { exchange: '', routingKey: 'q', deliverAt: due });
    expect(await delayedCount(p)).toBe(1);
    // The next publisher's clock is past that presence (and before the ETA): it finds no
    // promoter alive and hands the message back to its queue.
    const later = broker(p, new FakeClock(Date.now() + 120_000));
    await later.publish(makeMessage('plain'), { exchange: '', routingKey: 'other' });
    await waitFor(async () => (await delayedCount(p)) === 0, 'the delayed message to be moved back');
    const ids = (await queued(p, 'q')).map((e) => (JSON.parse(e) as { headers: { id: string } }).headers.id);
    expect(ids).toEqual(['e4']);
    // Left out of the count, not removed: only the lost-task sweep forgets a presence, after its grace.
    expect(await raw.zScore(`${p}celeriac.promoters`, 'killed-worker')).not.toBeNull();
  });
});
