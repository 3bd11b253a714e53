/**
 * @module beat/schedules
 * Schedules as plain, JSON-friendly data (so they live in settings, in the environment and
 * in Redis as they are): an interval, a crontab, or a solar event. Build them with
 * {@link every}, {@link crontab} and {@link solar}; {@link toSchedule} also reads Celery's
 * shorthands (a number of seconds, a five-field crontab string).
 */
import { CeleriacError, ErrorCodes } from '../errors.js';
import { compileCrontab, parseCrontabString, type CrontabFields } from './crontab.js';
import { checkSolar, type SolarEvent } from './solar.js';
import { checkZone } from './zone.js';

/** Celery's `schedule(run_every)`: every `seconds`, counted from the last run. */
export interface IntervalSchedule {
  readonly kind: 'interval';
  /** Seconds between runs (> 0, fractions allowed). */
  readonly seconds: number;
}

/** Celery's `crontab(...)`: the five fields, evaluated in a time zone. */
export interface CrontabSchedule extends Readonly<CrontabFields> {
  readonly kind: 'crontab';
  /** IANA zone the fields are read in; else the entry's, else the app's `timezone`. */
  readonly timezone?: string;
}

/** Celery's `solar(event, lat, lon)`. */
export interface SolarSchedule {
  readonly kind: 'solar';
  readonly event: SolarEvent;
  /** Degrees, north positive. */
  readonly latitude: number;
  /** Degrees, east positive. */
  readonly longitude: number;
}

/** Any schedule. */
export type Schedule = IntervalSchedule | CrontabSchedule | SolarSchedule;

/** What a beat entry's `schedule` may be: a schedule, seconds, or a five-field crontab string. */
export type ScheduleInput = Schedule | number | string;

/** The shortest interval: a millisecond, the resolution of beat's clock. */
export const MIN_INTERVAL_SEC = 0.001;

/** Every `seconds` seconds (Celery's `schedule(timedelta(seconds=...))`). */
export function every(seconds: number): IntervalSchedule {
  // Beat's clock counts milliseconds: a shorter interval is always due, and its entry would
  // be sent on every turn of beat's loop, without a pause.
  if (!(typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= MIN_INTERVAL_SEC)) {
    throw new CeleriacError(ErrorCodes.CONFIG, `An interval must be a number of seconds >= ${MIN_INTERVAL_SEC} (a millisecond), got ${String(seconds)}`);
  }
  return Object.freeze({ kind: 'interval', seconds });
}

/** Options of {@link crontab}. */
export interface CrontabOptions {
  /** IANA zone to read the fields in. @default the entry's, else the app's `timezone` */
  timezone?: string;
}

/**
 * A crontab: a five-field string (`'30 7 * * mon-fri'`) or Celery's keywords
 * (`{ minute: '30', hour: '7', dayOfWeek: 'mon-fri' }`; missing fields are `*`).
 */
export function crontab(spec: string | Partial<CrontabFields> = {}, options: CrontabOptions = {}): CrontabSchedule {
  const given = typeof spec === 'string' ? parseCrontabString(spec) : spec;
  const fields: CrontabFields = {
    minute: String(given.minute ?? '*'),
    hour: String(given.hour ?? '*'),
    dayOfWeek: String(given.dayOfWeek ?? '*'),
    dayOfMonth: String(given.dayOfMonth ?? '*'),
    monthOfYear: String(given.monthOfYear ?? '*'),
  };
  compileCrontab(fields);
  if (options.timezone !== undefined) checkZone(options.timezone);
  return Object.freeze({ kind: 'crontab', ...fields, ...(options.timezone === undefined ? {} : { timezone: options.timezone }) });
}

/** When a solar `event` happens at latitude/longitude (degrees; north and east positive). */
export function solar(event: SolarEvent, latitude: number, longitude: number): SolarSchedule {
  checkSolar(event, latitude, longitude);
  return Object.freeze({ kind: 'solar', event, latitude, longitude });
}

/**
 * Reads a schedule from its input form: a number is seconds, a string a five-field
 * crontab, an object one of the schedule shapes (as stored in JSON). Throws CONFIG errors.
 */
export function toSchedule(input: unknown, what = 'schedule'): Schedule {
  if (typeof input === 'number') return every(input);
  if (typeof input === 'string') return crontab(input);
  if (typeof input !== 'object' || input === null) {
    throw new CeleriacError(ErrorCodes.CONFIG, `${what} must be seconds, a crontab string or a schedule object, got ${JSON.stringify(input)}`);
  }
  const s = input as Record<string, unknown>;
  switch (s['kind']) {
    case 'interval':
      return every(s['seconds'] as number);
    case 'crontab':
      return crontab(s as Partial<CrontabFields>, s['timezone'] === undefined ? {} : { timezone: String(s['timezone']) });
    case 'solar':
      return solar(s['event'] as SolarEvent, Number(s['latitude']), Number(s['longitude']));
    default:
      throw new CeleriacError(ErrorCodes.CONFIG, `${what} has an unknown kind ${JSON.stringify(s['kind'])}: expected interval, crontab or solar`);
  }
}

/** A short human description, for logs and `beat` start-up output. */
export function describeSchedule(s: Schedule): string {
  switch (s.kind) {
    case 'interval':
      return `every ${s.seconds}s`;
    case 'crontab':
      return `crontab ${s.minute} ${s.hour} ${s.dayOfMonth} ${s.monthOfYear} ${s.dayOfWeek}${s.timezone ? ` (${s.timezone})` : ''}`;
    case 'solar':
      return `${s.event} at ${s.latitude},${s.longitude}`;
  }
}
