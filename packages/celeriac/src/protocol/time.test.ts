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
