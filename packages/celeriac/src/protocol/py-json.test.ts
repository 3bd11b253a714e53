import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { MAX_JSON_DEPTH, parsePyJson, pyDateIso, pyFloatRepr, pyJsonAddEncodedMember, pyJsonAddMember, pyJsonCloseObject, pyJsonString, pyJsonStringify } from './py-json.js';
import { CeleriacError, ErrorCodes } from '../errors.js';
import type { Json } from './types.js';

interface Golden {
  floatRepr: [number, string][];
  jsonDumps: [Json, string][];
}
const golden = JSON.parse(
  readFileSync(new URL('./python-golden.fixture.json', import.meta.url), 'utf8'),
) as Golden;

// JSON cannot carry -0 distinctly from 0 through Python ints; compare modulo that.
const noNegativeZero = (value: unknown): unknown =>
  JSON.parse(JSON.stringify(value, (_k, v: unknown) => (Object.is(v, -0) ? 0 : v)));

describe('pyJsonStringify', () => {
  it.each(golden.jsonDumps.map(([value, expected], i) => [i, value, expected] as const))(
    'case %i is byte-identical to json.dumps',
    (_i, value, expected) => {
      expect(pyJsonStringify(value)).toBe(expected);
    },
  );

  it('uses Python separators and ensure_ascii escapes', () => {
    expect(pyJsonStringify({ a: [1, 'é'], b: null })).toBe('{"a": [1, "\\u00e9"], "b": null}');
    expect(pyJsonStringify('😀')).toBe('"\\ud83d\\ude00"');
    expect(pyJsonStringify('\u007f')).toBe('"\\u007f"');
  });

  it('skips undefined members like JSON.stringify', () => {
    expect(pyJsonStringify({ a: undefined, b: [undefined] })).toBe('{"b": [null]}');
  });

  it('rejects cycles with a CeleriacError', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(() => pyJsonStringify(cyclic)).toThrow(CeleriacError);
  });

  it('finds cycles however deep they start, and allows shared values', () => {
    const root: Record<string, unknown> = {};
    let node = root;
    for (let i = 0; i < 100; i++) node = (node['next'] = {}) as Record<string, unknown>;
    node['back'] = root;
    expect(() => pyJsonStringify(root)).toThrow(CeleriacError);
    const deepCycle: unknown[] = [];
    let inner = deepCycle;
    for (let i = 0; i < 100; i++) inner = (inner[0] = []) as unknown[];
    inner[0] = inner;
    expect(() => pyJsonStringify(deepCycle)).toThrow(CeleriacError);
    const shared = { a: 1 };
    expect(pyJsonStringify([shared, { shared }, [shared]])).toBe('[{"a": 1}, {"shared": {"a": 1}}, [{"a": 1}]]');
    let deep: unknown = 'end';
    for (let i = 0; i < 200; i++) deep = { d: [deep] };
    expect(JSON.parse(pyJsonStringify(deep))).toEqual(deep);
  });

  const invalid = (value: unknown): CeleriacError => {
    try {
      pyJsonStringify(value);
    } catch (err) {
      expect(err).toBeInstanceOf(CeleriacError);
      expect((err as CeleriacError).code).toBe(ErrorCodes.INVALID_ARGUMENT);
      return err as CeleriacError;
    }
    throw new Error(`${String(value)} was encoded`);
  };
  const nested = (levels: number): unknown => {
    let value: unknown = 'leaf';
    for (let i = 0; i < levels; i++) value = i % 2 === 0 ? [value] : { k: value };
    return value;
  };

  it('refuses values nested deeper than the limit with INVALID_ARGUMENT, not RangeError', () => {
    // 5,000 levels threw "Maximum call stack size exceeded" before, which no caller saw as an encoding failure.
    for (const levels of [MAX_JSON_DEPTH + 1, 5000, 200_000]) expect(invalid(nested(levels)).message).toContain(`nested deeper than ${MAX_JSON_DEPTH} levels`);
    expect(JSON.parse(pyJsonStringify(nested(MAX_JSON_DEPTH)))).toEqual(nested(MAX_JSON_DEPTH));
    expect(() => pyJsonAddMember('', 'result', nested(5000))).toThrow(/nested deeper/);
  });

  it('refuses values JSON would change silently: NaN, infinities, Map, Set, class instances', () => {
    expect(invalid(NaN).message).toBe('Cannot serialize NaN as JSON');
    expect(invalid([1, Infinity]).message).toBe('Cannot serialize Infinity as JSON');
    expect(invalid({ a: -Infinity }).message).toContain('-Infinity');
    expect(invalid(new Map([[1, 2]])).message).toBe('Cannot serialize a Map as JSON');
    expect(invalid({ s: new Set() }).message).toBe('Cannot serialize a Set as JSON');
    expect(invalid(Buffer.from('x')).message).toBe('Cannot serialize a Buffer as JSON');
    class Point {
      x = 1;
    }
    expect(invalid([new Point()]).message).toBe('Cannot serialize a Point as JSON');
    expect(invalid(/re/).message).toContain('RegExp');
    expect(invalid(new Date(Number.NaN)).message).toContain('invalid Date');
    expect(invalid(new Date(Date.UTC(10000, 0, 1))).message).toContain('year 10000');
    // Objects without a prototype are plain data.
    const bare = Object.create(null) as Record<string, number>;
    bare['a'] = 1;
    expect(pyJsonStringify(bare)).toBe('{"a": 1}');
  });

  it('turns any other failure while reading a value (a throwing getter) into INVALID_ARGUMENT', () => {
    const hostile = {
      get boom(): never {
        throw new TypeError('getter exploded');
      },
    };
    const err = invalid({ ok: 1, hostile });
    expect(err.message).toContain('getter exploded');
    expect(err.cause).toBeInstanceOf(TypeError);
  });

  it('writes a Date as kombu writes a UTC datetime: isoformat with Z, microseconds only when set', () => {
    expect(pyJsonStringify(new Date(0))).toBe('"1970-01-01T00:00:00Z"');
    expect(pyJsonStringify({ at: new Date(Date.UTC(2024, 4, 1, 12, 3, 4, 250)) })).toBe('{"at": "2024-05-01T12:03:04.250000Z"}');
    expect(pyDateIso(new Date('0007-01-02T03:04:05.006Z'))).toBe('0007-01-02T03:04:05.006000Z');
  });

  it('escapes every key alike, however many distinct keys it has seen', () => {
    const keys = Array.from({ length: 3000 }, (_, i) => (i % 3 === 0 ? `ключ ${i}` : i % 3 === 1 ? `k"${i}\\` : `key_${i}`));
    for (const key of keys) {
      expect(pyJsonStringify({ [key]: 1 })).toBe(`{${pyJsonString(key)}: 1}`);
      expect(pyJsonStringify({ [key]: 1 })).toBe(`{${pyJsonString(key)}: 1}`);
    }
  });

  it('writes hand-laid objects as pyJsonStringify writes the same object', () => {
    expect(pyJsonCloseObject('')).toBe('{}');
    expect(pyJsonCloseObject(pyJsonAddMember('', 'gone', undefined))).toBe('{}');
    let members = pyJsonAddMember('', 'a', 1);
    members = pyJsonAddMember(members, 'skip', undefined);
    members = pyJsonAddMember(members, 'ключ', ['x', null, { y: true }]);
    members = pyJsonAddEncodedMember(members, 'raw', '[1, 2]');
    expect(pyJsonCloseObject(members)).toBe(pyJsonStringify({ a: 1, skip: undefined, ключ: ['x', null, { y: true }], raw: [1, 2] }));
  });

  it('round-trips any JSON value through JSON.parse', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(JSON.parse(pyJsonStringify(value))).toEqual(noNegativeZero(value));
      }),
      { numRuns: 500 },
    );
  });

  it('round-trips arbitrary unicode strings and doubles', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.double({ noNaN: true, noDefaultInfinity: true }), (s, d) => {
        expect(JSON.parse(pyJsonStringify([s, d]))).toEqual([s, Object.is(d, -0) ? 0 : d]);
        expect(pyJsonStringify(s)).toMatch(/^[\x20-\x7e]*$/);
      }),
      { numRuns: 500 },
    );
  });
});

/** Python's ensure_ascii escaping spelled out one UTF-16 unit at a time (json/encoder.py). */
function referenceEscape(text: string): string {
  const named: Record<number, string> = { 0x22: '\\"', 0x5c: '\\\\', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t', 0x08: '\\b', 0x0c: '\\f' };
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    const name = named[unit];
    if (name !== undefined) out += name;
    else if (unit >= 0x20 && unit < 0x7f) out += text[i];
    else out += `\\u${unit.toString(16).padStart(4, '0')}`;
  }
  return `${out}"`;
}

describe('pyJsonString', () => {
  it('escapes exactly as Python does, unit by unit (fast path and slow path alike)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme-ascii' }), fc.string()), (s) => {
        expect(pyJsonString(s)).toBe(referenceEscape(s));
      }),
      { numRuns: 2000 },
    );
    for (const s of ['', 'plain', 'a"b', 'back\\slash', '\u0000\u001f\u007f\u0080', '\ud800 lone', '\udfff', 'é😀']) {
      expect(pyJsonString(s)).toBe(referenceEscape(s));
    }
  });
});

describe('pyFloatRepr', () => {
  it.each(golden.floatRepr)('repr(%d) matches Python', (value, expected) => {
    expect(pyFloatRepr(value)).toBe(expected);
  });

  it('formats integral floats with .0 like Python', () => {
    expect(pyFloatRepr(2)).toBe('2.0');
    expect(pyFloatRepr(1e15)).toBe('1000000000000000.0');
    expect(pyFloatRepr(1e16)).toBe('1e+16');
    expect(pyFloatRepr(-0)).toBe('-0.0');
  });
});

describe('parsePyJson: integers past 2**53 as bigint', () => {
  it('reads an unsafe integer as the exact bigint, and leaves everything else to JSON.parse', () => {
    expect(parsePyJson('[18446744073709551616, -9223372036854775809, 9007199254740991, 1.5, 1e+16, 12345678901234567.0]')).toEqual([
      2n ** 64n, -(2n ** 63n) - 1n, 9007199254740991, 1.5, 1e16, 12345678901234568,
    ]);
    // Digits inside strings, escaped quotes included, stay strings.
    expect(parsePyJson('{"id": "1234567890123456789", "q\\\\\\"": "a\\" 99999999999999999999", "n": 99999999999999999999}')).toEqual({
      id: '1234567890123456789', 'q\\"': 'a" 99999999999999999999', n: 99999999999999999999n,
    });
    expect(parsePyJson(`[${'9'.repeat(5000)}]`)).toEqual([BigInt('9'.repeat(5000))]);
  });

  it('refuses what JSON.parse refuses, with a SyntaxError', () => {
    for (const bad of ['[18446744073709551616', '{"a": 18446744073709551616,}', '18446744073709551616x', '"12345678901234567890', '[0x18446744073709551616]']) {
      expect(() => parsePyJson(bad), bad).toThrow(SyntaxError);
    }
  });

  it('round-trips with pyJsonStringify, bigints and every other JSON value (property)', () => {
    const value = fc.letrec((tie) => ({
      v: fc.oneof({ depthSize: 'small' }, fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string(), fc.boolean(), fc.constant(null),
        fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(fc.string(), tie('v'), { maxKeys: 4 })),
    })).v;
    fc.assert(
      fc.property(value, (v) => {
        // A bigint a double holds exactly is still a bigint here; -0 is written as 0, as Python writes int 0.
        const normal = (x: unknown): unknown => typeof x === 'bigint' ? (Number.isSafeInteger(Number(x)) ? Number(x) : x)
          : Object.is(x, -0) ? 0 : Array.isArray(x) ? x.map(normal) : x !== null && typeof x === 'object' ? Object.fromEntries(Object.entries(x).map(([k, y]) => [k, normal(y)])) : x;
        expect(parsePyJson(pyJsonStringify(v))).toEqual(normal(v));
      }),
      { numRuns: 300 },
    );
  });
});
