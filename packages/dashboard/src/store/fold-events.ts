/**
 * @module store/fold-events
 * Pure: turns raw Celery events into the rows the store upserts: at most one task row per
 * uuid, one worker row per hostname, and the timeline entries. Folding first lets one
 * multi-row statement write a batch (a single INSERT cannot touch a row twice) and merges
 * the events of one task in memory instead of in the database: a task whose received,
 * started and succeeded events arrive before the next write costs one row write, not three.
 *
 * {@link EventFolder} folds event by event, as they arrive, so a writer that falls behind
 * holds one row per task rather than every event; {@link foldEvents} folds a whole batch.
 */
import { mergeState, stateOfEvent, statePrecedence, taskEventOrder, type EventDict } from 'celeriac/monitor';
import { pyLiteralToJson } from './py-literal.js';

/** Payload fields, in the order of their bit in `truncated_mask`. */
export const PAYLOAD_FIELDS = ['args', 'kwargs', 'result', 'exception', 'traceback'] as const;

const PAYLOAD_BITS: Readonly<Record<(typeof PAYLOAD_FIELDS)[number], number>> = { args: 1, kwargs: 2, result: 4, exception: 8, traceback: 16 };

/** Task event subjects that set a time column of the same name. */
const TIME_SUBJECTS = new Set(['sent', 'received', 'started', 'succeeded', 'failed', 'retried', 'revoked', 'rejected']);

/** A state's rank as stored in `state_rank` (the engine's state model: lower wins). */
export function stateRank(state: string): number {
  return statePrecedence(state);
}

/** A task row as written by one batch: null means "this batch did not say". */
export interface TaskWrite {
  uuid: string;
  name: string | null;
  state: string | null;
  state_rank: number | null;
  state_ts: number | null;
  worker: string | null;
  client: string | null;
  queue: string | null;
  exchange: string | null;
  routing_key: string | null;
  args: string | null;
  kwargs: string | null;
  /** kwargs as a JSON object (for the jsonb column), when they could be read. */
  kwargs_json: Record<string, unknown> | null;
  result: string | null;
  exception: string | null;
  traceback: string | null;
  /** Bits of PAYLOAD_FIELDS this batch set, and which of those it cut. */
  provided_mask: number;
  truncated_mask: number;
  eta: string | null;
  expires: string | null;
  sent: number | null;
  received: number | null;
  started: number | null;
  succeeded: number | null;
  failed: number | null;
  retried: number | null;
  revoked: number | null;
  rejected: number | null;
  runtime: number | null;
  retries: number | null;
  parent_id: string | null;
  root_id: string | null;
  group_id: string | null;
  last_seen: number;
}

/** A worker row as written by one batch. */
export interface WorkerWrite {
  hostname: string;
  online: boolean;
  pid: number | null;
  freq: number | null;
  active: number | null;
  processed: number | null;
  loadavg: string | null;
  sw_ident: string | null;
  sw_ver: string | null;
  sw_sys: string | null;
  seen: number;
  heartbeat: number | null;
  offline_at: number | null;
}

/** One timeline entry; `fields` is JSON text. Written as {@link timelineEntry}. */
export interface EventWrite {
  uuid: string;
  type: string;
  ts: number;
  hostname: string | null;
  fields: string;
}

/** The rows of one batch. */
export interface FoldedBatch {
  readonly tasks: TaskWrite[];
  readonly workers: WorkerWrite[];
  readonly events: EventWrite[];
  readonly ignored: number;
  /** Events folded into this batch, ignored ones included. */
  readonly folded: number;
}

/** Limits applied while folding. */
export interface FoldLimits {
  /** Longest payload field kept, in characters. */
  readonly payloadCap: number;
  /** Longest value kept in a timeline entry's fields. */
  readonly timelineCap: number;
  /** Local epoch ms, for events without a timestamp. */
  readonly now: number;
}

// Fields every event has, kept out of the timeline's `fields`.
const COMMON_KEYS = new Set(['type', 'uuid', 'timestamp', 'hostname', 'utcoffset', 'pid', 'clock', 'local_received']);

const MAX_ID = 255;

function str(value: unknown, max = MAX_ID): string | null {
  return typeof value === 'string' && value.length > 0 && value.length <= max ? value : null;
}

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** The largest value of a Postgres `integer` column (retries, pid, active). */
const INT4_MAX = 2 ** 31 - 1;

/** A whole number its column holds (up to `max`), else null: one it cannot hold failed its whole batch. */
function int(value: unknown, max = Number.MAX_SAFE_INTEGER): number | null {
  const n = num(value);
  if (n === null) return null;
  const whole = Math.trunc(n);
  return whole <= max && whole >= -max - 1 ? whole : null;
}

/** Farthest from 1970 a JavaScript Date goes, in ms (the year 275760). */
export const MAX_DATE_MS = 8.64e15;

/** Event `timestamp` (epoch seconds) as integer epoch ms; `now` without one, or for one no Date holds. */
function eventMs(event: EventDict, now: number): number {
  const ts = num(event['timestamp']);
  if (ts === null) return now;
  const ms = Math.round(ts * 1000);
  return Math.abs(ms) <= MAX_DATE_MS ? ms : now;
}

/** A payload value as text: reprs stay as they are, JSON values from other senders are encoded. */
function payloadText(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? null;
  } catch {
    return null;
  }
}

function cut(text: string, cap: number): { text: string; cut: boolean } {
  return text.length <= cap ? { text, cut: false } : { text: text.slice(0, cap), cut: true };
}

function emptyTask(uuid: string, at: number): TaskWrite {
  return {
    uuid, name: null, state: null, state_rank: null, state_ts: null, worker: null, client: null,
    queue: null, exchange: null, routing_key: null, args: null, kwargs: null, kwargs_json: null,
    result: null, exception: null, traceback: null, provided_mask: 0, truncated_mask: 0,
    eta: null, expires: null, sent: null, received: null, started: null, succeeded: null,
    failed: null, retried: null, revoked: null, rejected: null, runtime: null, retries: null,
    parent_id: null, root_id: null, group_id: null, last_seen: at,
  };
}

function setPayload(row: TaskWrite, field: (typeof PAYLOAD_FIELDS)[number], value: unknown, cap: number): void {
  const text = payloadText(value);
  if (text === null) return;
  const bit = PAYLOAD_BITS[field];
  const c = cut(text, cap);
  row[field] = c.text;
  row.provided_mask |= bit;
  row.truncated_mask = c.cut ? row.truncated_mask | bit : row.truncated_mask & ~bit;
  if (field === 'kwargs') {
    const parsed = c.cut ? null : kwargsJson(value, text);
    row.kwargs_json = parsed;
  }
}

/** kwargs as an object for the jsonb column: a JSON object as is, a Python dict repr parsed. */
function kwargsJson(value: unknown, text: string): Record<string, unknown> | null {
  const parsed = typeof value === 'object' ? value : pyLiteralToJson(text);
  return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
}

type TextColumn = 'name' | 'queue' | 'exchange' | 'routing_key' | 'eta' | 'expires' | 'parent_id' | 'root_id';
// Text columns an event sets under the same key.
const TEXT_COLUMNS: readonly TextColumn[] = ['name', 'queue', 'exchange', 'routing_key', 'eta', 'expires', 'parent_id', 'root_id'];

function foldTask(row: TaskWrite, subject: string, event: EventDict, at: number, limits: Omit<FoldLimits, 'now'>): void {
  const e = event as Readonly<Record<string, unknown>>;
  for (const column of TEXT_COLUMNS) {
    const v = str(e[column]);
    if (v !== null) row[column] = v;
  }
  const group = str(e['group_id']) ?? str(e['group']);
  if (group !== null) row.group_id = group;
  for (const field of PAYLOAD_FIELDS) setPayload(row, field, e[field], limits.payloadCap);
  const runtime = num(e['runtime']);
  if (runtime !== null) row.runtime = runtime;
  const retries = int(e['retries'], INT4_MAX);
  if (retries !== null) row.retries = retries;
  const hostname = str(e['hostname']);
  if (subject === 'sent') row.client = hostname;
  else if (hostname !== null && subject !== 'revoked') row.worker = hostname;
  if (TIME_SUBJECTS.has(subject)) row[subject as 'sent'] = at;
  const incoming = (stateOfEvent(`task-${subject}`) ?? 'PENDING').slice(0, 64);
  if (row.state === null || mergeState(row.state, incoming) === incoming) {
    row.state = incoming;
    row.state_rank = stateRank(incoming);
    row.state_ts = at;
  }
  if (at > row.last_seen) row.last_seen = at;
}

/**
 * A timeline entry as JSON text, `[type, ts, hostname, fields]`: the store keeps a task's
 * entries of one write as one JSON array (store/write-sql.ts), read back by {@link parseTimeline}.
 */
export function timelineEntry(e: EventWrite): string {
  return `[${JSON.stringify(e.type)},${e.ts},${e.hostname === null ? 'null' : JSON.stringify(e.hostname)},${e.fields}]`;
}

/** The entries of stored timeline rows (JSON arrays of {@link timelineEntry}), in time order, at most `limit`. */
export function parseTimeline(rows: readonly string[], limit: number): { type: string; ts: number; hostname: string | null; fields: Record<string, unknown> }[] {
  const out: { type: string; ts: number; hostname: string | null; fields: Record<string, unknown> }[] = [];
  for (const row of rows) {
    for (const [type, ts, hostname, fields] of JSON.parse(row) as [string, number, string | null, Record<string, unknown>][]) out.push({ type, ts: Number(ts), hostname, fields });
  }
  // Rows come by their first entry's time; a task's entries of one write are in arrival order.
  // Events of one millisecond come in either order (a worker batches its own events, a task's
  // custom events go at once): they sort by where they fall in a task's life.
  out.sort((a, b) => a.ts - b.ts || taskEventOrder(a.type) - taskEventOrder(b.type));
  return out.slice(0, limit);
}

// Event keys as JSON strings: a fleet sends a few dozen distinct keys.
const QUOTED_KEYS = new Map<string, string>();

function quotedKey(key: string): string {
  let quoted = QUOTED_KEYS.get(key);
  if (quoted === undefined) {
    quoted = JSON.stringify(key);
    if (QUOTED_KEYS.size < 1000) QUOTED_KEYS.set(key, quoted);
  }
  return quoted;
}

/**
 * The timeline entry's fields as JSON text: the event less {@link COMMON_KEYS}, values longer
 * than `cap` cut. Written straight to text, as `JSON.stringify` of that object would write it,
 * without building the object (this runs for every event). The parts are joined into one flat
 * string: built with `+=`, V8 would keep a tree of a dozen string pieces per entry while it
 * waits for its write, about twice the text's size (measured under overload: 50 MB of pieces
 * for 111,000 pending entries).
 */
export function timelineFields(event: EventDict, cap: number): string {
  const parts: string[] = ['{'];
  for (const key of Object.keys(event)) {
    if (COMMON_KEYS.has(key) || key === '__proto__') continue;
    const value = (event as Readonly<Record<string, unknown>>)[key];
    let json: string;
    if (typeof value === 'string') json = JSON.stringify(value.length > cap ? `${value.slice(0, cap)}...` : value);
    else if (typeof value === 'number') json = Number.isFinite(value) ? String(value) : 'null';
    else if (typeof value === 'boolean' || value === null) json = String(value);
    else {
      const text = payloadText(value);
      if (text === null) continue;
      json = text.length > cap ? JSON.stringify(`${text.slice(0, cap)}...`) : text;
    }
    parts.push(quotedKey(key), ':', json, ',');
  }
  if (parts.length === 1) return '{}';
  parts[parts.length - 1] = '}';
  return parts.join('');
}

function foldWorker(existing: WorkerWrite | undefined, hostname: string, subject: string, event: EventDict, at: number): WorkerWrite {
  const e = event as Readonly<Record<string, unknown>>;
  const row: WorkerWrite = existing ?? {
    hostname, online: true, pid: null, freq: null, active: null, processed: null, loadavg: null,
    sw_ident: null, sw_ver: null, sw_sys: null, seen: at, heartbeat: null, offline_at: null,
  };
  row.pid = int(e['pid'], INT4_MAX) ?? row.pid;
  row.freq = num(e['freq']) ?? row.freq;
  row.active = int(e['active'], INT4_MAX) ?? row.active;
  row.processed = int(e['processed']) ?? row.processed;
  const loadavg = e['loadavg'];
  if (Array.isArray(loadavg)) row.loadavg = JSON.stringify(loadavg.filter((n) => typeof n === 'number').slice(0, 3));
  row.sw_ident = str(e['sw_ident']) ?? row.sw_ident;
  row.sw_ver = str(e['sw_ver']) ?? row.sw_ver;
  row.sw_sys = str(e['sw_sys']) ?? row.sw_sys;
  if (at >= row.seen) {
    row.seen = at;
    row.online = subject !== 'offline';
    row.offline_at = subject === 'offline' ? at : null;
  }
  if (subject !== 'offline') row.heartbeat = Math.max(row.heartbeat ?? at, at);
  return row;
}

/** What a dropped timeline entry's slot holds until the array is compacted. */
const DROPPED: EventWrite = Object.freeze({ uuid: '', type: '', ts: 0, hostname: null, fields: '{}' });

/** What {@link EventFolder.add} did with an event. */
export type FoldOutcome = 'task' | 'worker' | 'ignored';

/**
 * Folds events one at a time into pending rows until {@link take} hands them over. Keeps
 * the timeline in arrival order; {@link dropOldestEntry} frees memory when a writer is far
 * behind, timeline entries first, since a task row carries the task's latest state.
 */
export class EventFolder {
  #tasks = new Map<string, TaskWrite>();
  #workers = new Map<string, WorkerWrite>();
  #timeline: EventWrite[] = [];
  /** Timeline entries before this index were dropped. */
  #timelineHead = 0;
  #events = 0;
  #ignored = 0;

  constructor(private readonly limits: Omit<FoldLimits, 'now'>) {}

  /** Pending task rows + worker rows + timeline entries: the measure of the folder's memory. */
  get size(): number {
    return this.#tasks.size + this.#workers.size + this.#timeline.length - this.#timelineHead;
  }

  /** Events folded since the last {@link take}. */
  get events(): number {
    return this.#events;
  }

  /** Whether anything is pending: events folded since the last {@link take}, or rows it held back. */
  get pending(): boolean {
    return this.#events > 0 || this.#tasks.size > 0 || this.#workers.size > 0;
  }

  /** Whether `uuid` has a pending task row. */
  hasTask(uuid: string): boolean {
    return this.#tasks.has(uuid);
  }

  /** Folds one event, in arrival order; `now` (epoch ms) dates an event without a timestamp. */
  add(event: EventDict, now: number): FoldOutcome {
    this.#events++;
    const type = typeof event?.type === 'string' ? event.type.toLowerCase() : '';
    const dash = type.indexOf('-');
    const group = dash < 0 ? '' : type.slice(0, dash);
    const subject = type.slice(dash + 1);
    if (group === 'task') {
      const uuid = str(event['uuid']);
      if (uuid === null || subject.length === 0) return this.#ignore();
      const at = eventMs(event, now);
      let row = this.#tasks.get(uuid);
      if (row === undefined) this.#tasks.set(uuid, (row = emptyTask(uuid, at)));
      foldTask(row, subject, event, at, this.limits);
      // The entry's JSON text is made at write time (timelineEntry): strings built here live
      // until the write, long enough to reach the old generation, whose collection costs more.
      this.#timeline.push({ uuid, type: type.slice(0, 64), ts: at, hostname: str(event['hostname']), fields: timelineFields(event, this.limits.timelineCap) });
      return 'task';
    }
    if (group === 'worker') {
      const hostname = str(event['hostname']);
      if (hostname === null) return this.#ignore();
      this.#workers.set(hostname, foldWorker(this.#workers.get(hostname), hostname, subject, event, eventMs(event, now)));
      return 'worker';
    }
    return this.#ignore();
  }

  #ignore(): FoldOutcome {
    this.#ignored++;
    return 'ignored';
  }

  /**
   * Drops the oldest timeline entry, or when none is left the oldest pending task row (its
   * changes since the last take are lost). Returns what was dropped, null when nothing is pending.
   */
  dropOldestEntry(): 'timeline' | 'task' | null {
    if (this.#timelineHead < this.#timeline.length) {
      // Let go of the entry itself, not only count it out: the memory is what dropping is for.
      this.#timeline[this.#timelineHead++] = DROPPED;
      if (this.#timelineHead >= 1024 && this.#timelineHead * 2 >= this.#timeline.length) {
        this.#timeline = this.#timeline.slice(this.#timelineHead);
        this.#timelineHead = 0;
      }
      return 'timeline';
    }
    const oldest = this.#tasks.keys().next();
    if (oldest.done === true) return null;
    this.#tasks.delete(oldest.value);
    return 'task';
  }

  /**
   * Everything folded so far; the folder starts empty again, but for the task and worker rows
   * whose key is in `hold`: those stay pending, and go on folding what arrives, for the next take.
   * (A write in flight holds locks on its rows until it commits: a second write that touched
   * one of them would wait for the first instead of running beside it.)
   */
  take(hold?: { readonly tasks: ReadonlySet<string>; readonly workers: ReadonlySet<string> }): FoldedBatch {
    const tasks = new Map<string, TaskWrite>();
    const workers = new Map<string, WorkerWrite>();
    const batch: FoldedBatch = {
      tasks: keep(this.#tasks, hold?.tasks, tasks),
      workers: keep(this.#workers, hold?.workers, workers),
      events: this.#timelineHead === 0 ? this.#timeline : this.#timeline.slice(this.#timelineHead),
      ignored: this.#ignored,
      folded: this.#events,
    };
    this.#tasks = tasks;
    this.#workers = workers;
    this.#timeline = [];
    this.#timelineHead = 0;
    this.#events = 0;
    this.#ignored = 0;
    return batch;
  }
}

/** The rows of `rows` whose key is not in `held`; the held ones go to `kept`. */
function keep<T>(rows: ReadonlyMap<string, T>, held: ReadonlySet<string> | undefined, kept: Map<string, T>): T[] {
  if (held === undefined || held.size === 0) return [...rows.values()];
  const out: T[] = [];
  for (const [key, row] of rows) {
    if (held.has(key)) kept.set(key, row);
    else out.push(row);
  }
  return out;
}

/** Folds a batch of events, in arrival order, into rows. Malformed events are counted, not thrown. */
export function foldEvents(events: readonly EventDict[], limits: FoldLimits): FoldedBatch {
  const folder = new EventFolder(limits);
  for (const event of events) folder.add(event, limits.now);
  return folder.take();
}
