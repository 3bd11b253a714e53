import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { argsRepr, fullJsonText, jsonSafe, kwargsRepr, pyRepr, pyStrRepr, safeRepr } from './repr.js';
import { parsePyJson } from './py-json.js';
import type { Json, JsonObject } from './types.js';

// Expected strings were produced by CPython 3.11 (repr, json.dumps) and by Celery's own
// celery.utils.saferepr; see python-golden.fixture.json.
interface Golden {
  argsRepr: [Json[], string][];
  kwargsRepr: [JsonObject, string][];
  smallBudget: [Json[], number, string][];
  strRepr: [string, string][];
  pyRepr: [Json, string][];
}
const golden = JSON.parse(
  readFileSync(new URL('./python-golden.fixture.json', import.meta.url), 'utf8'),
) as Golden;

describe('argsRepr / kwargsRepr (Celery saferepr, 1024 budget)', () => {
  it('matches the header values captured from Celery', () => {
    expect(argsRepr([2, 3])).toBe('(2, 3)');
    expect(argsRepr([1])).toBe('(1,)');
    expect(argsRepr([])).toBe('()');
    expect(kwargsRepr({})).toBe('{}');
  });

  it.each(golden.argsRepr.map(([args, expected], i) => [i, args, expected] as const))(
    'args case %i matches Python',
    (_i, args, expected) => {
      expect(argsRepr(args)).toBe(expected);
    },
  );

  it.each(golden.kwargsRepr.map(([kwargs, expected], i) => [i, kwargs, expected] as const))(
    'kwargs case %i matches Python',
    (_i, kwargs, expected) => {
      expect(kwargsRepr(kwargs)).toBe(expected);
    },
  );

  it('matches Python with tiny budgets (truncation and dangling brackets)', () => {
    for (const [args, maxlen, expected] of golden.smallBudget) {
      expect(argsRepr(args, maxlen)).toBe(expected);
    }
  });

  it('cuts a string argument of any length, walking only the code points it keeps', () => {
    // Past about 2**27 code points, an array of all of them was a RangeError that failed the send.
    const huge = `${'x '.repeat(68_000_000)}tail`;
    const repr = argsRepr([huge]);
    expect(repr.length).toBeLessThan(1100);
    expect(repr.startsWith("('x x")).toBe(true);
    expect(repr).toContain("x x...'");
    expect(argsRepr([`é ${'é'.repeat(2000)}`])).toContain("('é...'");
    // Exactly at the budget a string is cut (Celery's `>=`); one under, it is not.
    expect(safeRepr('a'.repeat(10), 10)).toBe("'aaaaaaaaaa...'");
    expect(safeRepr('a'.repeat(9), 10)).toBe("'aaaaaaaaa'");
    expect(safeRepr('😀'.repeat(9), 10)).toBe(`'${'😀'.repeat(9)}'`);
  });

  it('escapes only single quotes inside strings, unlike repr', () => {
    expect(argsRepr(["it's", 'a\nb'])).toBe("('it\\'s', 'a\nb')");
  });

  it('returns a string for any JSON arguments and budget', () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue(), { maxLength: 50 }), fc.integer({ min: 0, max: 300 }), (args, maxlen) => {
        const text = argsRepr(args as Json[], maxlen);
        expect(typeof text).toBe('string');
      }),
    );
  });

  // argsRepr and kwargsRepr take a shortcut for flat arguments; safeRepr always walks the
  // token stream, so it is the reference. A tuple prints as the list of the same items with
  // other brackets (`,)` for one item): both are one open and one close token, and a small
  // budget drops either bracket of both alike.
  const scalar = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.constantFrom("it's", 'say "hi"', "'", 'a b c d e f', '😀 x', ''),
  );
  const item = fc.oneof({ weight: 5, arbitrary: scalar }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json> });
  const budget = fc.oneof(fc.integer({ min: 0, max: 120 }), fc.constant(1024));
  const asTuple = (list: string, length: number): string => {
    const opened = list.startsWith('[') ? `(${list.slice(1)}` : list;
    return opened.endsWith(']') ? `${opened.slice(0, -1)}${length === 1 ? ',)' : ')'}` : opened;
  };

  it('argsRepr of flat arguments matches the token stream, cut or not', () => {
    fc.assert(
      fc.property(fc.array(item, { maxLength: 12 }), budget, (args, maxlen) => {
        expect(argsRepr(args, maxlen)).toBe(asTuple(safeRepr(args, maxlen), args.length));
      }),
      { numRuns: 2000 },
    );
  });

  it('kwargsRepr of flat keyword arguments matches the token stream, cut or not', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'binary', maxLength: 12 }), item, { maxKeys: 8 }), budget, (kwargs, maxlen) => {
        expect(kwargsRepr(kwargs as JsonObject, maxlen)).toBe(safeRepr(kwargs as JsonObject, maxlen));
      }),
      { numRuns: 2000 },
    );
  });

  it('safeRepr of a bare value has no tuple wrapping', () => {
    expect(safeRepr([1, 'a'])).toBe("[1, 'a']");
    expect(safeRepr(null)).toBe('None');
  });

  it('a hole of a sparse array is None, as its JSON has null (it threw a TypeError from inside a send)', () => {
    // eslint-disable-next-line no-sparse-arrays
    const sparse = [1, , 3] as unknown as Json[];
    expect(argsRepr([sparse])).toBe('([1, None, 3],)');
    expect(argsRepr(sparse)).toBe('(1, None, 3)');
    expect(kwargsRepr({ k: sparse })).toBe("{'k': [1, None, 3]}");
    expect(safeRepr(sparse)).toBe('[1, None, 3]');
  });
});

describe('pyRepr', () => {
  it.each(golden.strRepr)('repr(%j) matches Python', (text, expected) => {
    expect(pyStrRepr(text)).toBe(expected);
  });

  it.each(golden.pyRepr.map(([value, expected], i) => [i, value, expected] as const))(
    'value case %i matches Python',
    (_i, value, expected) => {
      expect(pyRepr(value)).toBe(expected);
    },
  );

  it('prints safe integral numbers as Python ints (JS has no 2.0), larger doubles as the floats they are, bigints as ints', () => {
    expect(pyRepr(2)).toBe('2');
    expect(pyRepr(Number.MAX_SAFE_INTEGER)).toBe('9007199254740991');
    // As digits, 1e16 would be read back as this integer; 2**64 as another one (...552000).
    expect(pyRepr(1e16)).toBe('1e+16');
    expect(pyRepr(2 ** 64)).toBe('1.8446744073709552e+19');
    expect(pyRepr(-0)).toBe('0');
    expect(pyRepr((2n ** 64n) as never)).toBe('18446744073709551616');
  });
});

describe('jsonSafe', () => {
  it('gives a value JSON can write as it is, and one it cannot (a bigint, thousands of levels deep) as its repr', () => {
    const plain = { a: [1, 'two', null, { b: true }] };
    expect(jsonSafe(plain)).toBe(plain);
    expect(jsonSafe('text')).toBe('text');
    expect(jsonSafe(parsePyJson('[1, 18446744073709551616]') as Json)).toBe('[1, 18446744073709551616]');
    let deep: Json = [];
    for (let i = 0; i < 20_000; i++) deep = [deep];
    const text = jsonSafe(deep);
    expect(text).toMatch(/^\[+\.\.\.\]+$/);
    expect((text as string).length).toBeLessThan(1000);
  });
});

describe('fullJsonText', () => {
  it('writes what JSON.stringify writes, for any JSON value', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => fullJsonText(value as Json) === JSON.stringify(value)));
    expect(fullJsonText({ a: undefined, b: [undefined, 1], c: '\u2028"' } as unknown as Json)).toBe(JSON.stringify({ a: undefined, b: [undefined, 1], c: '\u2028"' }));
  });

  it('writes a bigint as a JSON integer, and a value 100,000 levels deep whole', () => {
    expect(fullJsonText(parsePyJson('{"n": [1, 18446744073709551616]}') as Json)).toBe('{"n":[1,18446744073709551616]}');
    let deep: Json = { leaf: 1 };
    for (let i = 0; i < 100_000; i++) deep = i % 2 === 0 ? [deep] : { k: deep };
    const text = fullJsonText(deep);
    expect(text.startsWith('{"k":[{"k":[')).toBe(true);
    expect(text).toContain('{"leaf":1}');
    expect(text.length).toBe(50_000 * ('{"k":['.length + ']}'.length) + '{"leaf":1}'.length);
  });
});
