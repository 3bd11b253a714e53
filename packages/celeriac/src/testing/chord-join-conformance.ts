/**
 * @module testing/chord-join-conformance
 * The conformance suite of the chord-join role of a result backend (core/spi/chord-join.ts
 * `ChordJoinStore`): what canvas/chord-join.ts relies on to run each chord body once.
 *
 * Requires vitest (a devDependency of this package): import it from test files only.
 */
import { expect, it } from 'vitest';
import type { ResultStore } from '../core/spi/backend.js';
import type { ChordJoinStore } from '../core/spi/chord-join.js';
import { defineBackendSuite, FOREVER, type BackendSuiteOptions } from './backend-harness.js';

/**
 * Defines a vitest `describe` block checking the join: parts counted before and after the
 * size is stored, every part reported in header order once all arrived, a part recorded
 * twice counted once, clear and expiry.
 *
 * @param name Shown in the describe title.
 * @param makeBackend Called before each test; the suite connects and, after the test, closes it.
 * @param options Cleanup hook, id prefix and how time passes for expiry.
 */
export function chordJoinConformance<B extends ResultStore & ChordJoinStore>(name: string, makeBackend: () => Promise<B> | B, options: BackendSuiteOptions<B> = {}): void {
  defineBackendSuite(`ChordJoin conformance: ${name}`, makeBackend, options, ({ backend, newId, pass }) => {
    it('joins a chord: counts parts, reports every part in header order once all arrived', async () => {
      const gid = newId();
      const [a, b, c] = [newId(), newId(), newId()];
      const early = await backend().addChordPart(gid, { taskId: b, state: 'SUCCESS', result: 'b', index: 1 }, FOREVER);
      // A part may end before the sender stored the size: it is counted, nothing completes.
      expect(early).toEqual({ count: 1, total: null, parts: null });
      await backend().setChordSize(gid, 3, FOREVER);
      const failure = { exc_type: 'ValueError', exc_message: ['c'], exc_module: 'builtins' };
      const second = await backend().addChordPart(gid, { taskId: c, state: 'FAILURE', result: failure, index: 2 }, FOREVER);
      expect(second).toEqual({ count: 2, total: 3, parts: null });
      const last = await backend().addChordPart(gid, { taskId: a, state: 'SUCCESS', result: { n: [1] }, index: 0 }, FOREVER);
      expect(last.count).toBe(3);
      expect(last.total).toBe(3);
      expect(last.parts?.map((p) => [p.taskId, p.state, p.result])).toEqual([
        [a, 'SUCCESS', { n: [1] }],
        [b, 'SUCCESS', 'b'],
        [c, 'FAILURE', failure],
      ]);
      await backend().clearChord(gid);
    });

    it('a chord part recorded twice counts once; a part without index sorts last', async () => {
      const gid = newId();
      const [a, b] = [newId(), newId()];
      await backend().setChordSize(gid, 2, FOREVER);
      await backend().addChordPart(gid, { taskId: b, state: 'SUCCESS', result: 2, index: null }, FOREVER);
      const again = await backend().addChordPart(gid, { taskId: b, state: 'SUCCESS', result: 2, index: null }, FOREVER);
      expect(again).toEqual({ count: 1, total: 2, parts: null });
      const done = await backend().addChordPart(gid, { taskId: a, state: 'SUCCESS', result: 1, index: 5 }, FOREVER);
      expect(done.parts?.map((p) => p.taskId)).toEqual([a, b]);
      await backend().clearChord(gid);
    });

    it('clearChord forgets the size and the parts', async () => {
      const gid = newId();
      await backend().setChordSize(gid, 1, FOREVER);
      await backend().clearChord(gid);
      const after = await backend().addChordPart(gid, { taskId: newId(), state: 'SUCCESS', result: null, index: 0 }, { expiresSec: 60 });
      expect(after).toEqual({ count: 1, total: null, parts: null });
      await backend().clearChord(gid);
      await backend().clearChord(newId());
    });

    it('expires a join after its time: a new part starts from zero without a size', async () => {
      const gid = newId();
      await backend().setChordSize(gid, 2, { expiresSec: 1 });
      await backend().addChordPart(gid, { taskId: newId(), state: 'SUCCESS', result: 1, index: 0 }, { expiresSec: 1 });
      await pass(1250);
      const fresh = await backend().addChordPart(gid, { taskId: newId(), state: 'SUCCESS', result: 1, index: 1 }, { expiresSec: 60 });
      expect(fresh).toEqual({ count: 1, total: null, parts: null });
      await backend().clearChord(gid);
    });
  });
}
