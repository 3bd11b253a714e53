/**
 * @module beat/zone
 * IANA time zones through Intl (Node ships full ICU): the UTC offset of a zone at an
 * instant, and the instants a local wall-clock time stands for. Wall times are carried as
 * "wall milliseconds": the epoch ms the same calendar fields would have in UTC, so ordinary
 * UTC Date arithmetic works on local calendars.
 */
import { CeleriacError, ErrorCodes } from '../errors.js';

const DAY_MS = 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch (error) {
      throw new CeleriacError(ErrorCodes.CONFIG, `Unknown time zone ${JSON.stringify(zone)}: use an IANA name such as Europe/Berlin or UTC`, { cause: error });
    }
    formatters.set(zone, f);
  }
  return f;
}

/** Throws a CONFIG error unless `zone` is an IANA zone name Intl knows. */
export function checkZone(zone: string): string {
  formatter(zone);
  return zone;
}

/** The wall milliseconds of `instant` in `zone` (seconds precision, milliseconds kept). */
export function toWall(instant: number, zone: string): number {
  if (zone === 'UTC') return instant;
  const parts: Record<string, number> = {};
  for (const p of formatter(zone).formatToParts(new Date(instant))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  const ms = ((instant % 1000) + 1000) % 1000;
  const { year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0 } = parts;
  return Date.UTC(year, month - 1, day, hour, minute, second, ms);
}

/** The zone's offset from UTC at `instant`, in ms (east positive). */
export function offsetAt(instant: number, zone: string): number {
  return toWall(instant, zone) - instant;
}

/**
 * Every instant whose local time in `zone` is `wall`, earliest first: one normally, none in
 * a spring-forward gap, two in a fall-back overlap.
 */
export function instantsOf(wall: number, zone: string): number[] {
  if (zone === 'UTC') return [wall];
  // Offsets change at most once within a day either side in every real zone.
  const offsets = new Set([offsetAt(wall - DAY_MS, zone), offsetAt(wall, zone), offsetAt(wall + DAY_MS, zone)]);
  const out: number[] = [];
  for (const off of offsets) {
    const instant = wall - off;
    if (toWall(instant, zone) === wall && !out.includes(instant)) out.push(instant);
  }
  return out.sort((a, b) => a - b);
}

/**
 * The one instant a wall time maps to, as RFC 5545 and Temporal's 'compatible'
 * disambiguation do: in a fall-back overlap the earlier instant; in a spring-forward gap
 * the wall time moved forward by the length of the gap (02:30 in a 02:00->03:00 gap is 03:30).
 */
export function instantOf(wall: number, zone: string): number {
  const found = instantsOf(wall, zone);
  if (found.length > 0) return found[0] as number;
  // In a gap: the offset in force before the gap, applied to the wall time, lands after it.
  return wall - offsetAt(wall - DAY_MS, zone);
}
