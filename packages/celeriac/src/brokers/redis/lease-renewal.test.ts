import { describe, expect, it } from 'vitest';
import { discoveryDue, heldBy, renewable, type KeptLease } from './lease-renewal.js';

const free: KeptLease = { tag: 'a', token: 't1', until: null };
const limited: KeptLease = { tag: 'b', token: 't2', until: 10_000 };

describe('renewable', () => {
  it('while the event loop feeds the keeper, every lease is renewed, past its deadline or not', () => {
    expect(renewable([free, limited], 9_000, 11_000, 1_000)).toEqual([free, limited]);
  });

  it('once the loop stopped feeding for two periods, a lease is renewed only until its deadline', () => {
    expect(renewable([free, limited], 5_000, 9_999, 1_000)).toEqual([free, limited]);
    expect(renewable([free, limited], 5_000, 10_000, 1_000)).toEqual([free]);
  });
});

describe('discoveryDue', () => {
  // Fed at 10 s, renewed every 1 s, a fetch runs within 0.3 s of leaving: a look that began
  // at 11.3 s or later saw every delivery the loop fetched before it blocked.
  const due = (discoveredAt: number) => discoveryDue(discoveredAt, 10_000, 1_000, 300);

  it('is due when nothing was looked up since the session opened', () => {
    expect(due(Number.NEGATIVE_INFINITY)).toBe(true);
  });

  it('is due again while the last look began before a fetch sent before the block may have run', () => {
    expect(due(10_500)).toBe(true);
    expect(due(11_299)).toBe(true);
  });

  it('is not due once a look began after that: the rest of a blocked spell renews without reading the fleet\'s leases', () => {
    expect(due(11_300)).toBe(false);
    expect(due(60_000)).toBe(false);
  });

  it('a feed since makes it due again', () => {
    expect(discoveryDue(11_300, 20_000, 1_000, 300)).toBe(true);
  });
});

describe('heldBy', () => {
  it('calls again from the cursor each reply ends at, until it is 0, and collects tag and token of every page', async () => {
    const replies = [['17', 'a', 'w1:1.0'], ['5', 'b', 'w1:1.1', 'c', 'w2:3.0'], ['0']];
    const calls: (readonly string[])[] = [];
    const found = await heldBy(
      async (args) => {
        calls.push(args);
        return replies[calls.length - 1] as string[];
      },
      ['w1:', 'w2:'],
      250,
    );
    expect(calls).toEqual([
      ['0', '250', 'w1:', 'w2:'],
      ['17', '250', 'w1:', 'w2:'],
      ['5', '250', 'w1:', 'w2:'],
    ]);
    expect(found).toEqual([
      { tag: 'a', token: 'w1:1.0' },
      { tag: 'b', token: 'w1:1.1' },
      { tag: 'c', token: 'w2:3.0' },
    ]);
  });

  it('a reply that does not start with a cursor fails the look, rather than asking again forever', async () => {
    let calls = 0;
    const call = async () => (calls++, ['tag-1', 'w1:1.0']);
    await expect(heldBy(call, ['w1:'])).rejects.toThrow(/held-by.lua answered "tag-1" where a cursor goes/);
    expect(calls).toBe(1);
  });

  it('a failed call fails the look (the keeper retries at its next renewal)', async () => {
    await expect(heldBy(() => Promise.reject(new Error('READONLY')), ['w1:'])).rejects.toThrow('READONLY');
  });
});
