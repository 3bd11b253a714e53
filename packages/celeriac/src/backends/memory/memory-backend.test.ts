import { describe, expect, it } from 'vitest';
import { backendConformance } from '../../testing/backend-conformance.js';
import { chordJoinConformance } from '../../testing/chord-join-conformance.js';
import { groupStoreConformance } from '../../testing/group-store-conformance.js';
import { rateTokenConformance } from '../../testing/rate-token-conformance.js';
import { revocationConformance } from '../../testing/revocation-conformance.js';
import { FakeClock } from '../../testing/fake-clock.js';
import { ErrorCodes } from '../../errors.js';
import type { ResultMeta } from '../../protocol/types.js';
import { MemoryBackend } from './memory-backend.js';
import { sleep, waitFor } from '../../testing/wait-for.js';

// Every role, each suite on a fake clock that its expiry checks advance (no real waiting).
{
  let clock = new FakeClock();
  const make = () => new MemoryBackend({ clock: (clock = new FakeClock(Date.now())) });
  const options = { pass: async (ms: number) => clock.advance(ms) };
  backendConformance('memory', make, options);
  groupStoreConformance('memory', make, options);
  chordJoinConformance('memory', make, options);
  revocationConformance('memory', make, options);
  rateTokenConformance('memory', make, options);
}

const meta = (taskId: string, status = 'SUCCESS', result: ResultMeta['result'] = 1): ResultMeta => ({
  status,
  result,
  traceback: null,
  children: [],
  date_done: null,
  task_id: taskId,
});

describe('MemoryBackend (fake clock)', () => {
  it('expires a meta exactly at expiresSec, and keeps expiresSec null forever', async () => {
    const clock = new FakeClock();
    const backend = new MemoryBackend({ clock });
    await backend.store(meta('a'), { expiresSec: 10 });
    await backend.store(meta('b'), { expiresSec: null });
    clock.advance(9_999);
    expect(await backend.get('a')).not.toBeNull();
    clock.advance(1);
    expect(await backend.get('a')).toBeNull();
    clock.advance(365 * 86_400_000);
    expect(await backend.get('b')).not.toBeNull();
  });

  it('an expired SUCCESS no longer blocks a new store', async () => {
    const clock = new FakeClock();
    const backend = new MemoryBackend({ clock });
    await backend.store(meta('a', 'SUCCESS', 1), { expiresSec: 1 });
    clock.advance(1000);
    await backend.store(meta('a', 'FAILURE', 2), { expiresSec: 1 });
    expect((await backend.get('a'))?.status).toBe('FAILURE');
  });

  it('expires groups and revokes by the clock', async () => {
    const clock = new FakeClock();
    const backend = new MemoryBackend({ clock });
    await backend.saveGroup('g', { result: [['g', null], []] }, { expiresSec: 5 });
    await backend.revoke(['t'], { expiresSec: 5 });
    clock.advance(4_999);
    expect(await backend.getGroup('g')).not.toBeNull();
    expect(await backend.revoked(['t'])).toEqual(new Set(['t']));
    clock.advance(1);
    expect(await backend.getGroup('g')).toBeNull();
    expect(await backend.revoked(['t'])).toEqual(new Set());
  });

  it('notifies subscribers asynchronously, never inside store()', async () => {
    const backend = new MemoryBackend();
    const seen: string[] = [];
    await backend.subscribe('a', (m) => seen.push(m.status));
    const pending = backend.store(meta('a', 'STARTED'), { expiresSec: null });
    expect(seen).toEqual([]);
    await pending;
    await Promise.resolve();
    expect(seen).toEqual(['STARTED']);
  });

  it('does not deliver a pending notification to a listener unsubscribed meanwhile', async () => {
    const backend = new MemoryBackend();
    const seen: string[] = [];
    const unsubscribe = await backend.subscribe('a', (m) => seen.push(m.status));
    const pending = backend.store(meta('a', 'STARTED'), { expiresSec: null });
    const stopped = unsubscribe();
    await Promise.all([pending, stopped]);
    await sleep(0); // bounds an absence: a delivery queued before the unsubscribe would land in this turn
    expect(seen).toEqual([]);
  });

  it('gives each listener its own copy, and survives a throwing listener', async () => {
    const backend = new MemoryBackend();
    const seen: ResultMeta[] = [];
    await backend.subscribe('a', () => {
      throw new Error('listener bug');
    });
    await backend.subscribe('a', (m) => {
      seen.push(m);
      (m.result as { n: number }).n = 99;
    });
    await backend.subscribe('a', (m) => seen.push(m));
    await backend.store(meta('a', 'PROGRESS', { n: 1 }), { expiresSec: null });
    await waitFor(() => seen.length === 2, 'both subscribers called');
    expect(seen.map((m) => m.result)).toEqual([{ n: 99 }, { n: 1 }]);
    expect((await backend.get('a'))?.result).toEqual({ n: 1 });
  });

  it('rejects invalid expiries with CELERIAC_ERR_INVALID_ARGUMENT', async () => {
    const backend = new MemoryBackend();
    await expect(backend.store(meta('a'), { expiresSec: 0 })).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
    await expect(backend.revoke(['a'], { expiresSec: Number.NaN })).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
  });

  it('fails every call after close with CELERIAC_ERR_STATE and stops notifications', async () => {
    const backend = new MemoryBackend();
    const seen: string[] = [];
    await backend.subscribe('a', (m) => seen.push(m.status));
    expect(backend.state).toBe('open');
    await backend.close();
    await backend.close();
    expect(backend.state).toBe('closed');
    await expect(backend.connect()).rejects.toMatchObject({ code: ErrorCodes.STATE });
    await expect(backend.get('a')).rejects.toMatchObject({ code: ErrorCodes.STATE });
    await expect(backend.store(meta('a'), { expiresSec: null })).rejects.toMatchObject({ code: ErrorCodes.STATE });
    expect(seen).toEqual([]);
  });
});
