/**
 * @module worker/worker
 * The worker: consumes queues, runs tasks in its pool, and shuts down warm (stop fetching,
 * give back prefetched messages, let running tasks finish within a deadline) or cold.
 */
import type { Logger } from 'pino';
import { threadId } from 'node:worker_threads';
import type { App } from '../core/app.js';
import type { Consumer, Delivery, LostDelivery } from '../core/spi/broker.js';
import { revocationStoreOf } from '../core/spi/roles.js';
import { CeleriacError, ErrorCodes, loggableError } from '../errors.js';
import { Autoscaler, type AutoscaleRange } from './autoscaler.js';
import { LostTaskReporter } from './lost-tasks.js';
import { lostTaskWatchFor, type LostTaskWatch } from './lost-task-watch.js';
import { Executor } from './executor.js';
import { assertClusterLimitsSupported, RateLimits } from './rate-limit.js';
import { RevokedSet, RevokeSync } from './revoked.js';
import { revokeInWorker, type WorkerRevokeOptions, type WorkerRevokeResult } from './worker-revoke.js';
import type { RateLimit } from '../core/rate.js';
import { createPool } from './pools/create-pool.js';
import { TimeLimitTable, type TimeLimitOverride } from './pools/time-limit-table.js';
import type { TaskPool, TimeLimits } from './pools/types.js';
import { taskMetrics } from './task-metrics.js';
import { TaskEventHub, type TaskEvent, type TaskEventListener } from './task-events.js';
import { WorkerRemote } from './control/worker-remote.js';
import { resolveWorkerOptions, type ResolvedWorkerOptions, type WorkerOptions } from './worker-options.js';
import { connectOnStartup } from './startup-connect.js';
import { SHUTDOWN_STEP_MS, ShutdownBudget } from './shutdown-budget.js';
import { OutageLog } from './outage-log.js';
import { failureState } from '../core/failure-state.js';

/**
 * Lifecycle of a worker:
 * - `idle`: created, not started;
 * - `starting`: connecting and declaring queues;
 * - `running`: consuming;
 * - `draining`: warm shutdown: not fetching, waiting for running tasks;
 * - `closed`: stopped; cannot be restarted.
 */
/** A task a worker holds: see {@link Worker.held}. */
export interface HeldTask {
  readonly id: string;
  readonly name: string;
  /** Running, or received and waiting for a slot. */
  readonly state: 'active' | 'reserved';
  /** Epoch ms when it started running; null while reserved. */
  readonly startedAt: number | null;
}

export type WorkerState = 'idle' | 'starting' | 'running' | 'draining' | 'closed';

/** Options of {@link Worker.close}. */
export interface CloseOptions {
  /** Milliseconds to wait for running tasks; then they are abandoned. @default the resolved `shutdownTimeoutSec`, in ms */
  deadlineMs?: number;
}

/** Runs tasks from one or more queues. */
export class Worker {
  readonly options: ResolvedWorkerOptions;
  readonly log: Logger;
  /** The execution pool (`-P`): resize it with `pool.resize(n)`; `pool.stats()` for figures. */
  readonly pool: TaskPool;
  private readonly timeLimits: TimeLimitTable;
  private readonly executor: Executor;
  /** Ends the early-acked tasks of dead workers that the broker finds (lost-tasks.ts). */
  private readonly lostTasks: LostTaskReporter;
  /** Records early-acked tasks in the result backend when the broker keeps no record (RabbitMQ). */
  private lostWatch: LostTaskWatch | undefined;
  private consumer: Consumer | null = null;
  /** The consumer's failures, logged once per change of state. */
  private readonly outages: OutageLog;
  /** Resizes the pool with the load (`--autoscale`, or the `autoscale` control command). */
  private autoscaler: Autoscaler | null = null;
  /** Reports a task event listener that threw (made once: events are emitted for every task). */
  private readonly reportListenerError = (err: unknown, event: TaskEvent): void => {
    this.log.error({ err: loggableError(err), event: event.type }, 'task event listener threw');
  };
  /** Deliveries that arrived while the consumer was closing. */
  private readonly late: Delivery[] = [];
  private readonly processed = new Map<string, number>();
  private readonly taskEvents = new TaskEventHub();
  private readonly revokedSet: RevokedSet;
  private readonly revokeSync: RevokeSync;
  private readonly rateLimits: RateLimits;
  private stateValue: WorkerState = 'idle';
  private closing: Promise<void> | null = null;
  /** Aborted by close()/terminate(): a start still waiting for the broker gives up quietly. */
  private readonly startAbort = new AbortController();
  /** Bounds every wait of a shutdown (shutdown-budget.ts). */
  private readonly budget: ShutdownBudget;
  /** Events and remote control (worker/control/worker-remote.ts). */
  readonly remote: WorkerRemote;
  private markStopped!: () => void;
  /** Resolves once the worker has closed, whoever closed it (a signal, `shutdown` control). */
  readonly stopped = new Promise<void>((resolve) => (this.markStopped = resolve));

  constructor(readonly app: App, options: WorkerOptions = {}) {
    this.options = resolveWorkerOptions(options, app.settings);
    this.log = app.log.child({ worker: this.options.hostname });
    this.outages = new OutageLog(this.log);
    this.budget = new ShutdownBudget(this.log, () => this.app.broker.offline?.() === true || this.app.backend.offline?.() === true);
    this.pool = createPool(this.options, app, this.log);
    this.timeLimits = new TimeLimitTable({ hard: this.options.timeLimitSec, soft: this.options.softTimeLimitSec });
    this.revokedSet = new RevokedSet(app.clock);
    // No store (rpc://): revokes reach this worker by remote control only (core/spi/roles.ts).
    const revocations = revocationStoreOf(app.backend);
    this.revokeSync = new RevokeSync({
      backend: app.backend,
      clock: app.clock,
      log: this.log,
      set: this.revokedSet,
      onNotice: (notice) => {
        if (notice.terminate) void this.revoke(notice.ids, { terminate: true, signal: notice.signal ?? undefined, persist: false });
      },
    });
    this.rateLimits = new RateLimits({ clock: app.clock, backend: app.backend, defaultLimit: app.settings.taskDefaultRateLimit });
    this.executor = new Executor({
      app,
      hostname: this.options.hostname,
      pool: this.pool,
      timeLimits: this.timeLimits,
      log: this.log,
      countProcessed: (name) => this.processed.set(name, (this.processed.get(name) ?? 0) + 1),
      accepting: () => this.stateValue === 'running',
      emit: (event) => this.taskEvents.emit(event, this.reportListenerError),
      isRevoked: (id) =>
        this.revokedSet.has(id) || (!this.revokeSync.live && revocations !== undefined && revocations.revoked([id]).then((ids) => ids.has(id))),
      rememberRevoked: (id) => this.revokedSet.add([id], app.revokeExpiresSec * 1000),
      throttle: (task) => this.rateLimits.acquire(task),
      markRunning: (delivery) => this.lostWatch?.record(delivery) ?? null,
    });
    this.lostTasks = new LostTaskReporter({ app, hostname: this.options.hostname, log: this.log, emit: (event) => this.taskEvents.emit(event, this.reportListenerError) });
    this.remote = new WorkerRemote({
      app, hostname: this.options.hostname, log: this.log, pool: this.pool, queues: this.options.queues,
      prefetchMultiplier: this.options.prefetchMultiplier, sendTaskEvents: this.options.sendTaskEvents,
      remoteControl: app.settings.workerEnableRemoteControl, jobs: () => this.executor.jobs(), consumer: () => this.consumer,
      totals: () => this.processed, active: () => this.active, close: () => void this.close(),
      revoke: (ids, options) => this.revoke(ids, options),
      revokedIds: () => this.revokedIds(),
      mergeRevoked: (ids) => this.revokedSet.add(ids, app.revokeExpiresSec * 1000),
      setRateLimit: (name, limit) => void this.setRateLimit(name, limit),
      setTimeLimit: (name, limits) => this.setTimeLimit(name, limits),
      prefetchSlots: () => this.autoscaler?.range.max ?? this.pool.size,
      autoscaleRange: () => this.autoscaler?.range ?? null,
      setAutoscale: (range) => this.setAutoscale(range),
    });
    if (this.options.autoscale !== null) this.autoscaler = this.makeAutoscaler(this.options.autoscale);
    this.taskEvents.on((event) => this.remote.onTaskEvent(event));
    // With a MeterProvider registered: task counts and runtimes through OpenTelemetry.
    const counting = taskMetrics(this.options.hostname);
    if (counting !== undefined) this.taskEvents.on(counting);
  }

  /**
   * Listens to what happens to tasks in this worker (received, started, succeeded, failed,
   * retried, revoked, rejected). Returns a function that stops listening.
   */
  onTaskEvent(listener: TaskEventListener): () => void {
    return this.taskEvents.on(listener);
  }

  /**
   * Revokes task ids in this worker (what the pidbox `revoke` command calls): they are
   * skipped when received or before they start, and with `terminate` a running one is
   * stopped. With `persist` (default) the revoke is also stored in the backend, so workers
   * started later skip the ids too, and announced to the other running workers.
   */
  revoke(ids: string | readonly string[], options: WorkerRevokeOptions = {}): Promise<WorkerRevokeResult> {
    return revokeInWorker(
      { app: this.app, set: this.revokedSet, terminate: (ids, signal) => this.executor.terminate(ids, signal), log: this.log },
      typeof ids === 'string' ? [ids] : [...ids],
      options,
    );
  }

  /** Ids this worker holds as revoked now (what `inspect revoked` lists). */
  revokedIds(): string[] {
    return this.revokedSet.ids();
  }

  /**
   * Sets a task's per-worker rate limit from now on (Celery's `rate_limit` control command);
   * null goes back to the task's own option. Returns tasks per second now in force (0 = none).
   * @throws CeleriacError NOT_REGISTERED for an unknown task, INVALID_ARGUMENT for a bad limit.
   */
  setRateLimit(taskName: string, limit: RateLimit | null): number {
    const task = this.app.lookup(taskName);
    if (task === undefined) throw new CeleriacError(ErrorCodes.NOT_REGISTERED, `unknown task ${JSON.stringify(taskName)}`);
    return this.rateLimits.set(task, limit);
  }

  /** The run-time time limits set for `taskName` by {@link Worker.setTimeLimit}, if any. */
  timeLimitOverride(taskName: string): TimeLimits | undefined {
    return this.timeLimits.get(taskName);
  }

  /** Tasks per second this worker allows for `taskName` now (0 = no limit). */
  rateLimitOf(taskName: string): number {
    const task = this.app.lookup(taskName);
    if (task === undefined) throw new CeleriacError(ErrorCodes.NOT_REGISTERED, `unknown task ${JSON.stringify(taskName)}`);
    return this.rateLimits.rateOf(task);
  }

  /**
   * Sets the hard and soft time limits (seconds) of a task for runs that start from now on,
   * as Celery's `time_limit` control command: they replace the task's own options, and a
   * message's `timelimit` header still wins. `null` removes the override. Throws
   * `CELERIAC_ERR_NOT_REGISTERED` for a task this worker does not know.
   */
  setTimeLimit(taskName: string, limits: TimeLimitOverride | null): void {
    if (this.app.lookup(taskName) === undefined) throw new CeleriacError(ErrorCodes.NOT_REGISTERED, `unknown task ${JSON.stringify(taskName)}`);
    this.timeLimits.set(taskName, limits);
  }

  /** Current lifecycle state. */
  get state(): WorkerState {
    return this.stateValue;
  }

  /** Node name, e.g. `celery@host`. */
  get hostname(): string {
    return this.options.hostname;
  }

  /** Most unacknowledged messages held at once (0 = unlimited): per slot of the pool, or of the autoscale max. */
  get prefetchCount(): number {
    return (this.autoscaler?.range.max ?? this.pool.size) * this.options.prefetchMultiplier;
  }

  /** The autoscale range in force; null when the pool keeps its size. */
  get autoscale(): AutoscaleRange | null {
    return this.autoscaler?.range ?? null;
  }

  /**
   * Autoscales the pool between `range.min` and `range.max` slots from now on (Celery's
   * `autoscale` control command), starting to if the worker was started without `--autoscale`.
   */
  setAutoscale(range: AutoscaleRange): AutoscaleRange {
    if (this.pool.kind === 'solo') throw new CeleriacError(ErrorCodes.STATE, 'the solo pool runs one task at a time and cannot autoscale');
    if (this.autoscaler === null) {
      this.autoscaler = this.makeAutoscaler(range);
      if (this.stateValue === 'running') this.autoscaler.start();
    }
    return this.autoscaler.update(range);
  }

  private makeAutoscaler(range: AutoscaleRange): Autoscaler {
    return new Autoscaler(
      {
        size: () => this.pool.size,
        held: () => this.executor.jobs().length,
        resize: (size) => this.pool.resize(size),
        setPrefetchSlots: (slots) => this.consumer?.setPrefetch(slots * this.options.prefetchMultiplier),
        clock: this.app.clock,
        log: this.log,
      },
      range,
    );
  }

  /** Finished tasks per name since start. */
  get totals(): ReadonlyMap<string, number> {
    return this.processed;
  }

  /** Tasks running now. */
  get active(): number {
    return this.executor.jobs().filter((j) => j.state === 'active').length;
  }

  /** Tasks received and waiting for a slot. */
  get reserved(): number {
    return this.executor.jobs().filter((j) => j.state === 'reserved').length;
  }

  /**
   * The tasks this worker holds now, running ones first (what `celery inspect active` and
   * `reserved` list): id, name, state, and since when a running one runs (epoch ms).
   */
  held(): HeldTask[] {
    const jobs = this.executor.jobs().map((j): HeldTask => ({ id: j.message.headers.id, name: j.message.headers.task, state: j.state, startedAt: j.startedAt }));
    return [...jobs.filter((j) => j.state === 'active'), ...jobs.filter((j) => j.state === 'reserved')];
  }

  /** Connects, declares the queues and starts consuming. */
  async start(): Promise<void> {
    if (this.stateValue !== 'idle') throw new CeleriacError(ErrorCodes.STATE, `worker cannot start from state ${this.stateValue}`);
    assertClusterLimitsSupported(this.app.tasks.values(), this.app.backend);
    this.stateValue = 'starting';
    const signals = this.app.signals;
    await signals.emit('workerInit', { hostname: this.options.hostname });
    try {
      await this.pool.start();
    } catch (err) {
      this.stateValue = 'closed';
      throw err;
    }
    // close() was called while the pool's children loaded the app: it ended them.
    if (this.stateValue !== 'starting') return;
    // The Redis lease keeper thread boots on the other core while this one connects,
    // declares, subscribes and takes its first tasks. Nothing waits for it: until it runs, the
    // broker renews leases on this loop, and a thread that starts while a task blocks the loop
    // finds the deliveries fetched before it in Redis and keeps them (brokers/redis/
    // lease-keeper.ts). Waiting made every start, and the first task, a thread's start-up later.
    void this.app.broker.prepareConsume?.();
    // The async and solo pools run bodies here: this process is their one "pool process".
    if (this.pool.kind === 'async' || this.pool.kind === 'solo') await signals.emit('workerProcessInit', { pid: process.pid, threadId });
    const { broker, backend } = this.app;
    // Declaring is part of the wait: a Redis that accepts connections while it loads its
    // dataset (LOADING), or a replica (READONLY), refuses the first write.
    const declare = async () => {
      await broker.connect();
      for (const queue of this.options.queues) await broker.declareQueue(queue);
    };
    if (!(await this.connectOnStartup('broker', this.app.brokerUrl, declare, () => broker.connectProblem?.() ?? null))) return;
    if (!(await this.connectOnStartup('result backend', this.app.backendUrl, () => backend.connect(), () => backend.connectProblem?.() ?? null))) return;
    for (const warning of (await broker.serverWarnings?.()) ?? []) this.log.warn({ check: 'broker-server' }, warning);
    for (const warning of (await backend.serverWarnings?.()) ?? []) this.log.warn({ check: 'backend-server' }, warning);
    // Revokes known before the first message is taken, then kept current by notices.
    await this.revokeSync.start();
    // close() was called while connecting: it already finished with no consumer to stop.
    if (this.stateValue !== 'starting') return;
    // Mailbox and worker-online before the first task, so monitors see every task event.
    await this.remote.start();
    if (this.stateValue !== 'starting') return;
    const report = (lost: readonly LostDelivery[]) => this.lostTasks.report(lost);
    const earlyAcks = [...this.app.tasks.values()].some((t) => !(t.options.acksLate ?? this.app.settings.taskAcksLate));
    this.lostWatch = lostTaskWatchFor(broker, backend, { hostname: this.hostname, graceMs: this.options.lostTaskGraceMs, log: this.log, report, earlyAcks });
    this.lostWatch?.start();
    this.consumer = broker.consume({
      queues: this.options.queues,
      prefetch: this.prefetchCount,
      onDelivery: (delivery) => this.onDelivery(delivery),
      onError: (err, retry) => this.outages.failed(failureState(err), err.message, retry),
      onRecovered: () => this.outages.recovered(),
      onLost: (lost) => void report(lost),
    });
    this.stateValue = 'running';
    this.autoscaler?.start();
    this.log.info({ queues: this.options.queues }, `${this.hostname} ready.`);
    await signals.emit('workerReady', { hostname: this.options.hostname });
  }

  /** Connects with Celery's retry on startup; false when the worker was closed meanwhile. */
  private async connectOnStartup(what: string, url: string, connect: () => Promise<void>, problem?: () => string | null): Promise<boolean> {
    return connectOnStartup(connect, {
      ...(problem === undefined ? {} : { problem }),
      what,
      url,
      retry: this.app.settings.brokerConnectionRetryOnStartup,
      maxRetries: this.app.settings.brokerConnectionMaxRetries,
      intervals: this.app.settings.brokerConnectionRetryIntervals,
      signal: this.startAbort.signal,
      log: this.log,
    });
  }

  private onDelivery(delivery: Delivery): void {
    if (this.stateValue === 'draining' && this.consumer !== null) {
      // Raced the close: hold it until the consumer is closed (see shutdown).
      this.late.push(delivery);
      return;
    }
    if (this.stateValue !== 'running') {
      // Arrived after fetching stopped: it was never ours to run.
      this.executor.refuse(delivery);
      return;
    }
    void this.executor.handle(delivery);
  }


  /**
   * Warm shutdown: stop fetching, give back messages that have not started, wait up to the
   * deadline for running tasks, then abandon what is left (late-ack messages go back to
   * their queue). Idempotent: a second call returns the same promise.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.startAbort.abort();
    if (this.stateValue === 'idle') {
      this.stateValue = 'closed';
      this.closing = Promise.resolve();
      this.markStopped();
    }
    this.closing ??= this.shutdown(options.deadlineMs ?? this.options.shutdownTimeoutMs);
    return this.closing;
  }

  /**
   * Cold shutdown: abandon running tasks now. Safe during or without a warm shutdown: one in
   * progress stops waiting at once. The remaining steps (closing the consumer, settling,
   * closing the pool) then get {@link COLD_STEP_MS} at most together, whatever the broker does.
   */
  async terminate(): Promise<void> {
    this.budget.goCold();
    this.startAbort.abort();
    this.executor.abandonAll();
    await this.close({ deadlineMs: 0 });
  }

  private async shutdown(deadlineMs: number): Promise<void> {
    // Running tasks get `deadlineMs` from now: closing the consumer runs in that time, not before it.
    const tasksUntil = performance.now() + deadlineMs;
    this.stateValue = 'draining';
    this.autoscaler?.stop();
    // A cold shutdown (SIGQUIT, a second signal, terminate()) comes here too, its tasks abandoned already.
    this.log.info({ running: this.active, reserved: this.reserved }, `${this.budget.cold ? 'cold' : 'warm'} shutdown: no longer fetching`);
    await this.budget.bounded(this.consumer?.close(), 'the consumer to close', 'step');
    this.consumer = null;
    // Deliveries that raced the close are given back only now: given back while the consumer
    // was still open, they could be fetched again, over and over.
    for (const delivery of this.late.splice(0)) this.executor.refuse(delivery);
    this.pool.cancelWaiters();
    this.rateLimits.cancelWaiters();
    if (!(await this.budget.bounded(this.executor.whenIdle(), 'running tasks', Math.max(0, tasksUntil - performance.now())))) {
      this.log.warn({ running: this.active }, 'shutdown deadline passed: abandoning running tasks');
      this.executor.abandonAll();
      // Abandoned tasks store their ends and settle their messages: with the broker or the
      // backend down that never ends, and their messages stay held (recovered by lease).
      await this.budget.bounded(this.executor.whenIdle(), 'abandoned tasks to settle', 'step');
    }
    await this.budget.bounded(this.lostWatch?.close(), 'the lost-task watch to stop', 'step');
    await this.budget.bounded(this.revokeSync.close(), 'revoke sync to stop', 'step');
    await this.budget.bounded(this.remote.stop(), 'remote control to stop', 'step');
    // Local work (ends threads and child processes): not charged to the cleanup budget.
    await this.budget.bounded(this.pool.close(), 'the pool to close', SHUTDOWN_STEP_MS);
    await this.budget.bounded(this.app.signals.emit('workerShutdown', { hostname: this.options.hostname }), 'workerShutdown handlers', SHUTDOWN_STEP_MS);
    this.stateValue = 'closed';
    this.markStopped();
    this.log.info('worker stopped');
  }
}
