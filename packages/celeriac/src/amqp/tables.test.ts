import { describe, expect, it } from 'vitest';
import { plainTable, typeTable } from './tables.js';

describe('typed AMQP tables', () => {
  it('types values as py-amqp does: I for 32-bit ints, l beyond, d for floats, V for null', () => {
    expect(typeTable({ a: 1, b: -2147483648, c: 2147483648, d: 1.5, e: null, f: 'x', g: true, h: [0, null], i: { j: 7 } })).toEqual({
      a: { '!': 'int', value: 1 },
      b: { '!': 'int', value: -2147483648 },
      c: { '!': 'long', value: 2147483648 },
      d: { '!': 'double', value: 1.5 },
      e: null,
      f: 'x',
      g: true,
      h: [{ '!': 'int', value: 0 }, null],
      i: { j: { '!': 'int', value: 7 } },
    });
  });

  it('reads typed wrappers (timestamps, decimals) back as plain JSON', () => {
    expect(plainTable({ t: { '!': 'timestamp', value: 1700000000 }, d: { '!': 'decimal', value: { places: 2, digits: 150 } }, x: [1, 'a'] })).toEqual({
      t: 1700000000,
      d: 1.5,
      x: [1, 'a'],
    });
    expect(plainTable(undefined)).toEqual({});
  });
});
