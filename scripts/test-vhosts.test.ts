import { describe, expect, it } from 'vitest';
import { BATCH, VhostPool } from './test-vhosts.ts';

/** A pool whose rabbitmqctl calls are recorded; `failAdds` makes the next adds reject. */
function recorded(failAdds = 0) {
  const adds: string[][] = [];
  const removes: string[][] = [];
  let failures = failAdds;
  const pool = new VhostPool(
    (names) => {
      adds.push([...names]);
      return failures-- > 0 ? Promise.reject(new Error('rabbitmqctl: nodedown')) : Promise.resolve();
    },
    (names) => {
      removes.push([...names]);
      return Promise.resolve();
    },
  );
  return { pool, adds, removes };
}

describe('VhostPool', () => {
  it('makes vhosts a batch per call, never hands one out twice, and deletes every one made in one call', async () => {
    const { pool, adds, removes } = recorded();
    // Claims at once share the batch being made.
    const claimed = await Promise.all(Array.from({ length: BATCH + 1 }, () => pool.claim()));
    expect(new Set(claimed).size).toBe(BATCH + 1);
    expect(adds.map((a) => a.length)).toEqual([BATCH, BATCH]);
    for (const v of claimed) expect(v).toMatch(/^celeriac-pool-[0-9a-f]{8}$/);
    await pool.close();
    expect(removes).toEqual([adds.flat()]);
  });

  it('makes nothing and deletes nothing when no file asks', async () => {
    const { pool, adds, removes } = recorded();
    await pool.close();
    expect(adds).toEqual([]);
    expect(removes).toEqual([]);
  });

  it('a failed batch fails the claims waiting on it; the next claim tries again, and the end deletes both batches', async () => {
    const { pool, adds, removes } = recorded(1);
    await expect(Promise.all([pool.claim(), pool.claim()])).rejects.toThrow('nodedown');
    const vhost = await pool.claim();
    expect(adds).toHaveLength(2);
    expect(adds[1]).toContain(vhost);
    await pool.close();
    expect(removes).toEqual([adds.flat()]);
  });
});
