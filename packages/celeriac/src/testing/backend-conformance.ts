/**
 * @module testing/backend-conformance
 * The one test suite every {@link ResultBackend} adapter runs (memory, Redis). It checks the
 * guarantees of the ResultBackend SPI (core/spi/backend.ts) with real time and unique ids.
 *
 * Requires vitest (a devDependency of this package): import it from test files only.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ResultBackend, RevokeNotice } from '../core/spi/backend.js';
import type { GroupMeta, Json, ResultMeta, TaskState } from '../protocol/types.js';

/** Options of {@link backendConformance}. */
export interface BackendConformanceOptions {
  /** Runs after each test, before the backend is closed (delete keys...). */
  cleanup?: (backend: ResultBackend) => Promise<void>;
  /**
   * Prefix of every task and group id the suite creates (each gets a random suffix).
   * @default 'celeriac-conformance-'
   */
  idPrefix?: string;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A result meta in Celery's shape and field order. */
function makeMeta(taskId: string, status: TaskState, result: Json): ResultMeta {
  const ready = status === 'SUCCESS' || status === 'FAILURE' || status === 'REVOKED';
  return {
    status,
    result,
    traceback: null,
    children: [],
    date_done: ready ? '2026-01-01T00:00:00.000000' : null,
    task_id: taskId,
  };
}

async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(5);
  }
}

const forever = { expiresSec: null };

/**
 * Defines a vitest `describe` block checking that `makeBackend()` honours the ResultBackend
 * SPI: store/get, getMany order, SUCCESS never overwritten, subscribe/unsubscribe, forget,
 * groups, revokes, chord joins and expiry.
 *
 * ```ts
 * backendConformance('memory', () => new MemoryBackend());
 * ```
 *
 * @param name Shown in the describe title.
 * @param makeBackend Called before each test; the suite connects and, after the test, closes it.
 * @param options Cleanup hook and id prefix.
 */
export function backendConformance(
  name: string,
  makeBackend: () => Promise<ResultBackend> | ResultBackend,
  options: BackendConformanceOptions = {},
): void {
  const prefix = options.idPrefix ?? 'celeriac-conformance-';
  const newId = () => `${prefix}${randomUUID()}`;

  describe(`ResultBackend conformance: ${name}`, () => {
    let backend: ResultBackend;

    beforeEach(async () => {
      backend = await makeBackend();
      await backend.connect();
    });

    afterEach(async () => {
      await options.cleanup?.(backend);
      await backend.close();
    });

    it('stores and gets a meta; an unknown id reads as null', async () => {
      const id = newId();
      const meta: ResultMeta = { ...makeMeta(id, 'SUCCESS', { answer: [1, 'two', null] }), name: 'proj.add', args: [1, 2] };
      await backend.store(meta, forever);
      expect(await backend.get(id)).toEqual(meta);
      expect(await backend.get(newId())).toBeNull();
    });

    it('stores a snapshot: mutating the stored or returned object changes nothing', async () => {
      const id = newId();
      const meta = makeMeta(id, 'PROGRESS', { done: 1 });
      await backend.store(meta, forever);
      (meta.result as { done: number }).done = 99;
      const read = await backend.get(id);
      expect(read?.result).toEqual({ done: 1 });
      (read?.result as { done: number }).done = 42;
      expect((await backend.get(id))?.result).toEqual({ done: 1 });
    });

    it('a later store replaces a non-final state', async () => {
      const id = newId();
      await backend.store(makeMeta(id, 'STARTED', null), forever);
      await backend.store(makeMeta(id, 'FAILURE', { exc_type: 'ValueError', exc_message: ['x'], exc_module: 'builtins' }), forever);
      expect((await backend.get(id))?.status).toBe('FAILURE');
    });

    it('getMany returns metas in the order asked, null for misses', async () => {
      const [a, b, missing] = [newId(), newId(), newId()];
      await backend.store(makeMeta(a, 'SUCCESS', 1), forever);
      await backend.store(makeMeta(b, 'STARTED', null), forever);
      const got = await backend.getMany([b, missing, a, b]);
      expect(got.map((m) => m?.task_id ?? null)).toEqual([b, null, a, b]);
      expect(got[2]?.result).toBe(1);
      expect(await backend.getMany([])).toEqual([]);
    });

    it('never overwrites a stored SUCCESS, and does not publish the ignored store', async () => {
      const id = newId();
      const seen: ResultMeta[] = [];
      const unsubscribe = await backend.subscribe(id, (m) => seen.push(m));
      await backend.store(makeMeta(id, 'SUCCESS', 5), forever);
      await backend.store(makeMeta(id, 'FAILURE', { exc_type: 'E', exc_message: [], exc_module: null }), forever);
      await backend.store(makeMeta(id, 'STARTED', null), forever);
      const stored = await backend.get(id);
      expect(stored?.status).toBe('SUCCESS');
      expect(stored?.result).toBe(5);
      await waitFor(() => seen.length >= 1);
      await sleep(150);
      expect(seen.map((m) => m.status)).toEqual(['SUCCESS']);
      await unsubscribe();
    });

    it('subscribe receives every later store; unsubscribe stops it', async () => {
      const id = newId();
      const other = newId();
      const seen: ResultMeta[] = [];
      const unsubscribe = await backend.subscribe(id, (m) => seen.push(m));
      await backend.store(makeMeta(other, 'SUCCESS', 0), forever);
      await backend.store(makeMeta(id, 'PROGRESS', { step: 1 }), forever);
      await backend.store(makeMeta(id, 'PROGRESS', { step: 2 }), forever);
      await waitFor(() => seen.length >= 2);
      expect(seen.map((m) => m.result)).toEqual([{ step: 1 }, { step: 2 }]);
      expect(seen.every((m) => m.task_id === id)).toBe(true);
      await unsubscribe();
      await unsubscribe();
      await backend.store(makeMeta(id, 'SUCCESS', 3), forever);
      await sleep(200);
      expect(seen).toHaveLength(2);
    });

    it('forget deletes a meta', async () => {
      const id = newId();
      await backend.store(makeMeta(id, 'SUCCESS', 1), forever);
      await backend.forget(id);
      expect(await backend.get(id)).toBeNull();
      await backend.forget(newId());
    });

    it('saves, gets and forgets a group', async () => {
      const gid = newId();
      const meta: GroupMeta = { result: [[gid, null], [[[newId(), null], null], [[newId(), null], null]]] };
      await backend.saveGroup(gid, meta, forever);
      expect(await backend.getGroup(gid)).toEqual(meta);
      expect(await backend.getGroup(newId())).toBeNull();
      await backend.forgetGroup(gid);
      expect(await backend.getGroup(gid)).toBeNull();
    });

    it('revoked returns the revoked subset', async () => {
      const [a, b, c] = [newId(), newId(), newId()];
      await backend.revoke([a, b], { expiresSec: 60 });
      expect(await backend.revoked([a, b, c])).toEqual(new Set([a, b]));
      expect(await backend.revoked([c])).toEqual(new Set());
    });

    it('announces every revoke to onRevoke listeners, with terminate and signal', async () => {
      if (backend.onRevoke === undefined) return;
      const seen: RevokeNotice[] = [];
      const stop = await backend.onRevoke((n) => seen.push(n));
      const [a, b] = [newId(), newId()];
      await backend.revoke([a], { expiresSec: 60 });
      await backend.revoke([b], { expiresSec: 30, terminate: true, signal: 'SIGKILL' });
      await waitFor(() => seen.filter((n) => n.ids.includes(a) || n.ids.includes(b)).length === 2);
      const mine = seen.filter((n) => n.ids.includes(a) || n.ids.includes(b));
      expect(mine[0]).toEqual({ ids: [a], ttlMs: 60_000, terminate: false, signal: null });
      expect(mine[1]).toEqual({ ids: [b], ttlMs: 30_000, terminate: true, signal: 'SIGKILL' });
      await stop();
      const c = newId();
      await backend.revoke([c], { expiresSec: 60 });
      await sleep(50);
      expect(seen.some((n) => n.ids.includes(c))).toBe(false);
    });

    it('lists live revokes with the time they have left', async () => {
      if (backend.revokedEntries === undefined) return;
      const [a, b] = [newId(), newId()];
      await backend.revoke([a], { expiresSec: 60 });
      await backend.revoke([b], { expiresSec: 600 });
      const entries = (await backend.revokedEntries()).filter((e) => e.id === a || e.id === b);
      const byId = new Map(entries.map((e) => [e.id, e.ttlMs]));
      expect(byId.get(a)).toBeGreaterThan(55_000);
      expect(byId.get(a)).toBeLessThanOrEqual(60_000);
      expect(byId.get(b)).toBeGreaterThan(595_000);
      expect(byId.get(b)).toBeLessThanOrEqual(600_000);
    });

    it('spaces cluster rate reservations one interval apart', async () => {
      if (backend.acquireRateToken === undefined) return;
      const key = newId();
      const waits = [];
      for (let i = 0; i < 3; i++) waits.push(await backend.acquireRateToken(key, 10_000));
      expect(waits[0]).toBe(0);
      expect(waits[1]).toBeGreaterThan(9_000);
      expect(waits[1]).toBeLessThanOrEqual(10_000);
      expect(waits[2]).toBeGreaterThan(19_000);
      expect(waits[2]).toBeLessThanOrEqual(20_000);
      expect(await backend.acquireRateToken(newId(), 10_000)).toBe(0);
      await expect(backend.acquireRateToken(key, 0)).rejects.toThrow(/intervalMs/);
    });

    it('joins a chord: counts parts, reports every part in header order once all arrived', async () => {
      const gid = newId();
      const [a, b, c] = [newId(), newId(), newId()];
      const early = await backend.addChordPart(gid, { taskId: b, state: 'SUCCESS', result: 'b', index: 1 }, forever);
      // A part may end before the sender stored the size: it is counted, nothing completes.
      expect(early).toEqual({ count: 1, total: null, parts: null });
      await backend.setChordSize(gid, 3, forever);
      const failure = { exc_type: 'ValueError', exc_message: ['c'], exc_module: 'builtins' };
      const second = await backend.addChordPart(gid, { taskId: c, state: 'FAILURE', result: failure, index: 2 }, forever);
      expect(second).toEqual({ count: 2, total: 3, parts: null });
      const last = await backend.addChordPart(gid, { taskId: a, state: 'SUCCESS', result: { n: [1] }, index: 0 }, forever);
      expect(last.count).toBe(3);
      expect(last.total).toBe(3);
      expect(last.parts?.map((p) => [p.taskId, p.state, p.result])).toEqual([
        [a, 'SUCCESS', { n: [1] }],
        [b, 'SUCCESS', 'b'],
        [c, 'FAILURE', failure],
      ]);
      await backend.clearChord(gid);
    });

    it('a chord part recorded twice counts once; a part without index sorts last', async () => {
      const gid = newId();
      const [a, b] = [newId(), newId()];
      await backend.setChordSize(gid, 2, forever);
      await backend.addChordPart(gid, { taskId: b, state: 'SUCCESS', result: 2, index: null }, forever);
      const again = await backend.addChordPart(gid, { taskId: b, state: 'SUCCESS', result: 2, index: null }, forever);
      expect(again).toEqual({ count: 1, total: 2, parts: null });
      const done = await backend.addChordPart(gid, { taskId: a, state: 'SUCCESS', result: 1, index: 5 }, forever);
      expect(done.parts?.map((p) => p.taskId)).toEqual([a, b]);
      await backend.clearChord(gid);
    });

    it('clearChord forgets the size and the parts', async () => {
      const gid = newId();
      await backend.setChordSize(gid, 1, forever);
      await backend.clearChord(gid);
      const after = await backend.addChordPart(gid, { taskId: newId(), state: 'SUCCESS', result: null, index: 0 }, { expiresSec: 60 });
      expect(after).toEqual({ count: 1, total: null, parts: null });
      await backend.clearChord(gid);
      await backend.clearChord(newId());
    });

    it('expires metas, groups and revokes after their time', async () => {
      const [id, keep, gid, rid] = [newId(), newId(), newId(), newId()];
      await backend.store(makeMeta(id, 'SUCCESS', 1), { expiresSec: 1 });
      await backend.store(makeMeta(keep, 'SUCCESS', 2), { expiresSec: 60 });
      await backend.saveGroup(gid, { result: [[gid, null], []] }, { expiresSec: 1 });
      await backend.revoke([rid], { expiresSec: 1 });
      const cid = newId();
      await backend.setChordSize(cid, 2, { expiresSec: 1 });
      await backend.addChordPart(cid, { taskId: newId(), state: 'SUCCESS', result: 1, index: 0 }, { expiresSec: 1 });
      expect((await backend.get(id))?.result).toBe(1);
      expect(await backend.getGroup(gid)).not.toBeNull();
      expect(await backend.revoked([rid])).toEqual(new Set([rid]));
      await sleep(1250);
      expect(await backend.get(id)).toBeNull();
      expect(await backend.getMany([id, keep]).then((ms) => ms.map((m) => m?.task_id ?? null))).toEqual([null, keep]);
      expect(await backend.getGroup(gid)).toBeNull();
      expect(await backend.revoked([rid])).toEqual(new Set());
      // The expired join is gone: a new part starts from zero without a size.
      const fresh = await backend.addChordPart(cid, { taskId: newId(), state: 'SUCCESS', result: 1, index: 1 }, { expiresSec: 60 });
      expect(fresh).toEqual({ count: 1, total: null, parts: null });
      await backend.clearChord(cid);
    });
  });
}
