import { describe, expect, it } from 'vitest';
import { pyLiteralToJson } from './py-literal.js';

describe('pyLiteralToJson', () => {
  it('reads Python reprs of literals', () => {
    expect(pyLiteralToJson("{'user_id': 42, 'name': \"O'Brien\", 'ok': True, 'x': None, 'f': -1.5e3}")).toEqual({ user_id: 42, name: "O'Brien", ok: true, x: null, f: -1500 });
    expect(pyLiteralToJson("(1, [2, (3,)], {'a': {'b': 'c'}})")).toEqual([1, [2, [3]], { a: { b: 'c' } }]);
    expect(pyLiteralToJson("'tab\\there \\x41\\u00e9 \\U0001F600 \\\\'")).toBe('tab\there Aé 😀 \\');
    expect(pyLiteralToJson('{1: 2, }')).toEqual({ 1: 2 });
    expect(pyLiteralToJson('{"json": [true, false, null]}')).toEqual({ json: [true, false, null] });
    expect(pyLiteralToJson('{}')).toEqual({});
    expect(pyLiteralToJson("{\u00a0'a'\t:\n'x\\'y\\\\', 'b': \"q'\"}")).toEqual({ a: "x'y\\", b: "q'" });
    expect(pyLiteralToJson(`[${'1'.repeat(64)}]`)).toEqual([Number('1'.repeat(64))]);
  });

  it('returns null for what is not a literal', () => {
    for (const text of ["{'a': 1", "{'a': 1}...", '<object at 0x7f>', "{'a': datetime.date(2026, 1, 1)}", "{'a': 1} trailing", "'\\q'", "{[1]: 2}", '', "{'k': '\\U0011ffff'}", `[${'1'.repeat(65)}]`, "'open \\'"]) {
      expect(pyLiteralToJson(text)).toBeNull();
    }
  });

  it('bounds depth and size instead of overflowing', () => {
    expect(pyLiteralToJson('['.repeat(10_000) + ']'.repeat(10_000))).toBeNull();
    expect(pyLiteralToJson(`'${'x'.repeat(70_000)}'`)).toBeNull();
    // prototype keys stay plain data
    const parsed = pyLiteralToJson("{'__proto__': {'polluted': 1}}") as Record<string, unknown>;
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.keys(parsed)).toEqual(['__proto__']);
  });
});
