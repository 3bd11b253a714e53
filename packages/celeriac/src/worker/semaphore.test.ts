import { describe, expect, it } from 'vitest';
import { CeleriacError, ErrorCodes } from '../errors.js';
import { Semaphore, type Release } from './semaphore.js';

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('Semaphore', () => {
  it('grants at once while slots are free, then makes callers wait', async () => {
    const sem = new Semaphore(2);
    const first = sem.acquire();
    // A free slot is granted synchronously (no promise on the worker's hot path).
    expect(typeof first).toBe('function');
    const a = await first;
    const b = await sem.acquire();
    expect(sem.busy).toBe(2);
    let granted = false;
    const c = Promise.resolve(sem.acquire()).then((r) => ((granted = true), r));
    await flush();
    expect(granted).toBe(false);
    a();
    const release = await c;
    expect(granted).toBe(true);
    expect(sem.busy).toBe(2);
    b();
    release();
    expect(sem.busy).toBe(0);
  });

  it('never exceeds N under load and serves waiters in FIFO order', async () => {
    const sem = new Semaphore(3);
    let running = 0;
    let max = 0;
    const order: number[] = [];
    const jobs = Array.from({ length: 20 }, async (_, i) => {
      const release = await sem.acquire();
      order.push(i);
      running++;
      max = Math.max(max, running);
      expect(sem.busy).toBeLessThanOrEqual(3);
      for (let k = 0; k < (i % 4) + 1; k++) await flush();
      running--;
      release();
    });
    await Promise.all(jobs);
    expect(max).toBe(3);
    expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(sem.busy).toBe(0);
  });

  it('a release called twice frees one slot only', async () => {
    const sem = new Semaphore(1);
    const a = await sem.acquire();
    const waiting = [sem.acquire(), sem.acquire()];
    a();
    a();
    await flush();
    expect(sem.busy).toBe(1);
    const second = await waiting[0]!;
    second();
    (await waiting[1]!)();
    expect(sem.busy).toBe(0);
  });

  it('resize up grants waiters at once; resize down lets running ones finish', async () => {
    const sem = new Semaphore(1);
    const held: Release[] = [await sem.acquire()];
    const granted: number[] = [];
    const waiters = [1, 2, 3].map((i) => Promise.resolve(sem.acquire()).then((r) => (granted.push(i), held.push(r))));
    await flush();
    expect(granted).toEqual([]);
    sem.resize(3);
    await flush();
    expect(granted).toEqual([1, 2]);
    expect(sem.busy).toBe(3);
    expect(sem.size).toBe(3);
    sem.resize(1);
    held.shift()!();
    held.shift()!();
    await flush();
    // Still 1 busy (>= new size): waiter 3 keeps waiting.
    expect(sem.busy).toBe(1);
    expect(granted).toEqual([1, 2]);
    held.shift()!();
    await Promise.all(waiters);
    expect(granted).toEqual([1, 2, 3]);
    expect(sem.busy).toBe(1);
  });

  it('cancelWaiters rejects every waiter with CELERIAC_ERR_STATE and keeps running slots', async () => {
    const sem = new Semaphore(1);
    const running = await sem.acquire();
    const waiters = [sem.acquire(), sem.acquire()];
    sem.cancelWaiters();
    for (const w of waiters) {
      const err = await Promise.resolve(w).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CeleriacError);
      expect((err as CeleriacError).code).toBe(ErrorCodes.STATE);
    }
    expect(sem.busy).toBe(1);
    running();
    expect(sem.busy).toBe(0);
    // The sem still works afterwards.
    (await sem.acquire())();
  });
});
