/**
 * Periodic tasks: the schedules of `beatSchedule` (`every`, `crontab`, `solar`), the Beat
 * scheduler, run-time control of dynamic entries (`BeatEntries`) and the pure `nextDue`.
 *
 * @module celeriac/beat
 */
export { crontab, every, solar } from '../beat/schedules.js';
export type { CrontabOptions, CrontabSchedule, IntervalSchedule, Schedule, ScheduleInput, SolarSchedule } from '../beat/schedules.js';
export type { SolarEvent } from '../beat/solar.js';
export type { BeatEntryDefinition, BeatEntryOptions, BeatScheduleObject, MisfirePolicy } from '../core/beat-entry.js';
export { Beat, BEAT_HEADER } from '../beat/beat.js';
export type { BeatCloseOptions, BeatState } from '../beat/beat.js';
export type { BeatOptions, ResolvedBeatOptions } from '../beat/beat-options.js';
export { BeatEntries } from '../beat/dynamic-entries.js';
export type { BeatEntryInfo } from '../beat/dynamic-entries.js';
export { nextDue, slotAfter } from '../beat/next-due.js';
export type { DueResult, NextDueOptions } from '../beat/next-due.js';
