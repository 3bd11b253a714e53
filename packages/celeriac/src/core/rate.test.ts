import { describe, expect, it } from 'vitest';
import { parseRate } from './rate.js';

describe('parseRate', () => {
  it('reads Celery rate strings as tasks per second', () => {
    expect(parseRate('10/s')).toBe(10);
    expect(parseRate('120/m')).toBe(2);
    expect(parseRate('1800/h')).toBe(0.5);
    expect(parseRate('5')).toBe(5);
    expect(parseRate(2.5)).toBe(2.5);
    expect(parseRate(' 3 / m ')).toBeCloseTo(0.05);
  });

  it('treats 0 and the empty string as no limit', () => {
    expect(parseRate(0)).toBe(0);
    expect(parseRate('0/s')).toBe(0);
    expect(parseRate('')).toBe(0);
  });

  it('rejects anything else', () => {
    for (const bad of ['10/d', 'ten/s', '-1/s', '/s', '10/', -1, Number.NaN]) {
      expect(() => parseRate(bad as never)).toThrow(/rate limit must be/);
    }
  });
});
