import { describe, expect, it } from 'vitest';
import { uuid4, uuid7, uuid7Time } from './uuid.js';

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

describe('uuid7', () => {
  it('writes version 7 UUIDs whose first 48 bits are the time in ms, and reads the time back', () => {
    const at = Date.parse('2026-11-25T10:00:00.123Z');
    const ids = Array.from({ length: 3000 }, (_, i) => uuid7(at + i));
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(ids.map(uuid7Time)).toEqual(ids.map((_, i) => at + i));
    expect(new Set(ids).size).toBe(3000);
    // Text order is time order across milliseconds.
    expect([...ids].sort()).toEqual(ids);
    // Same millisecond: still unique.
    expect(new Set(Array.from({ length: 1000 }, () => uuid7(at))).size).toBe(1000);
  });

  it('holds the extremes of its 48 bits', () => {
    expect(uuid7Time(uuid7(0))).toBe(0);
    expect(uuid7Time(uuid7(2 ** 48 - 1))).toBe(2 ** 48 - 1);
    expect(uuid7(0).slice(0, 13)).toBe('00000000-0000');
  });

  it('reads no time from other UUIDs or garbage', () => {
    expect(uuid7Time(uuid4())).toBeNull();
    expect(uuid7Time('3b9d8a4c-5e1f-4a2b-9c3d-112233445566')).toBeNull();
    for (const bad of ['', 'x', null, 7, {}, '0190e3b4-5e1f-7a2b-1c3d-112233445566', '0190e3b4-5e1f-7a2b-9c3d-11223344556', ' 0190e3b4-5e1f-7a2b-9c3d-112233445566']) expect(uuid7Time(bad)).toBeNull();
  });
});
