import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { charCodeAt, indexOf, sliceOf } from './string-calls.js';

/** Texts of the kinds V8 keeps apart (concatenated, sliced, two bytes per character, internalized). */
function kinds(text: string): string[] {
  const long = `${text}${'x'.repeat(20)}`;
  return [text, `${text}`.concat(''), long.slice(0, text.length), `é${text}`.slice(1), JSON.parse(JSON.stringify(text)) as string];
}

describe('string-calls', () => {
  it('answers as the string methods do, on every kind of string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.integer({ min: -5, max: 60 }), fc.integer({ min: -5, max: 60 }), fc.string({ maxLength: 3 }), (text, a, b, search) => {
        for (const t of kinds(text)) {
          expect(charCodeAt(t, a)).toEqual(t.charCodeAt(a));
          expect(indexOf(t, search, a)).toBe(t.indexOf(search, a));
          expect(sliceOf(t, a, b)).toBe(t.slice(a, b));
          expect(sliceOf(t, a)).toBe(t.slice(a));
        }
      }),
    );
  });

  it('reads past the end as the methods do', () => {
    expect(charCodeAt('ab', 2)).toBeNaN();
    expect(indexOf('a"b"', '"', 2)).toBe(3);
    expect(indexOf('ab', '"', 0)).toBe(-1);
    expect(sliceOf('abc', 1)).toBe('bc');
    expect(sliceOf('abc', -2)).toBe('bc');
  });
});
