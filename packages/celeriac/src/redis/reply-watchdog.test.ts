import { describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { ReplyWatchdog } from './reply-watchdog.js';

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('ReplyWatchdog', () => {
  it('fails every outstanding command once replies stop for timeoutMs, and reports the stall', async () => {
    const clock = new FakeClock();
    let stalls = 0;
    const dog = new ReplyWatchdog({ timeoutMs: 400, clock, onStall: () => stalls++ });
    const a = dog.watch(deferred<number>().promise);
    const b = dog.watch(deferred<number>().promise);
    clock.advance(399);
    expect(stalls).toBe(0);
    clock.advance(200);
    expect(stalls).toBe(1);
    await expect(a).rejects.toThrow('no reply within 400 ms');
    await expect(b).rejects.toThrow('no reply within 400 ms');
    expect(dog.outstanding).toBe(0);
  });

  it('keeps a connection alive while replies flow, however long a busy period lasts', async () => {
    const clock = new FakeClock();
    let stalls = 0;
    const dog = new ReplyWatchdog({ timeoutMs: 400, clock, onStall: () => stalls++ });
    const slow = deferred<string>();
    const watched = dog.watch(slow.promise);
    for (let i = 0; i < 20; i++) {
      await dog.watch(Promise.resolve(i));
      clock.advance(100);
    }
    expect(stalls).toBe(0);
    slow.resolve('late but fine');
    await expect(watched).resolves.toBe('late but fine');
  });

  it('passes results and errors through, and samples nothing while idle', async () => {
    const clock = new FakeClock();
    const dog = new ReplyWatchdog({ timeoutMs: 400, clock, onStall: () => undefined });
    await expect(dog.watch(Promise.resolve(7))).resolves.toBe(7);
    await expect(dog.watch(Promise.reject(new Error('READONLY')))).rejects.toThrow('READONLY');
    clock.advance(10_000);
    expect(clock.pendingTimers).toBe(0);
  });

  it('while reconnecting, fails commands after the shorter offline timeout without reporting a stall', async () => {
    const clock = new FakeClock();
    let stalls = 0;
    let reconnecting = true;
    const dog = new ReplyWatchdog({ timeoutMs: 30_000, clock, onStall: () => stalls++, offline: { timeoutMs: 400, active: () => reconnecting } });
    const queued = dog.watch(deferred<number>().promise);
    clock.advance(700);
    await expect(queued).rejects.toThrow('no reply within 400 ms (reconnecting)');
    expect(stalls).toBe(0);
    reconnecting = false;
    const later = dog.watch(deferred<number>().promise);
    clock.advance(5_000);
    expect(dog.outstanding).toBe(1);
    clock.advance(30_000);
    await expect(later).rejects.toThrow('no reply within 30000 ms');
    expect(stalls).toBe(1);
  });
});
