import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../backends/memory/memory-backend.js';
import type { ResultBackend, RevokeNotice } from '../core/spi/backend.js';
import { FakeClock } from '../testing/fake-clock.js';
import { RevokedSet, RevokeSync, signalName, signalNumber } from './revoked.js';

describe('RevokedSet', () => {
  it('holds ids until their revoke ends (by the injected clock)', () => {
    const clock = new FakeClock();
    const set = new RevokedSet(clock);
    set.add(['a'], 1000);
    set.add(['b'], 5000);
    expect(set.has('a')).toBe(true);
    clock.advance(1000);
    expect(set.has('a')).toBe(false);
    expect(set.ids()).toEqual(['b']);
  });

  it('a later, shorter revoke does not shorten a longer one', () => {
    const clock = new FakeClock();
    const set = new RevokedSet(clock);
    set.add(['a'], 5000);
    set.add(['a'], 10);
    clock.advance(1000);
    expect(set.has('a')).toBe(true);
  });

  it('drops the oldest ids past its size limit', () => {
    const set = new RevokedSet(new FakeClock(), 3);
    set.add(['a', 'b', 'c'], 1000);
    set.add(['d'], 1000);
    expect(set.ids()).toEqual(['b', 'c', 'd']);
    set.add(['b'], 1000);
    set.add(['e'], 1000);
    expect(set.ids()).toEqual(['d', 'b', 'e']);
  });
});

describe('signals', () => {
  it('normalises names and numbers to SIGXXX, and back to numbers', () => {
    expect(signalName(undefined)).toBe('SIGTERM');
    expect(signalName('kill')).toBe('SIGKILL');
    expect(signalName('SIGINT')).toBe('SIGINT');
    expect(signalName(9)).toBe('SIGKILL');
    expect(signalName('15')).toBe('SIGTERM');
    expect(signalNumber('SIGKILL')).toBe('9');
    expect(() => signalName('NOPE')).toThrow(/unknown signal/);
  });
});

describe('RevokeSync', () => {
  it('loads live revokes at start, follows notices, and re-reads the set to catch lost notices', async () => {
    const clock = new FakeClock();
    const memory = new MemoryBackend({ clock });
    await memory.revoke(['before'], { expiresSec: 60 });
    let deliver = true;
    // A backend whose notices can be "lost", as pub/sub messages are during a reconnect.
    const backend = {
      revokedEntries: () => memory.revokedEntries(),
      onRevoke: (listener: (n: RevokeNotice) => void) => memory.onRevoke((n) => deliver && listener(n)),
    } as unknown as ResultBackend;
    const notices: RevokeNotice[] = [];
    const set = new RevokedSet(clock);
    const sync = new RevokeSync({ backend, clock, log: pino({ level: 'silent' }), set, onNotice: (n) => notices.push(n), refreshMs: 10_000 });
    expect(sync.live).toBe(true);
    await sync.start();
    expect(set.ids()).toEqual(['before']);
    await memory.revoke(['live'], { expiresSec: 60, terminate: true, signal: 'SIGKILL' });
    await new Promise((r) => setImmediate(r));
    expect(set.has('live')).toBe(true);
    expect(notices).toEqual([{ ids: ['live'], ttlMs: 60_000, terminate: true, signal: 'SIGKILL' }]);
    deliver = false;
    await memory.revoke(['lost'], { expiresSec: 60 });
    await new Promise((r) => setImmediate(r));
    expect(set.has('lost')).toBe(false);
    clock.advance(10_000);
    await new Promise((r) => setImmediate(r));
    expect(set.has('lost')).toBe(true);
    await sync.close();
    expect(clock.pendingTimers).toBe(0);
  });

  it('loads only as many revokes as the set holds, the ones that end last', async () => {
    const clock = new FakeClock();
    const memory = new MemoryBackend({ clock });
    for (let i = 1; i <= 5; i++) await memory.revoke([`r${i}`], { expiresSec: 60 * i });
    const asked: (number | undefined)[] = [];
    const backend = {
      revokedEntries: (limit?: number) => {
        asked.push(limit);
        return memory.revokedEntries(limit);
      },
      onRevoke: (listener: (n: RevokeNotice) => void) => memory.onRevoke(listener),
    } as unknown as ResultBackend;
    const set = new RevokedSet(clock, 3);
    const sync = new RevokeSync({ backend, clock, log: pino({ level: 'silent' }), set, onNotice: () => undefined });
    await sync.start();
    expect(asked).toEqual([3]);
    expect(set.ids()).toEqual(['r3', 'r4', 'r5']);
    await sync.close();
  });
});
