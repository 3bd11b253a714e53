/**
 * @module testing/beat-store-conformance
 * The one test suite every {@link BeatStore} runs, together with the broker that hosts it
 * (memory, Redis): lease and fencing, run state, dynamic entries, and the fenced publish.
 *
 * Requires vitest (a devDependency of this package): import it from test files only.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BeatStore } from '../core/spi/beat-store.js';
import type { QueueBroker } from '../core/spi/broker.js';
import { CeleriacError, ErrorCodes } from '../errors.js';
import type { Message } from '../protocol/types.js';

/** A broker with its beat store, and a way to let leases expire. */
export interface BeatStoreFixture {
  broker: QueueBroker;
  store: BeatStore;
  /** Makes `ms` pass for lease expiry (advance a fake clock, or sleep for Redis). */
  pass(ms: number): Promise<void>;
  /** Closes the broker and deletes what the test wrote. */
  close(): Promise<void>;
}

/** Options of {@link beatStoreConformance}. */
export interface BeatStoreConformanceOptions {
  /** A fresh broker + store (empty beat state) per test. */
  open(): Promise<BeatStoreFixture>;
  /**
   * Length of the leases the suite lets expire, ms (Redis: a few hundred ms of real time).
   * Leases that must hold are taken for a minute and shortened to this by a renew just before
   * the suite lets them expire, so a slow machine cannot expire a lease a step still needs.
   * @default 300
   */
  ttlMs?: number;
}

function message(id: string): Message {
  return {
    headers: { task: 'beat.conformance', id },
    properties: { correlation_id: id, reply_to: '', delivery_mode: 2, priority: 0 },
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    body: '[[], {}, {}]',
  };
}

/** Defines the suite. */
export function beatStoreConformance(name: string, options: BeatStoreConformanceOptions): void {
  const ttl = options.ttlMs ?? 300;
  const hold = 60_000;
  describe(`beat store conformance: ${name}`, () => {
    let f: BeatStoreFixture;
    beforeEach(async () => {
      f = await options.open();
    });
    afterEach(async () => {
      await f.close();
    });

    it('grants the lease to one holder at a time and tells the others when to retry', async () => {
      const a = await f.store.acquire('a', hold);
      expect(a.token).toEqual(expect.any(String));
      const b = await f.store.acquire('b', hold);
      expect(b.token).toBeNull();
      expect(b.retryInMs).toBeGreaterThan(0);
      expect(b.retryInMs).toBeLessThanOrEqual(hold);
    });

    it('renews only with the current token; an expired lease goes to the next holder with a new token', async () => {
      const a = (await f.store.acquire('a', hold)).token as string;
      expect(await f.store.renew(a, ttl)).toBe(true);
      await f.pass(ttl + 100);
      const b = (await f.store.acquire('b', hold)).token as string;
      expect(b).toEqual(expect.any(String));
      expect(b).not.toBe(a);
      expect(await f.store.renew(a, hold)).toBe(false);
      expect(await f.store.renew(b, hold)).toBe(true);
    });

    it('release frees the lease at once, and only for its holder', async () => {
      const a = (await f.store.acquire('a', hold)).token as string;
      await f.store.release('stale-token');
      expect((await f.store.acquire('b', hold)).token).toBeNull();
      await f.store.release(a);
      expect((await f.store.acquire('b', hold)).token).toEqual(expect.any(String));
    });

    it('records run state only while holding the lease', async () => {
      const a = (await f.store.acquire('a', hold)).token as string;
      expect(await f.store.record(a, 'e1', { lastRunAt: 1000, totalRunCount: 3 })).toBe(true);
      expect(await f.store.renew(a, ttl)).toBe(true);
      await f.pass(ttl + 100);
      const b = (await f.store.acquire('b', hold)).token as string;
      expect(await f.store.record(a, 'e1', { lastRunAt: 2000, totalRunCount: 4 })).toBe(false);
      expect((await f.store.states()).get('e1')).toEqual({ lastRunAt: 1000, totalRunCount: 3 });
      expect(await f.store.record(b, 'e1', { lastRunAt: 3000, totalRunCount: 4 })).toBe(true);
      expect((await f.store.states()).get('e1')).toEqual({ lastRunAt: 3000, totalRunCount: 4 });
    });

    it('a fenced publish sends and records with the current token, and does neither with a stale one', async () => {
      const queue = `beat-conf-${Math.random().toString(36).slice(2)}`;
      await f.broker.declareQueue(queue);
      const a = (await f.store.acquire('a', hold)).token as string;
      const fence = f.store.fence(a, 'e1', { lastRunAt: 5000, totalRunCount: 1 });
      await f.broker.publish(message('m1'), { exchange: '', routingKey: queue, fence });
      expect(await f.broker.queueLength(queue)).toBe(1);
      expect((await f.store.states()).get('e1')).toEqual({ lastRunAt: 5000, totalRunCount: 1 });
      expect(await f.store.renew(a, ttl)).toBe(true);
      await f.pass(ttl + 100);
      expect((await f.store.acquire('b', hold)).token).toEqual(expect.any(String));
      const stale = f.store.fence(a, 'e1', { lastRunAt: 6000, totalRunCount: 2 });
      const refused = await f.broker.publish(message('m2'), { exchange: '', routingKey: queue, fence: stale }).then(() => null, (e: unknown) => e);
      expect(refused).toBeInstanceOf(CeleriacError);
      expect((refused as CeleriacError).code).toBe(ErrorCodes.FENCED);
      expect(await f.broker.queueLength(queue)).toBe(1);
      expect((await f.store.states()).get('e1')).toEqual({ lastRunAt: 5000, totalRunCount: 1 });
      await f.broker.purge(queue);
    });

    it('keeps dynamic entries with a growing version, a paused set, and removes state with an entry', async () => {
      const v0 = await f.store.version();
      const v1 = await f.store.put('d1', '{"task":"t","schedule":5}');
      expect(v1).toBeGreaterThan(v0);
      const v2 = await f.store.setPaused('d1', true);
      expect(v2).toBeGreaterThan(v1);
      let e = await f.store.entries();
      expect(e.version).toBe(v2);
      expect(e.definitions.get('d1')).toBe('{"task":"t","schedule":5}');
      expect([...e.paused]).toEqual(['d1']);
      await f.store.setPaused('d1', false);
      const token = (await f.store.acquire('a', hold)).token as string;
      await f.store.record(token, 'd1', { lastRunAt: 1, totalRunCount: 1 });
      expect(await f.store.remove('d1')).toBe(true);
      expect(await f.store.remove('d1')).toBe(false);
      e = await f.store.entries();
      expect(e.definitions.size).toBe(0);
      expect(e.paused.size).toBe(0);
      expect((await f.store.states()).has('d1')).toBe(false);
      expect(await f.store.version()).toBe(e.version);
    });
  });
}
