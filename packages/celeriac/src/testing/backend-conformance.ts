/**
 * @module testing/backend-conformance
 * The conformance suite of the results role (core/spi/backend.ts `ResultStore`), which every
 * result backend runs (memory, Redis, rpc://): store/get, getMany order, SUCCESS never
 * overwritten, subscribe/unsubscribe, forget and expiry, with real time and unique ids. The
 * other backend roles have suites of their own: group-store-conformance.ts,
 * chord-join-conformance.ts, revocation-conformance.ts, rate-token-conformance.ts.
 *
 * Requires vitest (a devDependency of this package): import it from test files only.
 */
import { expect, it } from 'vitest';
import type { ResultStore } from '../core/spi/backend.js';
import type { ResultMeta } from '../protocol/types.js';
import { defineBackendSuite, FOREVER, makeMeta, type BackendSuiteOptions } from './backend-harness.js';
import { sleep, waitFor } from './wait-for.js';

/** Options of {@link backendConformance} and of every other backend role suite. */
export type BackendConformanceOptions<B extends ResultStore = ResultStore> = BackendSuiteOptions<B>;

/**
 * Defines a vitest `describe` block checking that `makeBackend()` honours the results role.
 *
 * ```ts
 * backendConformance('memory', () => new MemoryBackend());
 * ```
 *
 * @param name Shown in the describe title.
 * @param makeBackend Called before each test; the suite connects and, after the test, closes it.
 * @param options Cleanup hook, id prefix and how time passes for expiry.
 */
export function backendConformance<B extends ResultStore>(name: string, makeBackend: () => Promise<B> | B, options: BackendConformanceOptions<B> = {}): void {
  const expires = options.expires ?? true;
  defineBackendSuite(`ResultBackend conformance: ${name}`, makeBackend, options, ({ backend, newId, pass }) => {
    it('stores and gets a meta; an unknown id reads as null', async () => {
      const id = newId();
      const meta: ResultMeta = { ...makeMeta(id, 'SUCCESS', { answer: [1, 'two', null] }), name: 'proj.add', args: [1, 2] };
      await backend().store(meta, FOREVER);
      expect(await backend().get(id)).toEqual(meta);
      expect(await backend().get(newId())).toBeNull();
    });

    it('stores a snapshot: mutating the stored or returned object changes nothing', async () => {
      const id = newId();
      const meta = makeMeta(id, 'PROGRESS', { done: 1 });
      await backend().store(meta, FOREVER);
      (meta.result as { done: number }).done = 99;
      const read = await backend().get(id);
      expect(read?.result).toEqual({ done: 1 });
      (read?.result as { done: number }).done = 42;
      expect((await backend().get(id))?.result).toEqual({ done: 1 });
    });

    it('a later store replaces a non-final state', async () => {
      const id = newId();
      await backend().store(makeMeta(id, 'STARTED', null), FOREVER);
      await backend().store(makeMeta(id, 'FAILURE', { exc_type: 'ValueError', exc_message: ['x'], exc_module: 'builtins' }), FOREVER);
      expect((await backend().get(id))?.status).toBe('FAILURE');
    });

    it('getMany returns metas in the order asked, null for misses', async () => {
      const [a, b, missing] = [newId(), newId(), newId()];
      await backend().store(makeMeta(a, 'SUCCESS', 1), FOREVER);
      await backend().store(makeMeta(b, 'STARTED', null), FOREVER);
      const got = await backend().getMany([b, missing, a, b]);
      expect(got.map((m) => m?.task_id ?? null)).toEqual([b, null, a, b]);
      expect(got[2]?.result).toBe(1);
      expect(await backend().getMany([])).toEqual([]);
    });

    it('never overwrites a stored SUCCESS, and does not publish the ignored store', async () => {
      const id = newId();
      const seen: ResultMeta[] = [];
      const unsubscribe = await backend().subscribe(id, (m) => seen.push(m));
      await backend().store(makeMeta(id, 'SUCCESS', 5), FOREVER);
      await backend().store(makeMeta(id, 'FAILURE', { exc_type: 'E', exc_message: [], exc_module: null }), FOREVER);
      await backend().store(makeMeta(id, 'STARTED', null), FOREVER);
      const stored = await backend().get(id);
      expect(stored?.status).toBe('SUCCESS');
      expect(stored?.result).toBe(5);
      await waitFor(() => seen.length >= 1, 'the first store to reach the subscriber', 3000);
      await sleep(150);
      expect(seen.map((m) => m.status)).toEqual(['SUCCESS']);
      await unsubscribe();
    });

    it('subscribe receives every later store; unsubscribe stops it', async () => {
      const id = newId();
      const other = newId();
      const seen: ResultMeta[] = [];
      const unsubscribe = await backend().subscribe(id, (m) => seen.push(m));
      await backend().store(makeMeta(other, 'SUCCESS', 0), FOREVER);
      await backend().store(makeMeta(id, 'PROGRESS', { step: 1 }), FOREVER);
      await backend().store(makeMeta(id, 'PROGRESS', { step: 2 }), FOREVER);
      await waitFor(() => seen.length >= 2, () => `two stores at the subscriber (got ${seen.length})`, 3000);
      expect(seen.map((m) => m.result)).toEqual([{ step: 1 }, { step: 2 }]);
      expect(seen.every((m) => m.task_id === id)).toBe(true);
      await unsubscribe();
      await unsubscribe();
      await backend().store(makeMeta(id, 'SUCCESS', 3), FOREVER);
      await sleep(200);
      expect(seen).toHaveLength(2);
    });

    it('forget deletes a meta', async () => {
      const id = newId();
      await backend().store(makeMeta(id, 'SUCCESS', 1), FOREVER);
      await backend().forget(id);
      expect(await backend().get(id)).toBeNull();
      await backend().forget(newId());
    });

    it.skipIf(!expires)(`expires metas after their time${expires ? '' : ' (skipped: this backend keeps results in memory and never expires them)'}`, async () => {
      const [id, keep] = [newId(), newId()];
      await backend().store(makeMeta(id, 'SUCCESS', 1), { expiresSec: 1 });
      await backend().store(makeMeta(keep, 'SUCCESS', 2), { expiresSec: 60 });
      expect((await backend().get(id))?.result).toBe(1);
      await pass(1250);
      expect(await backend().get(id)).toBeNull();
      expect(await backend().getMany([id, keep]).then((ms) => ms.map((m) => m?.task_id ?? null))).toEqual([null, keep]);
    });
  });
}
