/**
 * @module beat/dynamic-entries
 * Dynamic entries: add, change, pause, resume and remove beat entries at run time. They are
 * stored beside beat's lease (the broker's beat store, e.g. Redis) with a version that every
 * running beat polls, so changes apply without a restart, on whichever beat leads.
 */
import type { App } from '../core/app.js';
import type { ApplyOptions } from '../core/call-options.js';
import type { Json, JsonObject } from '../protocol/types.js';
import type { BeatEntryDefinition } from '../core/beat-entry.js';
import type { BeatStore } from '../core/spi/beat-store.js';
import { beatStoreOf } from '../core/spi/roles.js';
import { CeleriacError, ErrorCodes } from '../errors.js';
import { compileEntry, compileSchedule, mergeEntries } from './compile-entries.js';
import { slotAfter } from './next-due.js';
import type { Schedule } from './schedules.js';

/** One entry as {@link BeatEntries.list} shows it. */
export interface BeatEntryInfo {
  readonly name: string;
  readonly task: string;
  /** Arguments, keyword arguments and call options of the messages it sends. */
  readonly args: readonly Json[];
  readonly kwargs: JsonObject;
  readonly options: Readonly<ApplyOptions>;
  readonly schedule: Schedule;
  /** 'settings' (`beatSchedule`) or 'dynamic' (added at run time; replaces a static one of the same name). */
  readonly source: 'settings' | 'dynamic';
  readonly paused: boolean;
  /** Epoch ms of the slot of the last run (or of first sight), null before any beat saw it. */
  readonly lastRunAt: number | null;
  readonly totalRunCount: number;
  /** Epoch ms of the next scheduled run (Infinity: never), null before any beat saw it. */
  readonly nextRunAt: number | null;
}

/** Run-time control of beat entries. Get one with `new BeatEntries(app)`. */
export class BeatEntries {
  readonly #store: BeatStore;

  constructor(
    private readonly app: App,
    store?: BeatStore,
  ) {
    this.#store = beatStoreOf(app.broker, store);
  }

  #check(name: string): void {
    if (typeof name !== 'string' || name === '') throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, 'a beat entry needs a non-empty name');
  }

  /**
   * Adds an entry, or replaces the entry of that name (a static one included). Checked
   * first: a bad schedule throws a CONFIG error and nothing is stored. Its run state is
   * kept, so changing a schedule does not re-run what already ran.
   */
  async set(name: string, definition: BeatEntryDefinition): Promise<void> {
    this.#check(name);
    const compiled = compileEntry(name, definition, { misfireGraceSec: this.app.settings.beatMisfireGraceSec }, 'dynamic');
    await this.#store.put(name, JSON.stringify({ ...definition, schedule: compiled.schedule }));
  }

  /** Stops sending an entry (static or dynamic) until {@link BeatEntries.resume}. */
  async pause(name: string): Promise<void> {
    this.#check(name);
    await this.#store.setPaused(name, true);
  }

  /** Sends a paused entry again. Runs missed while paused follow its misfire policy. */
  async resume(name: string): Promise<void> {
    this.#check(name);
    await this.#store.setPaused(name, false);
  }

  /**
   * Removes a dynamic entry with its run state and paused mark; false when there was no
   * dynamic entry of that name. A static entry of the same name applies again (pause it
   * to stop it).
   */
  async remove(name: string): Promise<boolean> {
    this.#check(name);
    return this.#store.remove(name);
  }

  /** Every entry, static and dynamic, with its run state. */
  async list(): Promise<BeatEntryInfo[]> {
    const defaults = { misfireGraceSec: this.app.settings.beatMisfireGraceSec };
    const statics = compileSchedule(this.app.settings.beatSchedule, defaults);
    const [stored, states] = await Promise.all([this.#store.entries(), this.#store.states()]);
    const merged = mergeEntries(statics, stored, defaults, () => undefined);
    return [...merged.values()].map((e) => {
      const state = states.get(e.name);
      const timezone = e.timezone ?? this.app.settings.timezone;
      return {
        name: e.name,
        task: e.task,
        args: e.args,
        kwargs: e.kwargs,
        options: e.options,
        schedule: e.schedule,
        source: e.source,
        paused: e.paused,
        lastRunAt: state?.lastRunAt ?? null,
        totalRunCount: state?.totalRunCount ?? 0,
        nextRunAt: state === undefined ? null : slotAfter(e.schedule, state.lastRunAt, { timezone }),
      };
    });
  }
}
