/**
 * @module beat/beat-options
 * Options of a {@link Beat} (beat.ts), resolved once from the call and the app settings.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { App } from '../core/app.js';
import type { BeatEntryDefinition } from '../core/beat-entry.js';
import type { BeatStore } from '../core/spi/beat-store.js';
import { beatStoreOf } from '../core/spi/roles.js';
import { CeleriacError, ErrorCodes } from '../errors.js';
import { compileSchedule, type CompiledEntry } from './compile-entries.js';

/** Options of {@link Beat}. */
export interface BeatOptions {
  /** Longest sleep of the loop, seconds (`--max-interval`). @default settings.beatMaxLoopIntervalSec */
  maxIntervalSec?: number;
  /** Lease length, seconds. @default settings.beatLeaseTtlSec */
  leaseTtlSec?: number;
  /** Name of this beat in its lease token and logs. @default `beat-<pid>@<host>-<random>` */
  holder?: string;
  /** Where the lease, run state and dynamic entries live. @default the broker's own (core/spi/roles.ts `beatStoreOf`) */
  store?: BeatStore;
  /** Entries to run instead of `settings.beatSchedule`. */
  schedule?: Record<string, BeatEntryDefinition>;
}

/** {@link BeatOptions} resolved once. */
export interface ResolvedBeatOptions {
  readonly maxIntervalMs: number;
  readonly leaseTtlMs: number;
  readonly holder: string;
  readonly store: BeatStore;
  /** The static entries, checked. */
  readonly statics: ReadonlyMap<string, CompiledEntry>;
  readonly misfireGraceSec: number;
  readonly timezone: string;
}

function positiveSeconds(value: number, what: string): number {
  if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
    throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${what} must be a number of seconds > 0, got ${String(value)}`);
  }
  return value * 1000;
}

/** Resolves and checks the options (entries included): throws CONFIG / INVALID_ARGUMENT errors. */
export function resolveBeatOptions(app: App, options: BeatOptions = {}): ResolvedBeatOptions {
  const s = app.settings;
  const store = beatStoreOf(app.broker, options.store);
  const misfireGraceSec = s.beatMisfireGraceSec;
  return Object.freeze({
    maxIntervalMs: positiveSeconds(options.maxIntervalSec ?? s.beatMaxLoopIntervalSec, 'maxIntervalSec'),
    leaseTtlMs: positiveSeconds(options.leaseTtlSec ?? s.beatLeaseTtlSec, 'leaseTtlSec'),
    holder: options.holder ?? `beat-${process.pid}@${hostname()}-${randomUUID().slice(0, 8)}`,
    store,
    statics: compileSchedule(options.schedule ?? s.beatSchedule, { misfireGraceSec }),
    misfireGraceSec,
    timezone: s.timezone,
  });
}
