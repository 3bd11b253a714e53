import { describe, expect, it } from 'vitest';
import { CeleriacError } from '../errors.js';
import { nextDue, slotAfter } from './next-due.js';
import { crontab, every, solar, toSchedule } from './schedules.js';
import type { Schedule } from './schedules.js';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

/** The next `n` slots after `from`, as ISO strings. */
function slots(s: Schedule, from: string, n: number, timezone?: string): string[] {
  const out: string[] = [];
  let t = at(from);
  for (let i = 0; i < n; i++) {
    t = slotAfter(s, t, timezone === undefined ? {} : { timezone });
    out.push(iso(t));
  }
  return out;
}

describe('nextDue: interval', () => {
  const s = every(10);
  const last = at('2026-01-01T00:00:00Z');

  it('is not due before the interval, and says when to look again', () => {
    expect(nextDue(s, last, last + 9_999)).toEqual({ due: false, nextAt: last + 10_000 });
  });

  it('is due on the slot and keeps the grid', () => {
    expect(nextDue(s, last, last + 10_000)).toEqual({ due: true, slot: last + 10_000, firstMissed: last + 10_000, nextAt: last + 20_000 });
    // Sent 400 ms late: the next run is still on the grid.
    expect(nextDue(s, last, last + 10_400)).toMatchObject({ due: true, slot: last + 10_000, nextAt: last + 20_000 });
  });

  it('collapses missed runs into one standing for the latest slot', () => {
    expect(nextDue(s, last, last + 35_000)).toEqual({ due: true, slot: last + 30_000, firstMissed: last + 10_000, nextAt: last + 40_000 });
  });

  it('takes fractions of a second and rejects nonsense', () => {
    expect(nextDue(every(0.5), last, last + 500)).toMatchObject({ due: true, slot: last + 500 });
    expect(() => every(0)).toThrow(CeleriacError);
    expect(() => every(Number.NaN)).toThrow(/seconds >= 0.001/);
    // Shorter than beat's clock can tell: always due, so sent on every turn of the loop.
    expect(() => every(1e-9)).toThrow('An interval must be a number of seconds >= 0.001 (a millisecond), got 1e-9');
    expect(nextDue(every(0.001), last, last + 1)).toMatchObject({ due: true, slot: last + 1 });
  });
});

describe('nextDue: crontab (UTC)', () => {
  it('reads five-field strings in crontab(5) order', () => {
    expect(slots(crontab('*/15 9-10 * * *'), '2026-01-01T09:50:00Z', 3)).toEqual([
      '2026-01-01T10:00:00.000Z', '2026-01-01T10:15:00.000Z', '2026-01-01T10:30:00.000Z',
    ]);
    expect(slots(crontab('0 0 1 jan,jul *'), '2026-01-01T00:00:00Z', 2)).toEqual(['2026-07-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
  });

  it("takes Celery's keyword form; missing fields are *", () => {
    const s = crontab({ minute: '0', hour: '*/6', dayOfWeek: 'sat,sun' });
    // 2026-01-02 is a Friday.
    expect(slots(s, '2026-01-02T12:00:00Z', 5)).toEqual([
      '2026-01-03T00:00:00.000Z', '2026-01-03T06:00:00.000Z', '2026-01-03T12:00:00.000Z', '2026-01-03T18:00:00.000Z', '2026-01-04T00:00:00.000Z',
    ]);
  });

  it('needs day of month AND day of week, as Celery does (first Monday of the month)', () => {
    const s = crontab({ minute: '0', hour: '0', dayOfMonth: '1-7', dayOfWeek: 'monday' });
    expect(slots(s, '2026-01-01T00:00:00Z', 3)).toEqual(['2026-01-05T00:00:00.000Z', '2026-02-02T00:00:00.000Z', '2026-03-02T00:00:00.000Z']);
  });

  it('wraps ranges like fri-mon, accepts 7 for Sunday and a/n steps', () => {
    const s = crontab({ minute: '0', hour: '12', dayOfWeek: 'fri-mon' });
    expect(slots(s, '2026-01-01T13:00:00Z', 4).map((d) => new Date(d).getUTCDay())).toEqual([5, 6, 0, 1]);
    expect(slots(crontab('0 12 * * 7'), '2026-01-01T00:00:00Z', 1)).toEqual(['2026-01-04T12:00:00.000Z']);
    expect(slots(crontab('50/5 0 * * *'), '2026-01-01T00:00:00Z', 3)).toEqual(['2026-01-01T00:50:00.000Z', '2026-01-01T00:55:00.000Z', '2026-01-02T00:50:00.000Z']);
  });

  it('finds 29 February in leap years and never for 31 February', () => {
    expect(slots(crontab('0 0 29 2 *'), '2026-01-01T00:00:00Z', 1)).toEqual(['2028-02-29T00:00:00.000Z']);
    expect(nextDue(crontab('0 0 31 2 *'), at('2026-01-01T00:00:00Z'), at('2030-01-01T00:00:00Z'))).toEqual({ due: false, nextAt: Number.POSITIVE_INFINITY });
  });

  it('finds 29 February on a Monday however far: 18 years away, and 40 across 2100, which is not a leap year', () => {
    // A nine-year search read both as never due.
    expect(slots(crontab('0 0 29 2 1'), '2026-12-02T00:00:00Z', 1)).toEqual(['2044-02-29T00:00:00.000Z']);
    expect(slots(crontab('0 0 29 2 1'), '2072-03-01T00:00:00Z', 1)).toEqual(['2112-02-29T00:00:00.000Z']);
    expect(nextDue(crontab('0 0 29 2 1'), at('2072-03-01T00:00:00Z'), at('2080-01-01T00:00:00Z'))).toEqual({ due: false, nextAt: at('2112-02-29T00:00:00Z') });
  });

  it('rejects bad fields with the field named', () => {
    expect(() => crontab('61 * * * *')).toThrow(/minute "61": 61 is outside 0-59/);
    expect(() => crontab('* * * *')).toThrow(/expected 5 fields/);
    expect(() => crontab({ dayOfWeek: 'funday' })).toThrow(/dayOfWeek/);
    expect(() => crontab({ hour: '*/0' })).toThrow(/bad step/);
    expect(() => crontab('* * * * *', { timezone: 'Mars/Olympus' })).toThrow(/Unknown time zone/);
  });

  it('collapses missed cron runs: the slot is the latest one at or before now', () => {
    const s = crontab('*/5 * * * *');
    const r = nextDue(s, at('2026-01-01T00:00:00Z'), at('2026-01-01T02:07:00Z'));
    expect(r).toEqual({ due: true, slot: at('2026-01-01T02:05:00Z'), firstMissed: at('2026-01-01T00:05:00Z'), nextAt: at('2026-01-01T02:10:00Z') });
    // A monthly job missed for a year.
    const m = nextDue(crontab('0 3 1 * *'), at('2025-01-01T03:00:00Z'), at('2026-01-15T00:00:00Z'));
    expect(m).toMatchObject({ due: true, slot: at('2026-01-01T03:00:00Z'), nextAt: at('2026-02-01T03:00:00Z') });
  });
});

describe('nextDue: crontab across DST changes', () => {
  // Europe/Berlin 2026: 29 March 02:00 CET -> 03:00 CEST (01:00Z); 25 October 03:00 CEST -> 02:00 CET (01:00Z).
  // America/New_York 2026: 8 March 02:00 EST -> 03:00 EDT (07:00Z); 1 November 02:00 EDT -> 01:00 EST (06:00Z).
  const berlin = { timezone: 'Europe/Berlin' };

  it('Berlin spring forward: a daily 02:30 runs once, at 03:30 CEST, on the day 02:30 does not exist', () => {
    expect(slots(crontab('30 2 * * *'), '2026-03-28T01:30:00Z', 3, 'Europe/Berlin')).toEqual([
      '2026-03-29T01:30:00.000Z', // 03:30 CEST
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
      '2026-03-31T00:30:00.000Z',
    ]);
  });

  it('Berlin fall back: a daily 02:30 runs once, at the first 02:30', () => {
    expect(slots(crontab('30 2 * * *'), '2026-10-24T00:30:00Z', 3, 'Europe/Berlin')).toEqual([
      '2026-10-25T00:30:00.000Z', // 02:30 CEST; the second 02:30 (01:30Z) does not run
      '2026-10-26T01:30:00.000Z', // 02:30 CET
      '2026-10-27T01:30:00.000Z',
    ]);
  });

  it('Berlin: an every-30-minutes crontab follows elapsed time through both changes', () => {
    const s = crontab('*/30 * * * *');
    expect(slots(s, '2026-03-29T00:15:00Z', 3, 'Europe/Berlin')).toEqual([
      '2026-03-29T00:30:00.000Z', // 01:30 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST: the 02:xx hour does not exist
      '2026-03-29T01:30:00.000Z',
    ]);
    expect(slots(s, '2026-10-25T00:15:00Z', 4, 'Europe/Berlin')).toEqual([
      '2026-10-25T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T01:00:00.000Z', // 02:00 CET (the hour repeats)
      '2026-10-25T01:30:00.000Z', // 02:30 CET
      '2026-10-25T02:00:00.000Z', // 03:00 CET
    ]);
  });

  it('a zone on the schedule wins over the app zone; nextDue takes the app zone', () => {
    const s = crontab('0 9 * * *', { timezone: 'America/New_York' });
    expect(slots(s, '2026-01-01T00:00:00Z', 1, 'Europe/Berlin')).toEqual(['2026-01-01T14:00:00.000Z']);
    const r = nextDue(crontab('0 9 * * *'), at('2026-01-01T00:00:00Z'), at('2026-01-01T08:00:00Z'), berlin);
    expect(r).toMatchObject({ due: true, slot: at('2026-01-01T08:00:00Z') });
  });

  it('New York: weekday 09:00 across spring forward moves from 14:00Z to 13:00Z', () => {
    expect(slots(crontab('0 9 * * mon-fri'), '2026-03-06T14:00:00Z', 2, 'America/New_York')).toEqual([
      '2026-03-09T13:00:00.000Z', '2026-03-10T13:00:00.000Z',
    ]);
  });

  it('New York: 02:30 in the gap runs at 03:30 EDT; 01:30 in the repeated hour runs once', () => {
    expect(slots(crontab('30 2 * * *'), '2026-03-07T07:30:00Z', 2, 'America/New_York')).toEqual([
      '2026-03-08T07:30:00.000Z', // 03:30 EDT
      '2026-03-09T06:30:00.000Z', // 02:30 EDT
    ]);
    expect(slots(crontab('30 1 * * *'), '2026-10-31T05:30:00Z', 2, 'America/New_York')).toEqual([
      '2026-11-01T05:30:00.000Z', // 01:30 EDT; 01:30 EST (06:30Z) does not run
      '2026-11-02T06:30:00.000Z', // 01:30 EST
    ]);
  });

  it('a restart inside the repeated hour does not run the fixed-time job again', () => {
    // Ran at the first 01:30 (EDT); checked again during the second 01:30 (EST).
    const r = nextDue(crontab('30 1 * * *'), at('2026-11-01T05:30:00Z'), at('2026-11-01T06:45:00Z'), { timezone: 'America/New_York' });
    expect(r).toEqual({ due: false, nextAt: at('2026-11-02T06:30:00Z') });
  });
});

describe('nextDue: solar', () => {
  // Reference times from PyEphem 4.1.4 configured as Celery 5.2.6's solar (pressure 0, horizon
  // -0:34 on the limb; centre at -6/-12 for dawns and dusks); they agree with published
  // sunrise tables to the minute (e.g. New York 21 June sunrise 05:25 EDT).
  const cases: [string, number, number, 'sunrise' | 'sunset' | 'dawn_civil' | 'dusk_nautical' | 'solar_noon', string, string][] = [
    ['Greenwich', 51.4779, -0.0015, 'sunrise', '2026-06-21T00:00:00Z', '2026-06-21T03:42:47Z'],
    ['Greenwich', 51.4779, -0.0015, 'sunset', '2026-12-21T00:00:00Z', '2026-12-21T15:53:04Z'],
    ['Greenwich', 51.4779, -0.0015, 'solar_noon', '2026-12-21T00:00:00Z', '2026-12-21T11:58:04Z'],
    ['New York', 40.7128, -74.006, 'sunrise', '2026-06-21T00:00:00Z', '2026-06-21T09:25:03Z'],
    ['New York', 40.7128, -74.006, 'sunset', '2026-06-21T00:00:00Z', '2026-06-21T00:30:30Z'],
    ['New York', 40.7128, -74.006, 'dawn_civil', '2026-12-21T00:00:00Z', '2026-12-21T11:45:34Z'],
    ['Sydney', -33.8688, 151.2093, 'sunrise', '2026-12-21T00:00:00Z', '2026-12-21T18:41:06Z'],
    ['Sydney', -33.8688, 151.2093, 'dusk_nautical', '2026-06-21T00:00:00Z', '2026-06-21T07:52:47Z'],
    ['Berlin', 52.52, 13.405, 'sunrise', '2026-03-20T00:00:00Z', '2026-03-20T05:09:15Z'],
    ['Berlin', 52.52, 13.405, 'dusk_nautical', '2026-06-21T00:00:00Z', '2026-06-21T21:46:57Z'],
  ];
  it.each(cases)('%s %s after %s is within a minute of the reference', (_place, lat, lon, event, from, expected) => {
    const got = slotAfter(solar(event, lat, lon), at(from));
    expect(Math.abs(got - at(expected))).toBeLessThan(60_000);
  });

  it('skips days without the event (polar day) and is due like any schedule', () => {
    // Tromsø has no sunset between late May and late July.
    const s = solar('sunset', 69.6492, 18.9553);
    const got = slotAfter(s, at('2026-06-10T00:00:00Z'));
    expect(got).toBeGreaterThan(at('2026-07-15T00:00:00Z'));
    expect(got).toBeLessThan(at('2026-08-01T00:00:00Z'));
    const r = nextDue(solar('sunrise', 52.52, 13.405), at('2026-03-19T12:00:00Z'), at('2026-03-20T06:00:00Z'));
    expect(r.due).toBe(true);
  });

  it('rejects unknown events and coordinates', () => {
    expect(() => toSchedule({ kind: 'solar', event: 'moonrise', latitude: 0, longitude: 0 })).toThrow(/Unknown solar event/);
    expect(() => solar('sunrise', 91, 0)).toThrow(/latitude/);
  });
});

describe('toSchedule', () => {
  it('reads seconds, crontab strings and stored objects', () => {
    expect(toSchedule(30)).toEqual({ kind: 'interval', seconds: 30 });
    expect(toSchedule('0 * * * *')).toMatchObject({ kind: 'crontab', minute: '0', hour: '*' });
    const stored = JSON.parse(JSON.stringify(crontab({ hour: '7' }, { timezone: 'Asia/Tokyo' }))) as unknown;
    expect(toSchedule(stored)).toEqual(crontab({ hour: '7' }, { timezone: 'Asia/Tokyo' }));
    expect(() => toSchedule({ kind: 'weekly' })).toThrow(/unknown kind/);
    expect(() => toSchedule(null)).toThrow(/must be seconds/);
  });
});
