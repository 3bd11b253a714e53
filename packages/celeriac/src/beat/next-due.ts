/**
 * @module beat/next-due
 * The pure core of beat: given a schedule, the last run and now, is a run due, which
 * scheduled time (slot) it stands for, and when to look again. No I/O, no clock: the
 * scheduler passes `now`, tests pass any time they like.
 *
 * Semantics (docs/periodic-tasks.md):
 * - A run is due once the first slot after `lastRunAt` has come. Missed slots collapse into
 *   one run standing for the latest slot at or before now, and the new `lastRunAt` is that
 *   slot, so an interval keeps its grid (no drift by send latency, unlike Celery's).
 * - Crontab fields are read in an IANA zone. A crontab whose hour field is `*` follows
 *   elapsed time: in a fall-back hour its minutes happen twice, in a spring-forward gap they
 *   simply do not exist. A crontab with fixed hours runs once per matching wall time: a time
 *   in the repeated hour runs at its first occurrence, a time in the gap runs shifted forward
 *   by the gap (02:30 becomes 03:30), as RFC 5545 and Temporal resolve such times.
 */
import { compileCrontab, nextWallMatch, type CompiledCrontab } from './crontab.js';
import type { CrontabSchedule, Schedule } from './schedules.js';
import { nextSolarEvent } from './solar.js';
import { instantOf, instantsOf, toWall } from './zone.js';

/** The answer of {@link nextDue}. */
export type DueResult =
  | {
      readonly due: true;
      /** The scheduled time this run stands for: the latest slot at or before now. Record it as `lastRunAt`. */
      readonly slot: number;
      /** The earliest slot not yet run (equals `slot` unless runs were missed). */
      readonly firstMissed: number;
      /** The slot after `slot`: when to look again (Infinity: never again). */
      readonly nextAt: number;
    }
  | {
      readonly due: false;
      /** The next slot: when to look again (Infinity: never). */
      readonly nextAt: number;
    };

/** Extra inputs of {@link nextDue}. */
export interface NextDueOptions {
  /** IANA zone for crontab fields when the schedule names none. @default 'UTC' */
  timezone?: string;
}

const compiled = new Map<string, CompiledCrontab>();
/** Three hours: beyond any DST shift, so wall order and instant order agree past it. */
const SHIFT_MS = 3 * 3_600_000;
const MINUTE = 60_000;

function compiledOf(s: CrontabSchedule): CompiledCrontab {
  const key = `${s.minute}|${s.hour}|${s.dayOfWeek}|${s.dayOfMonth}|${s.monthOfYear}`;
  let c = compiled.get(key);
  if (c === undefined) {
    c = compileCrontab(s);
    compiled.set(key, c);
  }
  return c;
}

/** The first instant strictly after `t` that a crontab names in `zone`. */
function crontabAfter(s: CrontabSchedule, t: number, zone: string): number {
  const c = compiledOf(s);
  let wall = Math.floor((toWall(t, zone) - SHIFT_MS) / MINUTE) * MINUTE;
  let best = Number.POSITIVE_INFINITY;
  let bestWall = Number.POSITIVE_INFINITY;
  // Walk matching wall minutes in order; an overlap can make a later wall time an earlier
  // instant, so keep going until wall times are past any shift from the best found.
  for (let i = 0; i < 10_000; i++) {
    wall = nextWallMatch(c, wall);
    if (!Number.isFinite(wall) || wall > bestWall + SHIFT_MS) break;
    const instants = c.everyHour ? instantsOf(wall, zone) : [instantOf(wall, zone)];
    for (const instant of instants) {
      if (instant > t && instant < best) {
        best = instant;
        bestWall = wall;
      }
    }
    wall += MINUTE;
  }
  return best;
}

/** The first slot of `schedule` strictly after `t` (interval: `t` is its anchor, the last run). */
export function slotAfter(schedule: Schedule, t: number, options: NextDueOptions = {}): number {
  switch (schedule.kind) {
    case 'interval':
      return t + schedule.seconds * 1000;
    case 'crontab':
      return crontabAfter(schedule, t, schedule.timezone ?? options.timezone ?? 'UTC');
    case 'solar':
      return nextSolarEvent(schedule.event, schedule.latitude, schedule.longitude, t);
  }
}

/** Look-back windows for the latest slot: an hour, a day, a month, a year, nine years. */
const WINDOWS_MS = [3_600_000, 86_400_000, 32 * 86_400_000, 367 * 86_400_000, 9 * 367 * 86_400_000];

/** The latest slot at or before `now` among those after `from` (which is before `now`). */
function latestSlot(schedule: Schedule, from: number, now: number, options: NextDueOptions): number {
  if (schedule.kind === 'interval') {
    const ms = schedule.seconds * 1000;
    return from + Math.floor((now - from) / ms) * ms;
  }
  // Search back from now in growing windows, then forward to the last slot in the window.
  for (const w of WINDOWS_MS) {
    const start = Math.max(from, now - w);
    let slot = slotAfter(schedule, start, options);
    if (slot > now) {
      if (start === from) break;
      continue;
    }
    for (let next = slotAfter(schedule, slot, options); next <= now && next > slot; next = slotAfter(schedule, slot, options)) slot = next;
    return slot;
  }
  return slotAfter(schedule, from, options);
}

/**
 * Is a run of `schedule` due at `now`, given the last run (or, for a new entry, the time
 * it was first seen)? Pure and deterministic.
 */
export function nextDue(schedule: Schedule, lastRunAt: number, now: number, options: NextDueOptions = {}): DueResult {
  const first = slotAfter(schedule, lastRunAt, options);
  if (first > now) return { due: false, nextAt: first };
  const slot = latestSlot(schedule, lastRunAt, now, options);
  return { due: true, slot, firstMissed: first, nextAt: slotAfter(schedule, slot, options) };
}
