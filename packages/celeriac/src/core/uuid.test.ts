import { describe, expect, it } from 'vitest';
import { uuid4 } from './uuid.js';

describe('uuid4', () => {
  it('writes version 4, RFC 4122 variant UUIDs in randomUUID form, never twice', () => {
    const seen = new Set<string>();
    const variants = new Set<string>();
    // Several draws of random bytes, so refills are crossed.
    for (let i = 0; i < 5000; i++) {
      const id = uuid4();
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      seen.add(id);
      variants.add(id.charAt(19));
    }
    expect(seen.size).toBe(5000);
    expect([...variants].sort()).toEqual(['8', '9', 'a', 'b']);
  });

  it('spreads the random digits over every hex value', () => {
    const digits = new Set(Array.from({ length: 200 }, () => uuid4().replaceAll('-', '')).join(''));
    expect(digits.size).toBe(16);
  });
});
