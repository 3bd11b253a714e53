import { describe, expect, it } from 'vitest';
import { CeleriacError, ErrorCodes } from '../errors.js';
import { AsyncPool, type Release } from './async-pool.js';

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('AsyncPool', () => {
  it('grants at once while slots are free, then makes callers wait', async () => {
    const pool = new AsyncPool(2);
    const first = pool.acquire();
    // A free slot is granted synchronously (no promise on the worker's hot path).
    expect(typeof first).toBe('function');
    const a = await first;
    const b = await pool.acquire();
    expect(pool.busy).toBe(2);
    let granted = false;
    const c = Promise.resolve(pool.acquire()).then((r) => ((granted = true), r));
    await flush();
    expect(granted).toBe(false);
    a();
    const release = await c;
    expect(granted).toBe(true);
    expect(pool.busy).toBe(2);
    b();
    release();
    expect(pool.busy).toBe(0);
  });

  it('never exceeds N under load and serves waiters in FIFO order', async () => {
    const pool = new AsyncPool(3);
    let running = 0;
    let max = 0;
    const order: number[] = [];
    const jobs = Array.from({ length: 20 }, async (_, i) => {
      const release = await pool.acquire();
      order.push(i);
      running++;
      max = Math.max(max, running);
      expect(pool.busy).toBeLessThanOrEqual(3);
      for (let k = 0; k < (i % 4) + 1; k++) await flush();
      running--;
      release();
    });
    await Promise.all(jobs);
    expect(max).toBe(3);
    expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(pool.busy).toBe(0);
  });

  it('a release called twice frees one slot only', async () => {
    const pool = new AsyncPool(1);
    const a = await pool.acquire();
    const waiting = [pool.acquire(), pool.acquire()];
    a();
    a();
    await flush();
    expect(pool.busy).toBe(1);
    const second = await waiting[0]!;
    second();
    (await waiting[1]!)();
    expect(pool.busy).toBe(0);
  });

  it('resize up grants waiters at once; resize down lets running ones finish', async () => {
    const pool = new AsyncPool(1);
    const held: Release[] = [await pool.acquire()];
    const granted: number[] = [];
    const waiters = [1, 2, 3].map((i) => Promise.resolve(pool.acquire()).then((r) => (granted.push(i), held.push(r))));
    await flush();
    expect(granted).toEqual([]);
    pool.resize(3);
    await flush();
    expect(granted).toEqual([1, 2]);
    expect(pool.busy).toBe(3);
    expect(pool.size).toBe(3);
    pool.resize(1);
    held.shift()!();
    held.shift()!();
    await flush();
    // Still 1 busy (>= new size): waiter 3 keeps waiting.
    expect(pool.busy).toBe(1);
    expect(granted).toEqual([1, 2]);
    held.shift()!();
    await Promise.all(waiters);
    expect(granted).toEqual([1, 2, 3]);
    expect(pool.busy).toBe(1);
  });

  it('cancelWaiters rejects every waiter with CELERIAC_ERR_STATE and keeps running slots', async () => {
    const pool = new AsyncPool(1);
    const running = await pool.acquire();
    const waiters = [pool.acquire(), pool.acquire()];
    pool.cancelWaiters();
    for (const w of waiters) {
      const err = await Promise.resolve(w).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CeleriacError);
      expect((err as CeleriacError).code).toBe(ErrorCodes.STATE);
    }
    expect(pool.busy).toBe(1);
    running();
    expect(pool.busy).toBe(0);
    // The pool still works afterwards.
    (await pool.acquire())();
  });
});
