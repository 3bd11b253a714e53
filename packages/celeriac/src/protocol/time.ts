/**
 * @module protocol/time
 * ISO-8601 text as Python writes and Celery reads it. Pure: callers pass epoch times in.
 *
 * Python's `datetime.isoformat()` prints six fraction digits, and leaves the fraction out
 * entirely when the microsecond is zero; both writers here do the same so a time written
 * by Python parses and re-prints to the same bytes.
 */

import { CeleriacError, ErrorCodes } from '../errors.js';
import { ProtocolError } from './errors.js';

/** Farthest from 1970 a `Date` goes, in epoch ms (the year 275760). */
export const MAX_DATE_MS = 8.64e15;

/** Whether `t` is epoch ms a `Date` holds: a time past it is malformed (hostile input), never shown. */
export function isDateMs(t: unknown): t is number {
  return typeof t === 'number' && Number.isFinite(t) && Math.abs(t) <= MAX_DATE_MS;
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

// The last time formatted: a busy worker stamps many results within one millisecond.
let lastEpochMs = Number.NaN;
let lastBody = '';

// Fractional epoch milliseconds (from parseIsoTime of a six-digit fraction) print back to the
// microsecond.
function isoBody(epochMs: number): string {
  if (epochMs === lastEpochMs) return lastBody;
  const body = formatIsoBody(epochMs);
  lastEpochMs = epochMs;
  lastBody = body;
  return body;
}

/** Milliseconds in a UTC day: epoch time has no leap seconds. */
const DAY_MS = 86_400_000;
// The day of the last time formatted and its `YYYY-MM-DDT`: results are stamped all day long,
// and Date#toISOString cost more than the rest of the result's meta.
let dayStartMs = Number.NaN;
let dayText = '';

/** 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z in epoch ms: the times a Python datetime holds lie between. */
const YEAR_1_MS = -62_135_596_800_000;
const YEAR_10000_MS = 253_402_300_800_000;

/** True for an epoch time in the years 1 to 9999, all a Python datetime (so a Celery peer) can hold. */
export function inDatetimeRange(epochMs: number): boolean {
  return epochMs >= YEAR_1_MS && epochMs < YEAR_10000_MS;
}

function formatIsoBody(epochMs: number): string {
  if (!Number.isFinite(epochMs)) {
    throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `Not a finite epoch time: ${epochMs}`);
  }
  // Whole milliseconds and microseconds apart: epoch microseconds pass 2**53 in the year 2255.
  let wholeMs = Math.floor(epochMs);
  let micros = Math.round((epochMs - wholeMs) * 1000);
  if (micros === 1000) {
    wholeMs += 1;
    micros = 0;
  }
  let msOfDay = wholeMs - dayStartMs;
  if (!(msOfDay >= 0 && msOfDay < DAY_MS)) {
    if (!inDatetimeRange(wholeMs)) {
      throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `Epoch time out of range: ${epochMs} ms is outside the years 1 to 9999, all a Python datetime (so a Celery worker) can hold`);
    }
    // Years 1-9999 print as four digits: `YYYY-MM-DDT` is the first 11 characters.
    dayText = new Date(wholeMs).toISOString().slice(0, 11);
    msOfDay = ((wholeMs % DAY_MS) + DAY_MS) % DAY_MS;
    dayStartMs = wholeMs - msOfDay;
  }
  const seconds = Math.floor(msOfDay / 1000);
  const text = `${dayText}${pad(Math.floor(seconds / 3600), 2)}:${pad(Math.floor(seconds / 60) % 60, 2)}:${pad(seconds % 60, 2)}`;
  const fraction = (msOfDay - seconds * 1000) * 1000 + micros;
  return fraction === 0 ? text : `${text}.${pad(fraction, 6)}`;
}

/**
 * Formats an epoch time like Python's `datetime.isoformat()` of an aware UTC value:
 * `2026-11-21T14:06:16.057000+00:00`. Used for `eta` and `expires` headers. As in Python the
 * fraction is omitted when it is zero (`2026-11-21T14:06:16+00:00`).
 *
 * @param epochMs Milliseconds since the Unix epoch; fractions keep microsecond precision.
 * @throws CeleriacError INVALID_ARGUMENT when the time is not finite or outside years 1-9999.
 */
export function isoformatUtc(epochMs: number): string {
  return `${isoBody(epochMs)}+00:00`;
}

/**
 * Formats an epoch time as a naive UTC isoformat without offset, the form Celery stores in
 * `date_done` (`2026-11-21T14:05:47.491713`). Fraction omitted when zero, as in Python.
 *
 * @throws CeleriacError INVALID_ARGUMENT when the time is not finite or outside years 1-9999.
 */
export function naiveUtcIso(epochMs: number): string {
  return isoBody(epochMs);
}

// Date, then optional time (hh:mm[:ss[.frac]]), then optional zone. Accepts the forms
// Celery's own iso8601 parser and Python's fromisoformat both produce: 'T' or ' '
// separator, 'Z', '±hh:mm', '±hhmm', '±hh', and a naive time which means UTC.
const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?)?$/;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function badTime(text: unknown): ProtocolError {
  const shown = typeof text === 'string' ? JSON.stringify(text.slice(0, 80)) : typeof text;
  return new ProtocolError('bad-headers', `Not an ISO-8601 time: ${shown}`);
}

/**
 * Parses ISO-8601 text into epoch milliseconds. Accepts `+00:00`, `Z`, any other offset,
 * and naive times (taken as UTC, Celery's behaviour with `enable_utc`). Fractional seconds
 * may have any number of digits; digits beyond the millisecond survive as a fractional
 * result (`.057426` gives `...057.426`), so {@link isoformatUtc} can print them back.
 *
 * @throws ProtocolError `bad-headers` when the text is not a valid time.
 */
export function parseIsoTime(text: string): number {
  if (typeof text !== 'string') throw badTime(text);
  const match = ISO_RE.exec(text);
  if (match === null) throw badTime(text);
  const [, y, mo, d, h, mi, s, frac, zulu, sign, oh, om] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h ?? 0);
  const minute = Number(mi ?? 0);
  const second = Number(s ?? 0);
  const offsetHours = Number(oh ?? 0);
  const offsetMinutes = Number(om ?? 0);
  const valid =
    year >= 1 &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth(year, month) &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59 &&
    offsetHours <= 23 &&
    offsetMinutes <= 59;
  if (!valid) throw badTime(text);
  // Date.UTC maps years 0-99 to 1900+; setUTCFullYear does not.
  const base = new Date(0);
  base.setUTCFullYear(year, month - 1, day);
  base.setUTCHours(hour, minute, second, 0);
  let epochMs = base.getTime();
  if (frac !== undefined) {
    // Python keeps microseconds only; round there so odd inputs still re-print cleanly.
    epochMs += Math.round(Number(`0.${frac}`) * 1_000_000) / 1000;
  }
  if (zulu === undefined && sign !== undefined) {
    const offsetMs = (offsetHours * 60 + offsetMinutes) * 60_000;
    epochMs += sign === '+' ? -offsetMs : offsetMs;
  }
  return epochMs;
}
