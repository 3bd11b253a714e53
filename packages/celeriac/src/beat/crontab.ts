/**
 * @module beat/crontab
 * Crontab fields: parsing (Celery's syntax: `*`, `*\/n`, `a`, `a-b`, `a-b/n`, lists, day and
 * month names, ranges that wrap like `fri-mon`) and the next matching wall-clock minute.
 * Pure; time zones are applied by next-due.ts on top of wall times (see zone.ts).
 *
 * As in Celery (and unlike Vixie cron), a day matches only when its day of month, day of
 * week and month all match.
 */
import { CeleriacError, ErrorCodes } from '../errors.js';

/** The five crontab fields in Celery's keyword form (camelCase). Each defaults to `*`. */
export interface CrontabFields {
  /** 0-59. */
  minute: string;
  /** 0-23. */
  hour: string;
  /** 0-6, Sunday = 0 (7 is also Sunday); names sun..sat. */
  dayOfWeek: string;
  /** 1-31. */
  dayOfMonth: string;
  /** 1-12; names jan..dec. */
  monthOfYear: string;
}

/** The fields compiled into membership tables. */
export interface CompiledCrontab {
  readonly minutes: readonly boolean[];
  readonly hours: readonly boolean[];
  readonly daysOfWeek: readonly boolean[];
  readonly daysOfMonth: readonly boolean[];
  readonly months: readonly boolean[];
  /** Every hour of the day matches: the schedule follows elapsed time across DST changes. */
  readonly everyHour: boolean;
}

interface FieldSpec {
  readonly name: keyof CrontabFields;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
}

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

const SPECS: Record<keyof CrontabFields, FieldSpec> = {
  minute: { name: 'minute', min: 0, max: 59 },
  hour: { name: 'hour', min: 0, max: 23 },
  dayOfWeek: { name: 'dayOfWeek', min: 0, max: 6, names: DAYS },
  dayOfMonth: { name: 'dayOfMonth', min: 1, max: 31 },
  monthOfYear: { name: 'monthOfYear', min: 1, max: 12, names: MONTHS },
};

function fieldError(spec: FieldSpec, text: string, why: string): CeleriacError {
  return new CeleriacError(ErrorCodes.CONFIG, `Invalid crontab ${spec.name} ${JSON.stringify(text)}: ${why}`);
}

function parseValue(spec: FieldSpec, token: string, whole: string): number {
  const lower = token.toLowerCase();
  // Names as Celery takes them: `mon` or `monday`, `jan` or `january`, any case.
  const named = /^[a-z]{3,}$/.test(lower) ? (spec.names?.indexOf(lower.slice(0, 3)) ?? -1) : -1;
  if (named >= 0) return spec.name === 'monthOfYear' ? named + 1 : named;
  if (!/^\d+$/.test(token)) throw fieldError(spec, whole, `${JSON.stringify(token)} is not a number${spec.names ? ' or a name' : ''}`);
  let n = Number(token);
  // Cron and Celery both accept 7 for Sunday.
  if (spec.name === 'dayOfWeek' && n === 7) n = 0;
  if (n < spec.min || n > spec.max) throw fieldError(spec, whole, `${n} is outside ${spec.min}-${spec.max}`);
  return n;
}

/** Expands one comma-separated part (`*`, `a`, `a-b`, with an optional `/step`). */
function expandPart(spec: FieldSpec, part: string, whole: string, out: boolean[]): void {
  const [range = '', stepText, extra] = part.split('/');
  if (extra !== undefined || range === '') throw fieldError(spec, whole, `cannot read ${JSON.stringify(part)}`);
  const step = stepText === undefined ? 1 : Number(stepText);
  if (!Number.isInteger(step) || step < 1 || (stepText !== undefined && !/^\d+$/.test(stepText))) throw fieldError(spec, whole, `bad step ${JSON.stringify(stepText)}`);
  let values: number[];
  if (range === '*') {
    values = [];
    for (let v = spec.min; v <= spec.max; v++) values.push(v);
  } else {
    const [a = '', b, more] = range.split('-');
    if (more !== undefined) throw fieldError(spec, whole, `cannot read ${JSON.stringify(range)}`);
    const from = parseValue(spec, a, whole);
    // `a/n` means from a to the end of the range, every n (Celery and cron agree).
    const to = b === undefined ? (stepText === undefined ? from : spec.max) : parseValue(spec, b, whole);
    values = [];
    if (from <= to) for (let v = from; v <= to; v++) values.push(v);
    else {
      // A range that wraps (fri-mon, 22-2): Celery expands it across the end of the cycle.
      for (let v = from; v <= spec.max; v++) values.push(v);
      for (let v = spec.min; v <= to; v++) values.push(v);
    }
  }
  values.forEach((v, i) => {
    if (i % step === 0) out[v] = true;
  });
}

function compileField(spec: FieldSpec, text: string): boolean[] {
  const out: boolean[] = new Array<boolean>(spec.max + 1).fill(false);
  const trimmed = text.trim();
  if (trimmed === '') throw fieldError(spec, text, 'empty field');
  for (const part of trimmed.split(',')) expandPart(spec, part.trim(), text, out);
  return out;
}

/** Parses the five fields; throws a CONFIG error naming the bad field. */
export function compileCrontab(fields: CrontabFields): CompiledCrontab {
  const hours = compileField(SPECS.hour, fields.hour);
  return Object.freeze({
    minutes: compileField(SPECS.minute, fields.minute),
    hours,
    daysOfWeek: compileField(SPECS.dayOfWeek, fields.dayOfWeek),
    daysOfMonth: compileField(SPECS.dayOfMonth, fields.dayOfMonth),
    months: compileField(SPECS.monthOfYear, fields.monthOfYear),
    everyHour: hours.every(Boolean),
  });
}

/**
 * Splits a five-field crontab string (`minute hour day-of-month month day-of-week`, the
 * order of crontab(5) and of Celery's `crontab.from_string`) into keyword fields.
 */
export function parseCrontabString(text: string): CrontabFields {
  const parts = text.trim().split(/\s+/);
  if (parts.length !== 5) {
    throw new CeleriacError(ErrorCodes.CONFIG, `Invalid crontab ${JSON.stringify(text)}: expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`);
  }
  const [minute, hour, dayOfMonth, monthOfYear, dayOfWeek] = parts as [string, string, string, string, string];
  return { minute, hour, dayOfWeek, dayOfMonth, monthOfYear };
}

const MINUTE = 60_000;
/**
 * How far a search looks: the Gregorian calendar repeats every 400 years (146,097 days, a whole
 * number of weeks), so a crontab with no match in 400 years has none ever. The rarest day that
 * does come, 29 February on a given weekday (`0 0 29 2 1`), can be 40 years away across a
 * century that is not a leap year; a horizon of nine years read it as never (2026-12-02).
 */
const HORIZON_MS = 401 * 366 * 86_400_000;

/** Crontabs known to match no day at all: a search of the whole horizon costs ~6 ms, and a beat asks every tick. */
const NEVER = new WeakSet<CompiledCrontab>();

/**
 * The first wall minute at or after `wall` (wall ms, see zone.ts) that matches, or
 * `Infinity` when none ever does (`30 2 31 2 *`, 31 February).
 */
export function nextWallMatch(c: CompiledCrontab, wall: number): number {
  if (NEVER.has(c)) return Number.POSITIVE_INFINITY;
  let t = Math.ceil(wall / MINUTE) * MINUTE;
  const limit = t + HORIZON_MS;
  while (t <= limit) {
    const d = new Date(t);
    const y = d.getUTCFullYear();
    const mo = d.getUTCMonth();
    const day = d.getUTCDate();
    const h = d.getUTCHours();
    if (!c.months[mo + 1]) {
      t = Date.UTC(y, mo + 1, 1);
    } else if (!c.daysOfMonth[day] || !c.daysOfWeek[d.getUTCDay()]) {
      t = Date.UTC(y, mo, day + 1);
    } else if (!c.hours[h]) {
      t = Date.UTC(y, mo, day, h + 1);
    } else {
      const m = d.getUTCMinutes();
      const next = c.minutes.indexOf(true, m);
      if (next === m) return t;
      t = next < 0 ? Date.UTC(y, mo, day, h + 1) : Date.UTC(y, mo, day, h, next);
    }
  }
  // None in a whole 400-year cycle, so none from any start (not so for a time JS dates cannot hold).
  if (t > limit) NEVER.add(c);
  return Number.POSITIVE_INFINITY;
}
