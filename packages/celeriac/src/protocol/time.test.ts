import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { isoformatUtc, naiveUtcIso, parseIsoTime } from './time.js';
import { ProtocolError } from './errors.js';

const T = Date.UTC(2026, 10, 21, 14, 6, 16, 57);

describe('isoformatUtc / naiveUtcIso', () => {
  it('formats like Python isoformat', () => {
    expect(isoformatUtc(T)).toBe('2026-11-21T14:06:16.057000+00:00');
    expect(naiveUtcIso(T)).toBe('2026-11-21T14:06:16.057000');
  });

  it('omits a zero fraction as Python does', () => {
    expect(isoformatUtc(Date.UTC(2026, 10, 21, 14, 6, 16))).toBe('2026-11-21T14:06:16+00:00');
  });

  it('keeps microseconds from fractional milliseconds', () => {
    expect(naiveUtcIso(parseIsoTime('2026-11-21T14:05:47.491713'))).toBe('2026-11-21T14:05:47.491713');
  });

  it('rejects non-finite input', () => {
    expect(() => isoformatUtc(Number.NaN)).toThrow();
  });
});

describe('parseIsoTime', () => {
  it.each([
    ['2026-11-21T14:06:16.057426+00:00', T + 0.426],
    ['2026-11-21T14:06:16.057Z', T],
    ['2026-11-21T14:06:16.057', T],
    ['2026-11-21 14:06:16.057', T],
    ['2026-11-21T16:06:16.057+02:00', T],
    ['2026-11-21T09:36:16.057-04:30', T],
    ['2026-11-21T14:06:16.0570000001+00:00', T],
    ['2026-11-21T14:06:16+00:00', T - 57],
    ['2026-11-21T14:06', T - 16057],
  ])('%s', (text, expected) => {
    expect(parseIsoTime(text)).toBeCloseTo(expected, 6);
  });

  it.each(['', 'garbage', '2026-13-01T00:00:00', '2026-02-30T00:00:00', '2026-11-21T24:00:00', '2026-11-21T14:06:16+25:00', '2026-11-21T14:06:16.+00:00', '2026-11-21T14:06:16 '])(
    'rejects %j with ProtocolError bad-headers',
    (text) => {
      expect(() => parseIsoTime(text)).toThrow(ProtocolError);
      try {
        parseIsoTime(text);
      } catch (error) {
        expect((error as ProtocolError).reason).toBe('bad-headers');
      }
    },
  );

  it("prints what Date#toISOString gives, whatever the order of the times (the day's text is cached)", () => {
    /** toISOString's first 19 characters, then the six fraction digits unless they are zero. */
    const expected = (ms: number, micros: number): string => {
      const fraction = (((ms % 1000) + 1000) % 1000) * 1000 + micros;
      const text = new Date(ms).toISOString().slice(0, 19);
      return fraction === 0 ? text : `${text}.${String(fraction).padStart(6, '0')}`;
    };
    const first = Date.parse('0001-01-01T00:00:00Z');
    const last = Date.parse('9999-12-31T23:59:59.999Z');
    // A double holds epoch milliseconds to half a microsecond or better only below 2**42 ms (the year 2109).
    const microsUpTo = 2 ** 42;
    const day = 86_400_000;
    // Times anywhere in years 1-9999 (negative epochs before 1970 among them), each followed by
    // others near it: the same day, or either side of a midnight.
    fc.assert(
      fc.property(
        fc.integer({ min: first, max: last }),
        fc.array(fc.tuple(fc.integer({ min: -2 * day, max: 2 * day }), fc.integer({ min: 0, max: 999 })), { maxLength: 8 }),
        (start, steps) => {
          for (const [d, m] of [[0, 0] as const, ...steps]) {
            const ms = Math.min(last, Math.max(first, start + d));
            const micros = Math.abs(ms) < microsUpTo ? m : 0;
            expect(naiveUtcIso(ms + micros / 1000)).toBe(expected(ms, micros));
          }
        },
      ),
      { numRuns: 2000 },
    );
    const midnight = Date.UTC(2026, 10, 27);
    for (const ms of [midnight - 1, midnight, midnight + 1, -1, 0, first, last]) expect(naiveUtcIso(ms)).toBe(expected(ms, 0));
    expect(naiveUtcIso(midnight - 0.001)).toBe('2026-11-26T23:59:59.999999');
    expect(naiveUtcIso(midnight - 0.0004)).toBe('2026-11-27T00:00:00');
    expect(naiveUtcIso(-0.5)).toBe('1969-12-31T23:59:59.999500');
    expect(naiveUtcIso(Date.UTC(2026, 10, 27, 5, 6, 7, 8) + 0.009)).toBe('2026-11-27T05:06:07.008009');
    expect(() => naiveUtcIso(last + 1)).toThrow(/out of range/);
    expect(() => naiveUtcIso(first - 1)).toThrow(/out of range/);
  });

  it('round-trips isoformatUtc at microsecond precision', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800_000_000 }), (micros) => {
        const text = isoformatUtc(micros / 1000);
        expect(isoformatUtc(parseIsoTime(text))).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws anything but ProtocolError', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        try {
          parseIsoTime(text);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
        }
      }),
    );
  });
});
