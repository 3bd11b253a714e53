/**
 * @module beat/compile-entries
 * Beat entries: checking a definition (Celery's `beat_schedule` shape) once into a frozen
 * {@link CompiledEntry}, and merging the static entries of the settings with the dynamic
 * ones of the store (a dynamic entry replaces a static one of the same name; a paused mark
 * applies to either).
 */
import type { BeatEntryDefinition, BeatEntryOptions, MisfirePolicy } from '../core/beat-entry.js';
import { renameCallOptions, type ApplyOptions } from '../core/call-options.js';
import type { StoredEntries } from '../core/spi/beat-store.js';
import { CeleriacError, ErrorCodes } from '../errors.js';
import { pyJsonStringify } from '../protocol/py-json.js';
import type { Json, JsonObject } from '../protocol/types.js';
import { toSchedule, type Schedule } from './schedules.js';
import { checkZone } from './zone.js';

/** A checked entry. */
export interface CompiledEntry {
  readonly name: string;
  readonly task: string;
  readonly schedule: Schedule;
  readonly args: readonly Json[];
  readonly kwargs: JsonObject;
  /** Call options of its messages. */
  readonly options: Readonly<ApplyOptions>;
  readonly timezone: string | undefined;
  readonly misfire: MisfirePolicy;
  readonly misfireGraceMs: number;
  /** Where it was defined. */
  readonly source: 'settings' | 'dynamic';
  readonly paused: boolean;
}

/** Defaults an entry takes from the app. */
export interface EntryDefaults {
  /** Seconds (the `beatMisfireGraceSec` setting). */
  readonly misfireGraceSec: number;
}

const OPTION_KEYS: readonly (keyof BeatEntryOptions)[] = ['queue', 'exchange', 'routingKey', 'priority', 'expires', 'headers', 'ignoreResult', 'timeLimitSec', 'softTimeLimitSec', 'shadow', 'countdown'];
/** Celery's snake_case option names, accepted for schedules written for Python. */
const SNAKE: Record<string, keyof BeatEntryOptions> = { routing_key: 'routingKey', ignore_result: 'ignoreResult', time_limit: 'timeLimitSec', soft_time_limit: 'softTimeLimitSec' };

function entryError(name: string, why: string): CeleriacError {
  return new CeleriacError(ErrorCodes.CONFIG, `Beat entry ${JSON.stringify(name)}: ${why}`);
}

function compileOptions(name: string, given: unknown): ApplyOptions {
  if (given === undefined) return {};
  if (typeof given !== 'object' || given === null || Array.isArray(given)) throw entryError(name, 'options must be an object');
  let renamed: object;
  try {
    renamed = renameCallOptions(given);
  } catch (error) {
    throw entryError(name, (error as Error).message);
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(renamed)) {
    const k = SNAKE[key] ?? key;
    if (!(OPTION_KEYS as readonly string[]).includes(k)) throw entryError(name, `unknown option ${JSON.stringify(key)}; known: ${OPTION_KEYS.join(', ')}`);
    if (value !== undefined && value !== null) out[k] = value;
  }
  if (out['priority'] !== undefined && !(Number.isInteger(out['priority']) && (out['priority'] as number) >= 0 && (out['priority'] as number) <= 9)) {
    throw entryError(name, `priority must be an integer from 0 to 9, got ${JSON.stringify(out['priority'])}`);
  }
  return out as ApplyOptions;
}

/** An entry's keys (the compiler keeps this list in step with {@link BeatEntryDefinition}). */
const ENTRY_KEYS: readonly string[] = Object.keys({
  task: true, schedule: true, args: true, kwargs: true, options: true, timezone: true, misfire: true, misfireGraceSec: true,
} satisfies Record<keyof BeatEntryDefinition, true>);

/** Checks one definition; throws a CONFIG error naming the entry. */
export function compileEntry(name: string, def: BeatEntryDefinition, defaults: EntryDefaults, source: CompiledEntry['source'] = 'settings', paused = false): CompiledEntry {
  if (typeof def !== 'object' || def === null || Array.isArray(def)) throw entryError(name, 'must be an object');
  // Celery's `relative: true` rounds an interval's start to its unit; false is what runs here.
  const { relative } = def as { relative?: unknown };
  if (relative !== undefined && relative !== false) throw entryError(name, "relative: true (Celery's intervals rounded to their unit) has no Celeriac equivalent; leave it out");
  // A misspelt key (`kwarg`, `timezon`) was stored and ignored.
  const unknown = Object.keys(def).find((key) => !ENTRY_KEYS.includes(key) && key !== 'relative');
  if (unknown !== undefined) throw entryError(name, `unknown key ${JSON.stringify(unknown)}; known: ${ENTRY_KEYS.join(', ')}`);
  if (typeof def.task !== 'string' || def.task === '') throw entryError(name, 'task must be a task name');
  const args = def.args ?? [];
  if (!Array.isArray(args)) throw entryError(name, 'args must be an array');
  const kwargs = def.kwargs ?? {};
  if (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs)) throw entryError(name, 'kwargs must be an object');
  // What every run sends, checked once here: a cyclic or too deep value failed each send, or
  // stopped a dynamic entry's store with a stack overflow.
  try {
    pyJsonStringify([args, kwargs]);
  } catch (error) {
    throw entryError(name, `args and kwargs must be JSON: ${(error as Error).message}`);
  }
  const misfire = def.misfire ?? 'run-once';
  if (misfire !== 'run-once' && misfire !== 'skip') throw entryError(name, `misfire must be 'run-once' or 'skip', got ${JSON.stringify(misfire)}`);
  const grace = def.misfireGraceSec ?? defaults.misfireGraceSec;
  if (!(typeof grace === 'number' && Number.isFinite(grace) && grace >= 0)) throw entryError(name, 'misfireGraceSec must be a number >= 0');
  let schedule: Schedule;
  try {
    schedule = toSchedule(def.schedule, 'schedule');
    if (def.timezone !== undefined) checkZone(def.timezone);
  } catch (error) {
    throw entryError(name, (error as Error).message);
  }
  return Object.freeze({
    name,
    task: def.task,
    schedule,
    args: Object.freeze([...args]),
    kwargs: Object.freeze({ ...kwargs }),
    options: Object.freeze(compileOptions(name, def.options)),
    timezone: def.timezone,
    misfire,
    misfireGraceMs: grace * 1000,
    source,
    paused,
  });
}

/** Checks every entry of a `beatSchedule` setting. */
export function compileSchedule(schedule: Readonly<Record<string, BeatEntryDefinition>>, defaults: EntryDefaults): Map<string, CompiledEntry> {
  const out = new Map<string, CompiledEntry>();
  for (const [name, def] of Object.entries(schedule)) out.set(name, compileEntry(name, def, defaults));
  return out;
}

/**
 * Static entries overlaid with the store's dynamic ones and paused marks. An unreadable
 * stored definition is reported through `onBad` and left out, so one bad entry written by
 * hand cannot stop the others.
 */
export function mergeEntries(
  statics: ReadonlyMap<string, CompiledEntry>,
  stored: StoredEntries,
  defaults: EntryDefaults,
  onBad: (name: string, error: Error) => void,
): Map<string, CompiledEntry> {
  const out = new Map<string, CompiledEntry>();
  for (const [name, entry] of statics) out.set(name, stored.paused.has(name) ? { ...entry, paused: true } : entry);
  for (const [name, text] of stored.definitions) {
    try {
      out.set(name, compileEntry(name, JSON.parse(text) as BeatEntryDefinition, defaults, 'dynamic', stored.paused.has(name)));
    } catch (error) {
      onBad(name, error as Error);
    }
  }
  return out;
}
