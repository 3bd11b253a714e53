/**
 * @module monitor/cluster-state
 * What a monitor knows about the cluster, folded from Celery events (docs/protocol.md §4):
 * workers (online while their heartbeats keep coming) and tasks (their latest state, folded
 * by state precedence so out-of-order events do not move a task backwards). Used by
 * `celeriac events` and the dashboard.
 *
 * Deterministic: no I/O and no clock of its own. Every event comes with the local time it
 * was received and every "is it online?" question with the time to answer it for, so the
 * same events give the same state. Records are frozen and replaced on change, so a viewer
 * can tell what changed by identity. Memory is bounded: past `maxTasks` / `maxWorkers` the
 * least recently updated records are dropped first, as Celery's LRU caches do.
 *
 * Differences from `celery.events.state`: a worker that sent `worker-offline` is kept
 * (marked offline) instead of forgotten, so a dashboard can still show it; times are epoch
 * milliseconds, not seconds.
 */
import type { EventDict } from '../protocol/events.js';
import { mergeState, stateOfEvent, TASK_EVENT_STATES } from '../protocol/states.js';
import { isDateMs } from '../protocol/time.js';
import type { Json, TaskState } from '../protocol/types.js';

export type { EventDict } from '../protocol/events.js';

/** Options of {@link ClusterState}. */
export interface ClusterStateOptions {
  /** Most tasks kept; the least recently updated go first. @default 10000 */
  maxTasks?: number;
  /** Most workers kept; the least recently heard from go first. @default 5000 */
  maxWorkers?: number;
  /**
   * A worker is offline once this many heartbeat intervals (`freq`) pass without a sign of
   * life (Celery's expire window of 200 %). @default 2
   */
  heartbeatExpireFactor?: number;
}

/** {@link ClusterStateOptions} with defaults applied. */
export interface ResolvedClusterStateOptions {
  readonly maxTasks: number;
  readonly maxWorkers: number;
  readonly heartbeatExpireFactor: number;
}

/** A worker as its events describe it. */
export interface WorkerRecord {
  readonly hostname: string;
  readonly pid: number | null;
  /** Heartbeat interval in seconds (60 until the worker says otherwise, as Celery assumes). */
  readonly freq: number;
  /** Tasks running at the last heartbeat. */
  readonly active: number | null;
  /** Tasks processed at the last heartbeat. */
  readonly processed: number | null;
  readonly loadavg: readonly number[] | null;
  readonly swIdent: string | null;
  readonly swVer: string | null;
  readonly swSys: string | null;
  /** The worker's Lamport clock at its last event. */
  readonly clock: number;
  /** Local receive times (epoch ms) of the last heartbeats and signs of life, oldest first. */
  readonly heartbeats: readonly number[];
  /** Local time (epoch ms) a `worker-offline` event arrived, null while it has not. */
  readonly offlineAt: number | null;
}

/** Task fields taken from events; every field is null until an event carried it. */
export interface TaskRecord {
  readonly uuid: string;
  readonly name: string | null;
  readonly state: TaskState;
  /** Node name of the worker that handles it (task-received and later). */
  readonly worker: string | null;
  /** Node name of the client that sent it (task-sent). */
  readonly client: string | null;
  /** Argument and keyword reprs, as the events carry them. */
  readonly args: string | null;
  readonly kwargs: string | null;
  /** Repr of the return value (task-succeeded). */
  readonly result: string | null;
  /** Repr of the error (task-failed, task-retried). */
  readonly exception: string | null;
  readonly traceback: string | null;
  readonly retries: number | null;
  readonly eta: string | null;
  readonly expires: string | null;
  /** Run time in seconds (task-succeeded). */
  readonly runtime: number | null;
  readonly exchange: string | null;
  readonly routingKey: string | null;
  readonly rootId: string | null;
  readonly parentId: string | null;
  /** Event time (epoch ms) of the event that set the current state. */
  readonly timestamp: number | null;
  /** The sender's Lamport clock on the last event. */
  readonly clock: number;
  /** Event time (epoch ms) of each kind of event seen, by event subject (`received`, `started`...). */
  readonly times: Readonly<Partial<Record<TaskEventSubject, number>>>;
  /** Local time (epoch ms) this record last changed. */
  readonly updatedAt: number;
}

export { TASK_EVENT_STATES };

/** `task-<subject>` subjects with a built-in state. */
export type TaskEventSubject = keyof typeof TASK_EVENT_STATES;

/** What one event changed. */
export type ClusterChange =
  | { kind: 'worker'; worker: WorkerRecord; created: boolean; subject: string }
  | { kind: 'task'; task: TaskRecord; created: boolean; subject: string };

// An event that logically happened before the current state (a late task-started after
// task-succeeded) fills in its fields but never moves the state back; a late task-received
// fills in only name, args, kwargs, parentId, rootId, retries, eta and expires (Celery's
// merge rule), so it cannot clobber a result or an error: the `blocked` flags of #taskEvent.

const HEARTBEATS_KEPT = 4;

/** Resolves {@link ClusterStateOptions} once. */
export function resolveClusterStateOptions(options: ClusterStateOptions = {}): ResolvedClusterStateOptions {
  const positive = (name: string, value: number | undefined, fallback: number): number => {
    const v = value ?? fallback;
    if (!Number.isFinite(v) || v <= 0) throw new RangeError(`ClusterState: ${name} must be a positive number, got ${String(value)}`);
    return v;
  };
  return Object.freeze({
    maxTasks: Math.floor(positive('maxTasks', options.maxTasks, 10_000)),
    maxWorkers: Math.floor(positive('maxWorkers', options.maxWorkers, 5000)),
    heartbeatExpireFactor: positive('heartbeatExpireFactor', options.heartbeatExpireFactor, 2),
  });
}

function str(value: Json | undefined): string | null {
  return typeof value === 'string' ? value : null;
}

function num(value: Json | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/**
 * Event `timestamp` (float epoch seconds) as epoch ms; null without one, and for one no Date
 * holds (a foreign sender's 1e300), which `celeriac events` and the dashboard's pages failed to show.
 */
function eventTimeMs(event: EventDict): number | null {
  const ts = num(event['timestamp']);
  return ts !== null && isDateMs(ts * 1000) ? ts * 1000 : null;
}

/** Inserts `t` into a sorted list of at most {@link HEARTBEATS_KEPT} times. */
function addHeartbeat(list: readonly number[], t: number): number[] {
  const next = [...list, t].sort((a, b) => a - b);
  return next.slice(-HEARTBEATS_KEPT);
}

function newWorker(hostname: string): WorkerRecord {
  return {
    hostname, pid: null, freq: 60, active: null, processed: null, loadavg: null,
    swIdent: null, swVer: null, swSys: null, clock: 0, heartbeats: [], offlineAt: null,
  };
}

const NO_TIMES: TaskRecord['times'] = Object.freeze({});

/** `times` with one more subject: a spread then an assignment (a computed key in the literal took ~1.8x as long). */
function withTime(times: TaskRecord['times'], subject: TaskEventSubject, at: number): TaskRecord['times'] {
  const next: Partial<Record<TaskEventSubject, number>> = { ...times };
  next[subject] = at;
  return Object.freeze(next);
}

function newTask(uuid: string, now: number): TaskRecord {
  return {
    uuid, name: null, state: 'PENDING', worker: null, client: null, args: null, kwargs: null,
    result: null, exception: null, traceback: null, retries: null, eta: null, expires: null,
    runtime: null, exchange: null, routingKey: null, rootId: null, parentId: null,
    timestamp: null, clock: 0, times: NO_TIMES, updatedAt: now,
  };
}

/**
 * A text field of the record: the event's value when it carries one (most are strings, reprs;
 * `args`/`kwargs` may be real JSON from other senders, kept as JSON text), else `current`.
 * `blocked` keeps `current` whatever the event says.
 */
function text(event: EventDict, key: string, current: string | null, blocked: boolean): string | null {
  const value = event[key];
  if (blocked || value === undefined) return current;
  return typeof value === 'string' || value === null ? value : JSON.stringify(value);
}

/** A numeric field of the record, as {@link text}; a value that is not a number clears it. */
function number(event: EventDict, key: string, current: number | null, blocked: boolean): number | null {
  const value = event[key];
  return blocked || value === undefined ? current : num(value);
}

/**
 * The cluster as seen through events. Feed it with {@link ClusterState.apply}; read it with
 * {@link ClusterState.workers}, {@link ClusterState.tasks} and {@link ClusterState.isOnline}.
 */
export class ClusterState {
  /** The resolved options. */
  readonly options: ResolvedClusterStateOptions;
  readonly #workers = new Map<string, WorkerRecord>();
  readonly #tasks = new Map<string, TaskRecord>();
  readonly #taskNames = new Set<string>();
  #eventCount = 0;

  constructor(options: ClusterStateOptions = {}) {
    this.options = resolveClusterStateOptions(options);
  }

  /** Events applied so far (including ignored ones). */
  get eventCount(): number {
    return this.#eventCount;
  }

  /** Task names seen in events, sorted. */
  get taskNames(): string[] {
    return [...this.#taskNames].sort();
  }

  /**
   * Folds one event in. `receivedAt` is the local epoch ms it arrived. Returns what changed,
   * or null for an event that is not a worker or task event or lacks its key fields.
   */
  apply(event: EventDict, receivedAt: number): ClusterChange | null {
    this.#eventCount++;
    const type = typeof event.type === 'string' ? event.type.toLowerCase() : '';
    const dash = type.indexOf('-');
    if (dash < 0) return null;
    const group = type.slice(0, dash);
    const subject = type.slice(dash + 1);
    if (group === 'worker') return this.#workerEvent(subject, event, receivedAt);
    if (group === 'task') return this.#taskEvent(subject, event, receivedAt);
    return null;
  }

  /** The worker of that node name, if known. */
  worker(hostname: string): WorkerRecord | undefined {
    return this.#workers.get(hostname);
  }

  /** Known workers sorted by node name. */
  workers(): WorkerRecord[] {
    return [...this.#workers.values()].sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
  }

  /** The local time (epoch ms) after which the worker counts as offline, or null if it never sent a heartbeat. */
  heartbeatExpires(worker: WorkerRecord): number | null {
    const last = worker.heartbeats.at(-1);
    return last === undefined ? null : last + worker.freq * 1000 * this.options.heartbeatExpireFactor;
  }

  /**
   * True when the worker's last sign of life is within its heartbeat window at `now` (local
   * epoch ms) and it has not said goodbye since.
   */
  isOnline(worker: WorkerRecord | string, now: number): boolean {
    const w = typeof worker === 'string' ? this.#workers.get(worker) : worker;
    if (w === undefined) return false;
    const expires = this.heartbeatExpires(w);
    return expires !== null && now <= expires;
  }

  /** The task of that id, if still kept. */
  task(uuid: string): TaskRecord | undefined {
    return this.#tasks.get(uuid);
  }

  /** Kept tasks, most recently updated first; at most `limit`. */
  tasks(limit: number = Number.POSITIVE_INFINITY): TaskRecord[] {
    const out: TaskRecord[] = [];
    const all = [...this.#tasks.values()];
    for (let i = all.length - 1; i >= 0 && out.length < limit; i--) out.push(all[i] as TaskRecord);
    return out;
  }

  /** How many kept tasks are in each state. */
  taskCountsByState(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const t of this.#tasks.values()) counts[t.state] = (counts[t.state] ?? 0) + 1;
    return counts;
  }

  #workerEvent(subject: string, event: EventDict, receivedAt: number): ClusterChange | null {
    const hostname = str(event['hostname']);
    if (hostname === null) return null;
    const existing = this.#workers.get(hostname);
    const base = existing ?? newWorker(hostname);
    const next: { -readonly [K in keyof WorkerRecord]: WorkerRecord[K] } = { ...base };
    const set = <K extends keyof WorkerRecord>(key: K, value: WorkerRecord[K] | null) => {
      if (value !== null) next[key] = value as WorkerRecord[K];
    };
    set('pid', num(event['pid']));
    set('freq', num(event['freq']));
    set('active', num(event['active']));
    set('processed', num(event['processed']));
    const loadavg = event['loadavg'];
    if (Array.isArray(loadavg)) next.loadavg = Object.freeze(loadavg.filter((n): n is number => typeof n === 'number'));
    set('swIdent', str(event['sw_ident']));
    set('swVer', str(event['sw_ver']));
    set('swSys', str(event['sw_sys']));
    set('clock', num(event['clock']));
    if (subject === 'offline') {
      next.heartbeats = Object.freeze([]);
      next.offlineAt = receivedAt;
    } else {
      next.heartbeats = Object.freeze(addHeartbeat(base.heartbeats, receivedAt));
      next.offlineAt = null;
    }
    const record = Object.freeze(next);
    this.#putWorker(record);
    return { kind: 'worker', worker: record, created: existing === undefined, subject };
  }

  #taskEvent(subject: string, event: EventDict, receivedAt: number): ClusterChange | null {
    const uuid = str(event['uuid']);
    if (uuid === null) return null;
    const hostname = str(event['hostname']);
    const existing = this.#tasks.get(uuid);
    const base = existing ?? newTask(uuid, receivedAt);
    const at = eventTimeMs(event);
    const known = Object.hasOwn(TASK_EVENT_STATES, subject);
    const incoming: TaskState = stateOfEvent(`task-${subject}`) ?? 'PENDING';
    const wins = mergeState(base.state, incoming) === incoming;
    // A late task-received fills in only RECEIVED_MERGE_FIELDS.
    const late = !wins && incoming === 'RECEIVED';
    if (hostname !== null && subject !== 'sent') this.#signOfLife(hostname, receivedAt);
    // One frozen record built in one step (this runs for every event: at tens of thousands a
    // second, copying the record twice and the fields through an intermediate object was
    // the largest share of the dashboard's event handling in bench/dashboard/ingest-path.ts).
    const record: TaskRecord = Object.freeze({
      uuid,
      name: text(event, 'name', base.name, false),
      state: wins ? incoming : base.state,
      worker: subject !== 'sent' && hostname !== null ? hostname : base.worker,
      client: subject === 'sent' ? hostname : base.client,
      args: text(event, 'args', base.args, false),
      kwargs: text(event, 'kwargs', base.kwargs, false),
      result: text(event, 'result', base.result, late),
      exception: text(event, 'exception', base.exception, late),
      traceback: text(event, 'traceback', base.traceback, late),
      retries: number(event, 'retries', base.retries, false),
      eta: text(event, 'eta', base.eta, false),
      expires: text(event, 'expires', base.expires, false),
      runtime: number(event, 'runtime', base.runtime, late),
      exchange: text(event, 'exchange', base.exchange, late),
      routingKey: text(event, 'routing_key', base.routingKey, late),
      rootId: text(event, 'root_id', base.rootId, false),
      parentId: text(event, 'parent_id', base.parentId, false),
      timestamp: wins ? at : base.timestamp,
      clock: num(event['clock']) ?? base.clock,
      times: known && at !== null ? withTime(base.times, subject as TaskEventSubject, at) : base.times,
      updatedAt: receivedAt,
    });
    if (record.name !== null) this.#taskNames.add(record.name);
    if (existing !== undefined) this.#tasks.delete(uuid);
    this.#tasks.set(uuid, record);
    while (this.#tasks.size > this.options.maxTasks) this.#tasks.delete(this.#tasks.keys().next().value as string);
    return { kind: 'task', task: record, created: existing === undefined, subject };
  }

  /** A task event from a worker shows it is alive, as Celery counts it toward its heartbeats. */
  #signOfLife(hostname: string, receivedAt: number): void {
    const base = this.#workers.get(hostname) ?? newWorker(hostname);
    // Events of one burst arrive in the same millisecond: the record would not change (at
    // tens of thousands of events a second, copying it per event was ~8% of the dashboard's
    // event handling in bench/dashboard/ingest-path.ts).
    if (base.offlineAt === null && base.heartbeats.at(-1) === receivedAt) return;
    this.#putWorker(Object.freeze({ ...base, heartbeats: Object.freeze(addHeartbeat(base.heartbeats, receivedAt)), offlineAt: null }));
  }

  #putWorker(record: WorkerRecord): void {
    this.#workers.delete(record.hostname);
    this.#workers.set(record.hostname, record);
    while (this.#workers.size > this.options.maxWorkers) this.#workers.delete(this.#workers.keys().next().value as string);
  }
}
