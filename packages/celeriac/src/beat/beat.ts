/**
 * @module beat/beat
 * The scheduler. Any number of Beat instances may run against one broker: each loops, only
 * the lease holder sends. The leader's loop, per tick: renew the lease,
 * reload dynamic entries when their version moved, and for each due entry build an ordinary
 * task message and publish it FENCED: the broker checks the lease token and records the
 * entry's new run state (last run, run count) in the same atomic step as the push, so
 * - a paused old leader that wakes after a takeover cannot send (its token is stale);
 * - a crash before the step sends nothing and records nothing (the next leader sends it);
 *   a crash after it leaves both done: no double fire, no silent skip on restart.
 * Sleeps until the earliest of: next due run, lease renewal, `maxIntervalMs`.
 */
import type { Logger } from 'pino';
import type { App } from '../core/app.js';
import type { TimerHandle } from '../core/clock.js';
import { buildTaskMessage } from '../core/producer.js';
import { sendMessages } from '../core/send.js';
import type { EntryRunState } from '../core/spi/beat-store.js';
import { CeleriacError, ErrorCodes, coerceError } from '../errors.js';
import { isoformatUtc } from '../protocol/time.js';
import { resolveBeatOptions, type BeatOptions, type ResolvedBeatOptions } from './beat-options.js';
import { mergeEntries, type CompiledEntry } from './compile-entries.js';
import { Leadership } from './leadership.js';
import { nextDue } from './next-due.js';
import { describeSchedule } from './schedules.js';

/** Lifecycle of a {@link Beat}. */
export type BeatState = 'idle' | 'running' | 'closing' | 'closed';

/** Header on every message beat sends: which entry and which scheduled time it stands for. */
export const BEAT_HEADER = 'celeriac_beat';

/** Options of {@link Beat.close}. */
export interface BeatCloseOptions {
  /** Longest wait for a tick in progress, ms. @default 5000 */
  deadlineMs?: number;
}

/** Delay before retrying after a failed tick (store unreachable...), ms. */
const RETRY_MS = 1000;

/** A beat scheduler: `start()`, then `close()` (SIGTERM in `celeriac beat`). */
export class Beat {
  /** The resolved options. */
  readonly options: ResolvedBeatOptions;
  /** Logger (child of the app's, with `beat: holder`). */
  readonly log: Logger;
  #state: BeatState = 'idle';
  readonly #leadership: Leadership;
  #entries = new Map<string, CompiledEntry>();
  #states: Map<string, EntryRunState> | undefined;
  #version = -1;
  #timer: TimerHandle | undefined;
  #ticking: Promise<number> | undefined;
  /**
   * True while a tick sends or records entries' runs, which close() lets end (at most
   * `deadlineMs`). A tick still checking the lease or reading state is not waited for: with the
   * broker down it waits for the connection, and every stop took the whole deadline.
   */
  #sending = false;
  /** Said once per spell of following, so a standby beat's log shows why it sends nothing. */
  #saidStandby = false;
  #refuse: (error: CeleriacError) => void = () => undefined;
  /**
   * Settles with the error when the broker or the beat store refuses beat's configuration (a
   * wrong password, a missing permission: CELERIAC_ERR_CONFIG), which no retry mends; beat then
   * sends nothing more. Never settles otherwise. `celeriac beat` exits 78 on it, as the other
   * commands do, where it retried every second for ever.
   */
  readonly refused: Promise<CeleriacError> = new Promise((resolve) => (this.#refuse = resolve));

  constructor(
    private readonly app: App,
    options: BeatOptions = {},
  ) {
    this.options = resolveBeatOptions(app, options);
    this.log = app.log.child({ beat: this.options.holder });
    this.#leadership = new Leadership(this.options.store, app.clock, this.options.holder, this.options.leaseTtlMs);
    this.#entries = new Map(this.options.statics);
  }

  /** 'idle' until started, 'running', then 'closing' and 'closed'. */
  get state(): BeatState {
    return this.#state;
  }

  /** True while this instance holds the lease. */
  get isLeader(): boolean {
    return this.#leadership.token !== null;
  }

  /** The entries as last loaded (static merged with dynamic). */
  get entries(): ReadonlyMap<string, CompiledEntry> {
    return this.#entries;
  }

  /** True once close() was called. */
  get #stopping(): boolean {
    return this.#state === 'closing' || this.#state === 'closed';
  }

  /** Starts the loop (the first tick runs at once). */
  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new CeleriacError(ErrorCodes.STATE, `Beat.start: beat is ${this.#state}`);
    this.#state = 'running';
    await this.app.signals.emit('beatInit', { hostname: this.options.holder });
    for (const e of this.#entries.values()) this.log.info({ entry: e.name, task: e.task, schedule: describeSchedule(e.schedule) }, 'beat entry');
    this.#arm(0);
  }

  /**
   * Stops the loop, waits for a tick that is sending (at most `deadlineMs`) and releases the
   * lease (waiting as long at most) so another beat takes over at once; a tick still taking the lease gives it back
   * when it gets it, sending nothing. Does not close the app. Idempotent.
   */
  async close(options: BeatCloseOptions = {}): Promise<void> {
    if (this.#state === 'closed' || this.#state === 'closing') return;
    this.#state = 'closing';
    if (this.#timer !== undefined) this.app.clock.clearTimer(this.#timer);
    this.#timer = undefined;
    // A broker or lease store known to be down ends nothing in time: not waited for (as a
    // worker's shutdown). The store may have a connection of its own (Redis), the only one a
    // beat with nothing due yet has opened.
    const offline = this.app.broker.offline?.() === true || this.options.store.offline?.() === true;
    const deadline = offline ? 0 : (options.deadlineMs ?? 5000);
    const late = () => new Promise<false>((r) => setTimeout(() => r(false), deadline).unref());
    if (this.#ticking !== undefined && this.#sending) await Promise.race([this.#ticking.catch(() => 0), late()]);
    // Bounded too: a broker that hangs held the stop until its command timeout.
    let gaveUp = false;
    const released = this.#leadership.release().then(
      () => true,
      (error: unknown) => {
        if (!gaveUp) this.log.warn({ err: coerceError(error) }, 'beat: releasing the lease failed; it expires by itself');
        return true;
      },
    );
    if (!(await Promise.race([released, late()]))) {
      gaveUp = true;
      this.log.warn({ deadlineMs: deadline }, 'beat: could not release the lease in time (the broker is down or slow); it expires by itself');
    }
    this.#state = 'closed';
    this.log.info('beat stopped');
  }

  /**
   * One pass of the loop: lead or follow, then send what is due. Returns ms until the next
   * pass. The loop calls it; tests with a FakeClock may call it directly.
   */
  tick(): Promise<number> {
    this.#ticking ??= this.#tick().finally(() => (this.#ticking = undefined));
    return this.#ticking;
  }

  #arm(ms: number): void {
    if (this.#state !== 'running') return;
    this.#timer = this.app.clock.setTimer(() => {
      this.#timer = undefined;
      void this.tick().then((next) => this.#arm(next));
    }, ms);
  }

  async #tick(): Promise<number> {
    const max = this.options.maxIntervalMs;
    try {
      const lead = await this.#leadership.check();
      if (this.#stopping) {
        // Closed while the lease was being taken: give it back (else it expires), send nothing.
        await this.#leadership.release().catch(() => undefined);
        return max;
      }
      if (lead.token === null) {
        if (!this.#saidStandby) {
          this.#saidStandby = true;
          this.log.info({ leaseTtlSec: this.options.leaseTtlMs / 1000 }, `beat: standing by: another beat holds the lease and sends; this one takes over within ${this.options.leaseTtlMs / 1000} s if that one stops`);
        }
        return Math.max(1, Math.min(lead.nextCheckAt - this.app.clock.now(), max));
      }
      if (lead.gained) {
        this.#saidStandby = false;
        this.log.info('beat: this process leads now (lease acquired)');
        this.#states = undefined;
      }
      this.#states ??= await this.options.store.states();
      await this.#syncEntries();
      let next = Math.min(lead.nextCheckAt, this.app.clock.now() + max);
      this.#sending = true;
      try {
        for (const entry of this.#entries.values()) {
          if (entry.paused) continue;
          const token = this.#leadership.token;
          if (token === null) break;
          next = Math.min(next, await this.#runEntry(entry, token));
        }
      } finally {
        this.#sending = false;
      }
      return Math.max(0, Math.min(next - this.app.clock.now(), max));
    } catch (error) {
      // Unknown outcome (a publish may have happened): re-read the run state before sending again.
      this.#states = undefined;
      // A tick that close() left (the broker down) fails once the app closes: no news then.
      if (this.#stopping) return max;
      if (error instanceof CeleriacError && error.code === ErrorCodes.CONFIG) {
        this.log.error({ err: error }, 'beat: the broker or the beat store refuses this configuration; sending nothing more');
        this.#state = 'closing';
        this.#refuse(error);
        return max;
      }
      this.log.error({ err: coerceError(error) }, 'beat tick failed; retrying');
      return Math.min(RETRY_MS, max);
    }
  }

  async #syncEntries(): Promise<void> {
    const store = this.options.store;
    if ((await store.version()) === this.#version) return;
    const stored = await store.entries();
    const grace = { misfireGraceSec: this.options.misfireGraceSec };
    this.#entries = mergeEntries(this.options.statics, stored, grace, (name, err) => this.log.error({ entry: name, err }, 'beat: ignoring a stored entry that cannot be read'));
    if (this.#version !== -1) this.log.info({ version: stored.version, entries: this.#entries.size }, 'beat: entries changed');
    this.#version = stored.version;
  }

  /** Sends (or skips) the entry if due; returns when to look at it again. */
  async #runEntry(entry: CompiledEntry, token: string): Promise<number> {
    const store = this.options.store;
    const states = this.#states as Map<string, EntryRunState>;
    const now = this.app.clock.now();
    let state = states.get(entry.name);
    if (state === undefined) {
      // First sight: count from now, as Celery's fresh entries do, and remember it.
      state = { lastRunAt: now, totalRunCount: 0 };
      if (!(await store.record(token, entry.name, state))) return this.#lost(now);
      states.set(entry.name, state);
    }
    const due = nextDue(entry.schedule, state.lastRunAt, now, { timezone: entry.timezone ?? this.options.timezone });
    if (!due.due) return due.nextAt;
    const late = now - due.slot;
    if (entry.misfire === 'skip' && late > entry.misfireGraceMs) {
      const skipped = { lastRunAt: due.slot, totalRunCount: state.totalRunCount };
      if (!(await store.record(token, entry.name, skipped))) return this.#lost(now);
      states.set(entry.name, skipped);
      this.log.warn({ entry: entry.name, slot: isoformatUtc(due.slot), lateMs: late }, 'beat: skipped a missed run (misfire: skip)');
      return due.nextAt;
    }
    const sent = { lastRunAt: due.slot, totalRunCount: state.totalRunCount + 1 };
    if (!(await this.#send(entry, due.slot, sent, token))) return this.#lost(now);
    states.set(entry.name, sent);
    if (due.firstMissed < due.slot || late > entry.misfireGraceMs) {
      this.log.warn({ entry: entry.name, since: isoformatUtc(due.firstMissed), lateMs: late }, 'beat: missed runs caught up with one run');
    }
    return due.nextAt;
  }

  /** Publishes one run, fenced by the lease; false when the lease was lost. */
  async #send(entry: CompiledEntry, slot: number, state: EntryRunState, token: string): Promise<boolean> {
    const headers = { ...(entry.options.headers ?? {}), [BEAT_HEADER]: { entry: entry.name, slot: isoformatUtc(slot) } };
    const out = buildTaskMessage(this.app, entry.task, entry.args, entry.kwargs, { ...entry.options, headers });
    const fence = this.options.store.fence(token, entry.name, state);
    try {
      await sendMessages(this.app, [out], { what: `send beat entry ${entry.name} (${entry.task})`, calls: [entry.options], fence });
    } catch (error) {
      if (error instanceof CeleriacError && error.code === ErrorCodes.FENCED) return false;
      throw error;
    }
    const id = out.message.headers.id;
    this.log.info({ entry: entry.name, task: entry.task, taskId: id, slot: isoformatUtc(slot), runCount: state.totalRunCount }, 'beat: sent due task');
    return true;
  }

  #lost(now: number): number {
    this.#leadership.lost();
    // This line says it; the next follow pass need not say it again.
    this.#saidStandby = true;
    this.log.warn('beat: lost the lease to another beat; following');
    return now;
  }
}
