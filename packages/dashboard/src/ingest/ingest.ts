/**
 * @module ingest/ingest
 * Everything the dashboard learns from the cluster, in one long-lived part (docs/dashboard.md:
 * only events, remote control and the broker; Python workers are handled exactly like
 * Celeriac's since both speak Celery's protocol):
 * - events from the broker, folded into an in-memory {@link ClusterState} (worker liveness,
 *   recent tasks for live rows) and into a {@link WriteBuffer}, which writes them to the
 *   {@link HistoryStore} one write at a time, one row per task however many events it had;
 * - Flower's Prometheus collectors ({@link Metrics}) and the overview series;
 * - a once-a-second tick that notices workers whose heartbeats stopped: their unfinished
 *   tasks are marked LOST, and after `purgeOfflineAfterMs` they are forgotten (gone);
 * - periodic inspection ({@link Inspector}), queue depths ({@link QueueReader}),
 *   `enable_events` every 5 s as Flower does, and retention (`store.prune`).
 *
 * Memory is bounded: received messages wait in a queue of `maxPendingEventBytes` (past it they
 * are shed, counted), the cluster state keeps `maxTasksInMemory` tasks, the write buffer
 * keeps `maxBuffered` entries, the live hub coalesces task changes per flush. While a store
 * write is slow the fold stops at 80% of `maxBuffered` and events wait undecoded in the
 * queue; only when that is full too are they folded anyway and the write buffer gives up
 * timeline entries first, task rows last (counted in `/metrics`).
 */
import type { App } from 'celeriac';
import { coerceError } from 'celeriac/spi';
import { BrokerUnreachableError, ClusterState, ControlClient, EventReceiver, type ClusterChange, type EventDict, type TaskRecord, type WorkerRecord } from 'celeriac/monitor';
import type { HistoryStore } from '../store/history-store.js';
import { taskDictFromRecord } from '../task-dict.js';
import { withDeadline } from './deadline.js';
import { GroupLinks } from './group-links.js';
import { HealthWatch, type HealthReport } from './health-watch.js';
import { Inspector } from './inspector.js';
import { LiveHub } from './live-hub.js';
import { Metrics } from './metrics.js';
import { OverviewSeries } from './overview.js';
import { queueReaderFor, type QueueDepth, type QueueReader } from './queues.js';
import { WriteBuffer } from './write-buffer.js';

/** Options of {@link Ingest}. */
export interface IngestOptions {
  /** Pending events that start a store write before the next flush. @default 2000 */
  batchSize?: number;
  /** Longest wait before a partial batch is written, ms. @default 200 */
  flushMs?: number;
  /**
   * Entries (task rows, worker rows, timeline entries) kept waiting for the store; up to as many
   * again per write in flight. 16,000 with two writes in flight on Postgres peaked at the RSS
   * that 25,000 with one did (259-260 against 261-267 MB at 40,000 events/s offered), and
   * dropped fewer timeline entries (bench/dashboard/README.md). @default 16000
   */
  maxBuffered?: number;
  /**
   * Received event messages (characters) kept waiting for the fold; past it messages are shed,
   * undecoded, and counted (`celeriac_dashboard_event_messages_shed_total`). 16 MiB holds about
   * 45,000 events of a busy fleet (1.5 s at 30,000 events/s) while a store write is slow; it was
   * 32 MiB (Redis's pub/sub output-buffer limit), which held the process at 283-291 MB of RSS
   * under sustained overload instead of 274 (bench/dashboard/README.md), close to its 300 MB
   * budget. @default 16777216
   */
  maxPendingEventBytes?: number;
  /** Tasks kept in memory for live rows and metrics. @default 10000 */
  maxTasksInMemory?: number;
  /** Workers kept. @default 5000 */
  maxWorkers?: number;
  /** Offline workers are forgotten after this long (Flower's `purge_offline_workers`). @default 3600000 */
  purgeOfflineAfterMs?: number;
  /**
   * Reply timeout of each inspect broadcast (Flower's `inspect_timeout`), and of the worker
   * actions (pool grow/shrink, autoscale, rate and time limits, consumers), which Flower
   * bounds at Celery's default of 1 s whatever this says. @default 1000
   */
  inspectTimeoutMs?: number;
  /** Period of background inspection. @default 10000 */
  inspectIntervalMs?: number;
  /** Broadcast `enable_events` this often; 0 disables. @default 5000 */
  enableEventsMs?: number;
  /** Period of queue-depth reads. @default 5000 */
  queuePollMs?: number;
  /** Period of retention (`store.prune`). @default 60000 */
  pruneMs?: number;
  /** Runtime histogram buckets. */
  runtimeBuckets?: readonly number[];
  /** Queue names to watch besides the workers' active queues. @default the app's default queue */
  queues?: readonly string[];
  /** Reports background errors (store writes, inspect, broker). */
  onError?: (where: string, error: Error) => void;
  /** Reports the broker or the history database starting to fail and working again (health-watch.ts). */
  onHealth?: HealthReport;
}

type Resolved = Required<Omit<IngestOptions, 'runtimeBuckets' | 'queues' | 'onError' | 'onHealth'>>;

/** The dashboard's view of the cluster, fed continuously. */
export class Ingest {
  readonly state: ClusterState;
  readonly metrics: Metrics;
  readonly live = new LiveHub();
  readonly overview = new OverviewSeries();
  readonly inspector: Inspector;
  readonly control: ControlClient;
  readonly groupLinks: GroupLinks;
  /** Event-type counts per worker (Flower's `counter`), for the workers table. */
  readonly counters = new Map<string, Record<string, number>>();
  readonly #store: HistoryStore;
  readonly #options: Resolved;
  readonly #queues: readonly string[];
  readonly #onError: (where: string, error: Error) => void;
  readonly #health: HealthWatch;
  readonly #receiver: EventReceiver;
  readonly #reader: QueueReader;
  readonly #writes: WriteBuffer;
  readonly #timers: NodeJS.Timeout[] = [];
  /** Tasks changed since the last flush, published then as live rows. */
  readonly #changedTasks = new Map<string, TaskRecord>();
  /** Workers online at the last tick; forgotten after the grace period (until they speak again). */
  readonly #online = new Set<string>();
  readonly #gone = new Set<string>();
  /** Task ids counted in `flower_worker_prefetched_tasks`, with their labels. */
  readonly #prefetched = new Map<string, [string, string]>();
  #queueDepths: QueueDepth[] = [];
  #state: 'idle' | 'running' | 'closed' = 'idle';
  eventsIngested = 0;
  /** Local epoch ms of the last event, null before any. */
  lastEventAt: number | null = null;
  /** Last broker error message, null while the broker answers. */
  brokerError: string | null = null;

  /** How long an inspect or control broadcast waits for replies (`inspectTimeoutMs`). */
  get replyTimeoutMs(): number {
    return this.#options.inspectTimeoutMs;
  }

  constructor(app: App, store: HistoryStore, options: IngestOptions = {}) {
    this.#store = store;
    this.#options = {
      batchSize: options.batchSize ?? 2000,
      flushMs: options.flushMs ?? 200,
      maxBuffered: options.maxBuffered ?? 16_000,
      maxPendingEventBytes: options.maxPendingEventBytes ?? 16 * 1024 * 1024,
      maxTasksInMemory: options.maxTasksInMemory ?? 10_000,
      maxWorkers: options.maxWorkers ?? 5000,
      purgeOfflineAfterMs: options.purgeOfflineAfterMs ?? 3_600_000,
      inspectTimeoutMs: options.inspectTimeoutMs ?? 1000,
      inspectIntervalMs: options.inspectIntervalMs ?? 10_000,
      enableEventsMs: options.enableEventsMs ?? 5000,
      queuePollMs: options.queuePollMs ?? 5000,
      pruneMs: options.pruneMs ?? 60_000,
    };
    this.#queues = options.queues ?? [app.settings.taskDefaultQueue];
    this.#onError = options.onError ?? (() => {});
    this.#health = new HealthWatch(options.onHealth ?? (() => {}));
    this.groupLinks = new GroupLinks(() => app.backend, store);
    this.state = new ClusterState({ maxTasks: this.#options.maxTasksInMemory, maxWorkers: this.#options.maxWorkers });
    this.metrics = new Metrics(options.runtimeBuckets);
    // A broker that is down fails control calls in 3 s (BrokerUnreachableError), so no page
    // or action waits on a client's reconnect loop; the failure also marks the broker down.
    this.control = new ControlClient(app.broker, { brokerTimeoutMs: 3000 });
    this.inspector = new Inspector(this.control, {
      timeoutMs: this.#options.inspectTimeoutMs,
      intervalMs: this.#options.inspectIntervalMs,
      onError: (e) => {
        if (e instanceof BrokerUnreachableError) this.brokerError = e.message;
        this.#onError('inspect', e);
      },
      onUpdate: (worker) => this.live.publish('inspect', { worker }),
    });
    // A bounded queue between the broker and the fold: when events come faster than this
    // process folds them, the excess is shed here (counted) instead of piling up unread in the
    // broker's pub/sub buffer, and the fold yields to store writes and HTTP between batches.
    this.#receiver = new EventReceiver(app.broker, (event, at) => this.#onEvent(event, at), { onError: (e) => this.#onError('events', e), maxPendingBytes: this.#options.maxPendingEventBytes });
    this.#reader = queueReaderFor(app.settings.broker, app.broker, app.settings.brokerTransportOptions, this.#options.queuePollMs);
    // A store write that takes long fills the write buffer: the receiver then holds the
    // events undecoded (raw text, its bound in bytes) until the next write takes what is
    // folded, so a slow write makes the next one larger instead of costing timeline entries.
    this.#writes = new WriteBuffer(store, {
      batchSize: this.#options.batchSize,
      maxBuffered: this.#options.maxBuffered,
      // Postgres runs a second write on another connection, so on another core, while the first
      // runs: side by side at 30,000 events/s, no timeline entry dropped in a 20 s step where one
      // write at a time dropped 190,000 (bench/dashboard/README.md). PGlite runs one statement
      // at a time in this process: a second write would only wait, holding its batch.
      maxWrites: store.kind === 'postgres' ? 2 : 1,
      onTake: () => this.#receiver.resume(),
      onError: (e) => this.#onError('store', e),
    });
  }

  get store(): HistoryStore {
    return this.#store;
  }

  /** Events stored. */
  get eventsWritten(): number {
    return this.#writes.eventsWritten;
  }

  /** Events whose timeline entry was dropped because the store fell behind. */
  get eventsDropped(): number {
    return this.#writes.eventsDropped;
  }

  /** Event messages shed, undecoded, because they came faster than the ingest folds them. */
  get eventMessagesShed(): number {
    return this.#receiver.shedMessages;
  }

  /** Event messages received and waiting to be folded (the write buffer full, or a burst). */
  get eventMessagesPending(): number {
    return this.#receiver.pending;
  }

  /** Characters of the event messages waiting to be folded (at most `maxPendingEventBytes`). */
  get eventBytesPending(): number {
    return this.#receiver.pendingBytes;
  }

  /** Tasks whose latest changes were dropped because the store fell far behind. */
  get tasksDropped(): number {
    return this.#writes.tasksDropped;
  }

  /** Entries waiting for the store. */
  get buffered(): number {
    return this.#writes.buffered;
  }

  /** The last store write error, null once a write succeeds. */
  get storeError(): string | null {
    return this.#writes.storeError;
  }

  /** Subscribes to events (waits 2 s at most: the dashboard listens once this resolves; it waited 10 s with the broker down) and starts the loops. */
  async start(): Promise<void> {
    if (this.#state !== 'idle') return;
    this.#state = 'running';
    try {
      await withDeadline(this.#receiver.start(), 2000, 'subscribe to events');
    } catch (error) {
      this.brokerError = coerceError(error).message;
      this.#onError('events', coerceError(error));
      // Retry the subscription in the tick until the broker is back.
    }
    if ((this.#state as string) !== 'running') return; // closed while subscribing: no loops to start
    this.inspector.start();
    const every = (ms: number, fn: () => void) => {
      if (ms <= 0) return;
      const t = setInterval(fn, ms);
      t.unref();
      this.#timers.push(t);
    };
    every(this.#options.flushMs, () => {
      this.#publishChanged();
      this.#writes.flushDue(Date.now()).catch(() => {});
    });
    every(1000, () => this.tick(Date.now()));
    every(this.#options.enableEventsMs, () => void this.#enableEvents());
    every(this.#options.queuePollMs, () => void this.pollQueues().catch(() => {}));
    every(this.#options.pruneMs, () => void this.#store.prune().catch((e: unknown) => this.#onError('prune', coerceError(e))));
    void this.#enableEvents();
    void this.pollQueues().catch(() => {});
  }

  /** Stops the loops and writes what is buffered. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    for (const t of this.#timers) clearInterval(t);
    this.inspector.close();
    // A broker known to fail is not waited for: with it down, every stop took 2-5 s more.
    const waitMs = this.brokerError === null ? 5000 : 250;
    await withDeadline(this.#receiver.close(), waitMs, 'unsubscribe').catch(() => {});
    await withDeadline(this.control.close(), waitMs, 'control close').catch(() => {});
    await this.flush().catch(() => {});
    await this.#reader.close();
  }

  async #enableEvents(): Promise<void> {
    try {
      await withDeadline(this.control.broadcast('enable_events'), 5000, 'enable_events');
      this.brokerError = null;
    } catch (error) {
      this.brokerError = coerceError(error).message;
    }
  }

  #onEvent(event: EventDict, at: number): void {
    this.eventsIngested++;
    this.lastEventAt = at;
    this.#writes.add(event, at);
    if (this.#writes.full) this.#receiver.pause();
    const type = typeof event.type === 'string' ? event.type : '';
    const hostname = typeof event['hostname'] === 'string' ? event['hostname'] : '';
    if (hostname !== '' && type !== 'task-sent') {
      const c = this.counters.get(hostname) ?? {};
      c[type] = (c[type] ?? 0) + 1;
      this.counters.set(hostname, c);
      if (this.#gone.delete(hostname)) this.metrics.revive(hostname);
    }
    const before = typeof event['uuid'] === 'string' ? this.state.task(event['uuid']) : undefined;
    const change = this.state.apply(event, at);
    if (change?.kind === 'task') this.groupLinks.observe(type, event, this.state.worker(hostname)?.swIdent === 'celeriac');
    this.#observe(type, hostname, event, change, before?.state ?? null, at);
  }

  /** Metrics, overview and live updates for one event. */
  #observe(type: string, hostname: string, event: EventDict, change: ClusterChange | null, previousState: string | null, at: number): void {
    if (change?.kind === 'worker') {
      if (type === 'worker-heartbeat' && typeof event['active'] === 'number') this.metrics.executing.set([hostname], event['active']);
      this.live.publish('worker', this.workerSummary(change.worker, at));
      if (type === 'worker-online' && change.created) void this.inspector.refresh([hostname]).catch(() => {});
      if (type === 'worker-offline') this.#wentOffline(hostname, at);
      return;
    }
    if (change?.kind !== 'task') return;
    const task = change.task;
    const name = task.name ?? '';
    this.metrics.events.inc([hostname, type, name]);
    const runtime = typeof event['runtime'] === 'number' ? event['runtime'] : null;
    if (runtime !== null && runtime !== 0) this.metrics.runtime.observe([hostname, name], runtime);
    const eta = task.eta !== null;
    if (type === 'task-received' && !eta && !this.#prefetched.has(task.uuid)) {
      this.metrics.prefetched.inc([hostname, name]);
      this.#prefetched.set(task.uuid, [hostname, name]);
      if (this.#prefetched.size > this.#options.maxTasksInMemory) this.#prefetched.delete(this.#prefetched.keys().next().value as string);
    } else if (type !== 'task-received' && type !== 'task-sent' && previousState !== null) {
      // Leaving the prefetch buffer by any way (started, revoked, rejected, failed...).
      const labels = this.#prefetched.get(task.uuid);
      if (labels !== undefined) {
        this.#prefetched.delete(task.uuid);
        this.metrics.prefetched.inc(labels, -1);
      }
    }
    if (type === 'task-started' && !eta && task.times.received !== undefined && task.times.started !== undefined) {
      this.metrics.prefetchTime.set([hostname, name], Math.max(0, (task.times.started - task.times.received) / 1000));
    }
    if (type === 'task-succeeded' || type === 'task-failed') {
      this.metrics.prefetchTime.set([hostname, name], 0);
      this.overview.finished(type === 'task-succeeded' ? 'succeeded' : 'failed', runtime, at);
    }
    if (this.live.subscribers > 0) this.#changedTasks.set(task.uuid, task);
  }

  /** Writes buffered events (one write in flight; callers share it) and publishes live task rows. */
  flush(): Promise<void> {
    this.#publishChanged();
    return this.#writes.flush();
  }

  /** Publishes the live rows of the tasks changed since the last time. */
  #publishChanged(): void {
    if (this.#changedTasks.size === 0) return;
    for (const task of this.#changedTasks.values()) this.live.publish('task', taskDictFromRecord(task));
    this.#changedTasks.clear();
  }

  /** Liveness transitions and expiry, once a second. */
  tick(now: number): void {
    for (const w of this.state.workers()) {
      if (this.#gone.has(w.hostname)) continue;
      const online = this.state.isOnline(w, now);
      if (online) {
        this.#online.add(w.hostname);
        continue;
      }
      if (this.#online.delete(w.hostname)) this.#wentOffline(w.hostname, now);
      const last = w.offlineAt ?? w.heartbeats.at(-1) ?? null;
      if (last !== null && now - last > this.#options.purgeOfflineAfterMs) {
        this.#gone.add(w.hostname);
        this.inspector.forget(w.hostname);
        this.metrics.removeWorker(w.hostname);
        this.live.publish('worker-gone', { hostname: w.hostname });
      }
    }
    void this.groupLinks.run(() => this.flush()).catch((e: unknown) => this.#onError('group links', coerceError(e)));
    if (this.#state === 'running' && this.brokerError !== null) void withDeadline(this.#receiver.start(), 5000, 'subscribe').catch(() => {});
    this.#health.look({ broker: this.brokerError, 'history database': this.storeError });
    if (this.live.subscribers > 0) {
      const last = this.overview.snapshot(now, Math.floor(now / 1000) - 1).points[0];
      const online = [...this.#online].length;
      this.live.publish('stats', { t: now / 1000, succeeded: last?.succeeded ?? 0, failed: last?.failed ?? 0, p50: last?.p50 ?? null, p95: last?.p95 ?? null, workers_online: online, events: this.eventsIngested });
    }
  }

  #wentOffline(hostname: string, at: number): void {
    this.#online.delete(hostname);
    this.metrics.executing.set([hostname], 0);
    const worker = this.state.worker(hostname);
    if (worker !== undefined) this.live.publish('worker', this.workerSummary(worker, at));
    // Tasks it held can no longer finish: flush first so their last events are stored.
    void this.flush()
      .catch(() => {})
      .then(() => this.#store.markLost(hostname, at))
      .then((n) => {
        if (n > 0) this.live.publish('lost', { worker: hostname, tasks: n });
      })
      .catch((e: unknown) => this.#onError('store', coerceError(e)));
  }

  /** Workers not forgotten. */
  workers(): WorkerRecord[] {
    return this.state.workers().filter((w) => !this.#gone.has(w.hostname));
  }

  isGone(hostname: string): boolean {
    return this.#gone.has(hostname);
  }

  /** The workers-table row of a worker (Flower's `/workers?json=1` item plus ours). */
  workerSummary(w: WorkerRecord, now: number): Record<string, unknown> {
    const inspection = this.inspector.get(w.hostname);
    const ages: Record<string, number> = {};
    for (const [m, at] of Object.entries(inspection?.at ?? {})) ages[m] = Math.max(0, (now - at) / 1000);
    const last = w.heartbeats.at(-1) ?? null;
    return {
      hostname: w.hostname, pid: w.pid, freq: w.freq, heartbeats: w.heartbeats.map((h) => h / 1000), clock: w.clock,
      active: w.active, processed: w.processed, loadavg: w.loadavg, sw_ident: w.swIdent, sw_ver: w.swVer, sw_sys: w.swSys,
      status: this.state.isOnline(w, now),
      ...(this.counters.get(w.hostname) ?? {}),
      heartbeat_age: last === null ? null : Math.max(0, (now - last) / 1000),
      offline_at: w.offlineAt === null ? null : w.offlineAt / 1000,
      inspect_age: ages,
    };
  }

  /** Queue names to measure: the workers' active queues, else the configured ones. */
  queueNames(): string[] {
    const names = new Set(this.inspector.consumers().keys());
    for (const q of this.#queues) names.add(q);
    return [...names].sort();
  }

  /** Reads queue depths now (also records them for the overview and metrics). */
  async pollQueues(): Promise<QueueDepth[]> {
    try {
      const depths = await withDeadline(this.#reader.lengths(this.queueNames()), 5000, 'queue lengths');
      this.#queueDepths = depths;
      this.brokerError = null;
      this.overview.queueDepth(Object.fromEntries(depths.map((d) => [d.name, d.messages])), Date.now());
      this.live.publish('queues', depths);
      return depths;
    } catch (error) {
      this.brokerError = coerceError(error).message;
      throw error;
    }
  }

  /** The last queue depths read. */
  get queueDepths(): readonly QueueDepth[] {
    return this.#queueDepths;
  }
}
