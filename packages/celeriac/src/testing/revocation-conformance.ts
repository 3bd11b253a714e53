/**
 * @module testing/revocation-conformance
 * The conformance suite of the revocations role of a result backend (core/spi/revocations.ts
 * `RevocationStore`): what lets workers started later skip revoked tasks and running ones
 * hear of a revoke.
 *
 * Requires vitest (a devDependency of this package): import it from test files only.
 */
import { expect, it } from 'vitest';
import type { ResultStore } from '../core/spi/backend.js';
import type { RevocationStore, RevokeNotice } from '../core/spi/revocations.js';
import { defineBackendSuite, type BackendSuiteOptions } from './backend-harness.js';
import { sleep, waitFor } from './wait-for.js';

/**
 * Defines a vitest `describe` block checking `revoked`, the notices of `onRevoke` and the
 * listing of `revokedEntries` (both when the adapter has them), and expiry.
 *
 * @param name Shown in the describe title.
 * @param makeBackend Called before each test; the suite connects and, after the test, closes it.
 * @param options Cleanup hook, id prefix and how time passes for expiry.
 */
export function revocationConformance<B extends ResultStore & RevocationStore>(name: string, makeBackend: () => Promise<B> | B, options: BackendSuiteOptions<B> = {}): void {
  defineBackendSuite(`RevocationStore conformance: ${name}`, makeBackend, options, ({ backend, newId, pass }) => {
    it('revoked returns the revoked subset', async () => {
      const [a, b, c] = [newId(), newId(), newId()];
      await backend().revoke([a, b], { expiresSec: 60 });
      expect(await backend().revoked([a, b, c])).toEqual(new Set([a, b]));
      expect(await backend().revoked([c])).toEqual(new Set());
    });

    it('announces every revoke to onRevoke listeners, with terminate and signal', async () => {
      const onRevoke = backend().onRevoke?.bind(backend());
      if (onRevoke === undefined) return;
      const seen: RevokeNotice[] = [];
      const stop = await onRevoke((n) => seen.push(n));
      const [a, b] = [newId(), newId()];
      await backend().revoke([a], { expiresSec: 60 });
      await backend().revoke([b], { expiresSec: 30, terminate: true, signal: 'SIGKILL' });
      await waitFor(() => seen.filter((n) => n.ids.includes(a) || n.ids.includes(b)).length === 2, 'both revokes announced', 3000);
      const mine = seen.filter((n) => n.ids.includes(a) || n.ids.includes(b));
      expect(mine[0]).toEqual({ ids: [a], ttlMs: 60_000, terminate: false, signal: null });
      expect(mine[1]).toEqual({ ids: [b], ttlMs: 30_000, terminate: true, signal: 'SIGKILL' });
      await stop();
      const c = newId();
      await backend().revoke([c], { expiresSec: 60 });
      await sleep(50);
      expect(seen.some((n) => n.ids.includes(c))).toBe(false);
    });

    it('lists live revokes with the time they have left', async () => {
      const revokedEntries = backend().revokedEntries?.bind(backend());
      if (revokedEntries === undefined) return;
      const [a, b] = [newId(), newId()];
      await backend().revoke([a], { expiresSec: 60 });
      await backend().revoke([b], { expiresSec: 600 });
      const entries = (await revokedEntries()).filter((e) => e.id === a || e.id === b);
      const byId = new Map(entries.map((e) => [e.id, e.ttlMs]));
      expect(byId.get(a)).toBeGreaterThan(55_000);
      expect(byId.get(a)).toBeLessThanOrEqual(60_000);
      expect(byId.get(b)).toBeGreaterThan(595_000);
      expect(byId.get(b)).toBeLessThanOrEqual(600_000);
    });

    it('lists only the revokes that end last when given a limit, in the order they end', async () => {
      const revokedEntries = backend().revokedEntries?.bind(backend());
      if (revokedEntries === undefined) return;
      // Longer than any other revoke of the suite, so these three end last.
      const far = 30 * 86_400;
      const [a, b, c] = [newId(), newId(), newId()];
      await backend().revoke([b], { expiresSec: far + 200 });
      await backend().revoke([a], { expiresSec: far + 100 });
      await backend().revoke([c], { expiresSec: far + 300 });
      expect((await revokedEntries(2)).map((e) => e.id)).toEqual([b, c]);
      expect((await revokedEntries(0)).map((e) => e.id)).toEqual([]);
      const all = (await revokedEntries()).map((e) => e.id);
      expect(all.slice(-3)).toEqual([a, b, c]);
    });

    it('forgets a revoke after its time', async () => {
      const id = newId();
      await backend().revoke([id], { expiresSec: 1 });
      expect(await backend().revoked([id])).toEqual(new Set([id]));
      await pass(1250);
      expect(await backend().revoked([id])).toEqual(new Set());
    });
  });
}
