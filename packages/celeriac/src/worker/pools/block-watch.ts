/**
 * @module worker/pools/block-watch
 * Event-loop blocking in the `async` and `solo` pools. Their task bodies run on the worker's
 * own event loop, so a CPU-bound body stops everything else the worker does: fetching, acks,
 * heartbeats, pings, events, other tasks. The watch measures it two ways and warns once per
 * block, naming the task and the pools made for such work:
 * - the synchronous part of each body is timed around its call (exact: a plain function
 *   that computes for seconds is named for sure);
 * - a body that blocks after an `await` (in a continuation) is named by its async context:
 *   while such bodies run, an async hook reads the time after each callback, and one that
 *   ended more than the threshold after the previous one ran that long (the ticker's own
 *   callbacks keep idle gaps shorter); its task is the `async` task function's context
 *   (core/current-task.ts). The hook costs a call per callback, so it is on only while some
 *   body awaits (none for plain functions);
 * - a ticker notices a later stall and names that task, or, when no task's context ran it
 *   (a plain function's `.then` callback), the tasks that were running then, the culprit
 *   among them.
 * Time is the monotonic `performance.now()`, never the worker's (possibly fake) clock: a
 * block is real time the loop did not turn.
 */
import { createHook } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { currentTask } from '../../core/current-task.js';
import { LinkedSet, type Link } from '../../core/linked-set.js';

/** One running task, as the warning names it (a job: the watch allocates nothing per task). */
export interface WatchedRun {
  readonly message: { readonly headers: { readonly task: string; readonly id: string } };
}

/**
 * Tracked runs started since the last tick that the ticker keeps for naming, at most: the
 * culprit of a stall is among the runs active at the last tick, or among the last ones started
 * (a run that ended before the tick is not active any more). Bounded so
 * that a busy worker does not keep thousands of ended runs alive between ticks (a quarter of a
 * second at tens of thousands of tasks a second), which the garbage collector then copies.
 */
const RECENT = 64;

/** How the watch reads time and ticks (injected by tests). */
export interface BlockWatchTimers {
  now(): number;
  every(ms: number, fn: () => void): () => void;
}

const realTimers: BlockWatchTimers = {
  now: () => performance.now(),
  every: (ms, fn) => {
    const handle = setInterval(fn, ms);
    handle.unref();
    return () => clearInterval(handle);
  },
};

const label = (r: WatchedRun): string => `${r.message.headers.task}[${r.message.headers.id}]`;

/** Warns when a task blocks the event loop longer than `thresholdMs`. */
export class BlockWatch {
  /** Bodies that went on past their synchronous part (a linked set: see core/linked-set.ts). */
  private readonly active = new LinkedSet<WatchedRun>();
  /** The last {@link RECENT} runs started since the last tick (a run that started and ended inside a block is among them), a ring. */
  private readonly recent: (WatchedRun | undefined)[] = new Array<WatchedRun | undefined>(RECENT).fill(undefined);
  private started = 0;
  /** Runs active at the last tick. */
  private atLastTick: WatchedRun[] = [];
  private lastTick: number;
  /** Time up to which blocking was already reported (by the timed call), so the ticker does not repeat it. */
  private reportedUntil = Number.NEGATIVE_INFINITY;
  private stopTicker: (() => void) | null = null;
  private readonly tickMs: number;
  /** When the last async callback ended (the hook's clock). */
  private callbackEnded = 0;
  /** The task whose callback last ran past the threshold, and when that callback ended. */
  private culprit: { readonly run: WatchedRun; readonly at: number } | null = null;
  /** Times callbacks while bodies await (see the module notes); enabled by {@link track}. */
  private readonly hook = createHook({ after: () => this.callbackDone() });
  private hooked = false;

  constructor(
    private readonly thresholdMs: number,
    private readonly poolKind: 'async' | 'solo',
    private readonly log: Logger,
    private readonly timers: BlockWatchTimers = realTimers,
  ) {
    this.tickMs = Math.max(10, Math.min(250, thresholdMs / 4));
    this.lastTick = timers.now();
  }

  /** Starts the ticker (idempotent). */
  start(): void {
    if (this.stopTicker !== null) return;
    this.lastTick = this.timers.now();
    this.stopTicker = this.timers.every(this.tickMs, () => this.tick());
  }

  /** Stops the ticker. */
  stop(): void {
    this.stopTicker?.();
    this.stopTicker = null;
    this.unhook();
  }

  private callbackDone(): void {
    const now = this.timers.now();
    if (now - this.callbackEnded > this.thresholdMs) {
      const request = currentTask();
      if (request !== undefined) this.culprit = { run: { message: { headers: { task: request.task, id: request.id } } }, at: now };
    }
    this.callbackEnded = now;
  }

  private unhook(): void {
    if (this.hooked) this.hook.disable();
    this.hooked = false;
  }

  /**
   * The synchronous part of a body starts now; returns the time to give {@link returned}.
   * Touches no collection: a body that ends synchronously (most) is timed, never tracked.
   */
  begin(): number {
    return this.timers.now();
  }

  /** The synchronous part of `run`'s body, begun at `start`, returned or threw: warns when it took too long. */
  returned(run: WatchedRun, start: number): void {
    const end = this.timers.now();
    if (end - start > this.thresholdMs) {
      this.reportedUntil = end;
      this.warn(end - start, [run]);
    }
  }

  /** {@link begin}, `body`, then {@link returned}. */
  call<T>(run: WatchedRun, body: () => T): T {
    const start = this.begin();
    try {
      return body();
    } finally {
      this.returned(run, start);
    }
  }

  /**
   * `run`'s body goes on after its synchronous part (it awaits): a stall the ticker notices
   * from now on may be its doing, until {@link ended} with the returned link. A stall inside
   * the synchronous part is {@link returned}'s to report.
   */
  track(run: WatchedRun): Link<WatchedRun> {
    if (!this.hooked && this.stopTicker !== null) {
      this.callbackEnded = this.timers.now();
      this.hook.enable();
      this.hooked = true;
    }
    this.recent[this.started++ % RECENT] = run;
    return this.active.add(run);
  }

  /** The tracked run ended. */
  ended(link: Link<WatchedRun>): void {
    this.active.delete(link);
  }

  private tick(): void {
    const now = this.timers.now();
    // The gap beyond the tick period is time the loop did not turn.
    const stalled = now - this.lastTick - this.tickMs;
    const since = this.lastTick;
    this.lastTick = now;
    const culprit = this.culprit !== null && this.culprit.at > since ? this.culprit.run : null;
    this.culprit = null;
    if (stalled > this.thresholdMs && this.reportedUntil < since) {
      const recent = this.recent.slice(0, Math.min(this.started, RECENT)) as WatchedRun[];
      const suspects = culprit === null ? [...new Set([...this.atLastTick, ...recent])] : [culprit];
      if (suspects.length > 0) this.warn(stalled, suspects);
    }
    this.atLastTick = this.active.values();
    if (this.atLastTick.length === 0) this.unhook();
    this.recent.fill(undefined);
    this.started = 0;
  }

  private warn(ms: number, runs: readonly WatchedRun[]): void {
    const who = runs.length === 1 ? `Task ${label(runs[0]!)}` : `One of the tasks ${runs.map(label).join(', ')}`;
    this.log.warn(
      { taskIds: runs.map((r) => r.message.headers.id), taskNames: [...new Set(runs.map((r) => r.message.headers.task))], blockedMs: Math.round(ms) },
      `${who} blocked the event loop for ${(ms / 1000).toFixed(2)}s: the ${this.poolKind} pool runs task bodies on the worker's own ` +
        `event loop, which meanwhile fetches nothing and answers no ping or heartbeat. Run CPU-bound tasks with -P threads or -P prefork.`,
    );
  }
}
