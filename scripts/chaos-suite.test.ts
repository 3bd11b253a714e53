import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CHAOS_CASES, CHAOS_TESTS } from './chaos-suite.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('the chaos suite', () => {
  it('lists files that exist (a renamed case must not drop out of it silently)', () => {
    const missing = CHAOS_TESTS.filter((p) => !p.includes('*') && !existsSync(root + p));
    expect(missing).toEqual([]);
    expect(Object.keys(CHAOS_CASES).length).toBeGreaterThanOrEqual(7);
  });
});
