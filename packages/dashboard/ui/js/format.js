// Pure formatting helpers (no DOM), shared by every page and unit-tested in node.

/** Farthest from 1970 a Date goes, in ms (the year 275760). */
const MAX_DATE_MS = 8.64e15;

/**
 * Epoch milliseconds from what the API sends: epoch seconds (Flower's floats), epoch ms
 * (the history store), or an ISO-8601 string. Null when absent or unreadable, and for a time
 * no Date holds (a beat entry due in 1e300 seconds, a foreign event's timestamp): formatting
 * one threw, and the page that showed it drew nothing.
 */
export function toMs(t) {
  if (t === null || t === undefined || t === '') return null;
  if (typeof t === 'number') {
    if (!Number.isFinite(t)) return null;
    const ms = Math.abs(t) < 1e11 ? t * 1000 : t;
    return Math.abs(ms) <= MAX_DATE_MS ? ms : null;
  }
  if (typeof t === 'string') {
    if (/^-?\d+(\.\d+)?$/.test(t)) return toMs(Number(t));
    const ms = Date.parse(t);
    return Number.isNaN(ms) ? null : ms;
  }
  return null;
}

const formatters = new Map();

function formatterFor(timeZone) {
  const key = timeZone ?? '';
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      fractionalSecondDigits: 3,
      hourCycle: 'h23',
      timeZoneName: 'longOffset',
    });
    formatters.set(key, f);
  }
  return f;
}

/** The IANA zone the user chose: 'browser' is the browser's own, 'app' the app's (from config). */
export function resolveZone(choice, appZone) {
  if (choice === 'UTC') return 'UTC';
  if (choice === 'app') return validZone(appZone) ? appZone : 'UTC';
  return undefined; // the browser's zone
}

/** True when `zone` is an IANA zone this browser knows. */
export function validZone(zone) {
  if (typeof zone !== 'string' || zone === '') return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/**
 * `2026-11-22 20:13:05.123 UTC+01:00` in `timeZone` (undefined: the browser's zone);
 * '' for a missing time.
 */
export function formatTime(t, timeZone) {
  const ms = toMs(t);
  if (ms === null) return '';
  const parts = {};
  for (const p of formatterFor(timeZone).formatToParts(new Date(ms))) parts[p.type] = p.value;
  const offset = (parts.timeZoneName ?? 'GMT').replace('GMT', 'UTC');
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}.${parts.fractionalSecond} ${offset === 'UTC' ? 'UTC+00:00' : offset}`;
}

/** A duration in seconds for people: `12 ms`, `1.50 s`, `2 min 05 s`, `3 h 04 min`. */
export function formatDuration(sec) {
  if (sec === null || sec === undefined || !Number.isFinite(Number(sec))) return '';
  const s = Number(sec);
  if (s === 0) return '0 ms';
  if (s < 0) return `-${formatDuration(-s)}`;
  if (s < 1) return `${(s * 1000).toFixed(s < 0.01 ? 2 : 0)} ms`;
  if (s < 60) return `${s.toFixed(2)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(Math.floor(s % 60)).padStart(2, '0')} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** How long ago `t` was, relative to `nowMs`: `4 s ago`, `in 3 min`. */
export function formatAge(t, nowMs) {
  const ms = toMs(t);
  if (ms === null) return '';
  const d = (nowMs - ms) / 1000;
  const text = formatDuration(Math.abs(d)).replace(/\.\d+ s$/, ' s');
  return d >= 0 ? `${text} ago` : `in ${text}`;
}

/** Shortens the middle of a long string: `celery@very-lo…-host-42`. */
export function elide(text, max = 48) {
  const s = String(text ?? '');
  if (s.length <= max) return s;
  const half = Math.floor((max - 1) / 2);
  return `${s.slice(0, half)}…${s.slice(s.length - (max - 1 - half))}`;
}

/** `1,234,567` */
export function formatCount(n) {
  if (n === null || n === undefined || !Number.isFinite(Number(n))) return '';
  return Number(n).toLocaleString('en-US');
}

/** The ISO string (UTC) for a `datetime-local` input's value read in `timeZone`. */
export function localInputToMs(value, timeZone) {
  if (!value) return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  if (!m) return null;
  const [y, mo, d, hh, mi, ss] = m.slice(1).map((x) => Number(x ?? 0));
  const asUtc = Date.UTC(y, mo - 1, d, hh, mi, ss);
  if (timeZone === undefined) return new Date(y, mo - 1, d, hh, mi, ss).getTime();
  // The zone's offset at that instant (twice, for instants near a DST change).
  let guess = asUtc;
  for (let i = 0; i < 2; i++) guess = asUtc - offsetMs(guess, timeZone);
  return guess;
}

/** Offset of `timeZone` from UTC at `ms`, in ms. */
export function offsetMs(ms, timeZone) {
  const parts = {};
  for (const p of formatterFor(timeZone).formatToParts(new Date(ms))) parts[p.type] = p.value;
  const m = /([+-])(\d{2}):(\d{2})/.exec(parts.timeZoneName ?? '');
  if (!m) return 0;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) * 60_000;
}
