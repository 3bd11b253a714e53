/** Times and durations as the pages show them: the chosen zone with its offset. */
import { describe, expect, it } from 'vitest';
import { elide, formatAge, formatDuration, formatTime, localInputToMs, resolveZone, toMs } from '../../ui/js/format.js';

describe('toMs', () => {
  it('reads Flower epoch seconds, store epoch ms and ISO strings', () => {
    expect(toMs(1_700_000_000.25)).toBe(1_700_000_000_250);
    expect(toMs(1_700_000_000_250)).toBe(1_700_000_000_250);
    expect(toMs('2023-11-14T22:13:20.250Z')).toBe(1_700_000_000_250);
    expect(toMs('1700000000.25')).toBe(1_700_000_000_250);
    expect(toMs(null)).toBeNull();
    expect(toMs('yesterday-ish')).toBeNull();
    expect(toMs(Number.NaN)).toBeNull();
  });

  it('is null for a time no Date holds, and formatTime is empty for it instead of throwing', () => {
    expect(toMs(8.64e15)).toBe(8.64e15);
    expect(toMs(1e300)).toBeNull();
    expect(toMs(-1e17)).toBeNull();
    expect(toMs('1e17')).toBeNull();
    expect(formatTime(1e300, 'UTC')).toBe('');
    expect(formatAge(1e16, Date.now())).toBe('');
  });
});

describe('formatTime', () => {
  const t = Date.UTC(2026, 6, 1, 12, 30, 5, 123);
  it('shows UTC with its offset', () => {
    expect(formatTime(t, 'UTC')).toBe('2026-07-01 12:30:05.123 UTC+00:00');
  });
  it('shows an app zone with its offset, summer and winter', () => {
    expect(formatTime(t, 'Europe/Paris')).toBe('2026-07-01 14:30:05.123 UTC+02:00');
    expect(formatTime(Date.UTC(2026, 0, 1, 0, 0, 0), 'America/New_York')).toBe('2025-12-31 19:00:00.000 UTC-05:00');
    expect(formatTime(t, 'Asia/Kolkata')).toBe('2026-07-01 18:00:05.123 UTC+05:30');
  });
  it('is empty for a missing time', () => {
    expect(formatTime(null, 'UTC')).toBe('');
  });
  it('resolves the zone choice, falling back to UTC for an unknown app zone', () => {
    expect(resolveZone('UTC', 'Europe/Paris')).toBe('UTC');
    expect(resolveZone('app', 'Europe/Paris')).toBe('Europe/Paris');
    expect(resolveZone('app', 'Mars/Olympus')).toBe('UTC');
    expect(resolveZone('browser', 'Europe/Paris')).toBeUndefined();
  });
  it('reads a datetime-local value in the chosen zone', () => {
    expect(localInputToMs('2026-07-01T14:30', 'Europe/Paris')).toBe(Date.UTC(2026, 6, 1, 12, 30));
    expect(localInputToMs('2026-01-01T00:00:30', 'UTC')).toBe(Date.UTC(2026, 0, 1, 0, 0, 30));
    expect(localInputToMs('garbage', 'UTC')).toBeNull();
  });
});

describe('durations', () => {
  it('scales the unit', () => {
    expect(formatDuration(0.0042)).toBe('4.20 ms');
    expect(formatDuration(0.25)).toBe('250 ms');
    expect(formatDuration(1.5)).toBe('1.50 s');
    expect(formatDuration(125)).toBe('2 min 05 s');
    expect(formatDuration(3 * 3600 + 240)).toBe('3 h 04 min');
    expect(formatDuration(null)).toBe('');
    expect(formatAge(1_700_000_000_000, 1_700_000_004_000)).toBe('4 s ago');
    expect(formatAge(1_700_000_000, 1_699_999_880_000)).toBe('in 2 min 00 s');
  });
  it('elides long names in the middle', () => {
    const e = elide(`celery@${'x'.repeat(100)}-42`, 20);
    expect(e).toHaveLength(20);
    expect(e.startsWith('celery@')).toBe(true);
    expect(e.endsWith('-42')).toBe(true);
  });
});
