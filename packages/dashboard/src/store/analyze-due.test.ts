import { describe, expect, it } from 'vitest';
import { analyzeDue } from './sql-history-store.js';

describe('analyzeDue', () => {
  it('runs ANALYZE every 50,000 task rows while the history is small', () => {
    expect(analyzeDue(49_999, 0)).toBe(false);
    expect(analyzeDue(50_000, 0)).toBe(true);
    expect(analyzeDue(50_000, 200_000)).toBe(true);
  });

  it('waits for a fifth of the rows the last run counted once the history is large', () => {
    expect(analyzeDue(50_000, 1_000_000)).toBe(false);
    expect(analyzeDue(199_999, 1_000_000)).toBe(false);
    expect(analyzeDue(200_000, 1_000_000)).toBe(true);
  });
});
