import { describe, expect, it } from 'vitest';
import { renewable, type KeptLease } from './lease-renewal.js';

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
