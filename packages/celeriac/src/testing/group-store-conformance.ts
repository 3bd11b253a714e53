/**
 * @module testing/group-store-conformance
 * The conformance suite of the groups role of a result backend (core/spi/backend.ts
 * `GroupStore`: `GroupResult.save()` / `restore()`).
 *
 * Requires vitest (a devDependency of this package): import it from test files only.
 */
import { expect, it } from 'vitest';
import type { GroupStore, ResultStore } from '../core/spi/backend.js';
import type { GroupMeta } from '../protocol/types.js';
import { defineBackendSuite, FOREVER, type BackendSuiteOptions } from './backend-harness.js';

/**
 * Defines a vitest `describe` block checking save, get, forget and expiry of saved groups.
 *
 * @param name Shown in the describe title.
 * @param makeBackend Called before each test; the suite connects and, after the test, closes it.
 * @param options Cleanup hook, id prefix and how time passes for expiry.
 */
export function groupStoreConformance<B extends ResultStore & GroupStore>(name: string, makeBackend: () => Promise<B> | B, options: BackendSuiteOptions<B> = {}): void {
  defineBackendSuite(`GroupStore conformance: ${name}`, makeBackend, options, ({ backend, newId, pass }) => {
    it('saves, gets and forgets a group', async () => {
      const gid = newId();
      const meta: GroupMeta = { result: [[gid, null], [[[newId(), null], null], [[newId(), null], null]]] };
      await backend().saveGroup(gid, meta, FOREVER);
      expect(await backend().getGroup(gid)).toEqual(meta);
      expect(await backend().getGroup(newId())).toBeNull();
      await backend().forgetGroup(gid);
      expect(await backend().getGroup(gid)).toBeNull();
      await backend().forgetGroup(newId());
    });

    it('expires a saved group after its time', async () => {
      const gid = newId();
      await backend().saveGroup(gid, { result: [[gid, null], []] }, { expiresSec: 1 });
      expect(await backend().getGroup(gid)).not.toBeNull();
      await pass(1250);
      expect(await backend().getGroup(gid)).toBeNull();
    });
  });
}
