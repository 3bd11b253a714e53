/**
 * @module ingest/metrics
 * The Prometheus series of `/metrics`: Flower's six (same names, label names and order,
 * types and default buckets, so its Grafana dashboard and alerts keep working) plus what
 * Flower's users asked for: queue depth (#1191), tasks by state and a stuck-task gauge
 * (#1459), and event-ingest health.
 *
 * Fixed on purpose (Flower issues): `flower_worker_online` is computed at scrape time
 * from heartbeat expiry, so a killed worker drops to 0 instead of staying at 1 (#1128);
 * `flower_worker_prefetched_tasks` is decremented when a prefetched task ends without
 * starting (revoked, rejected, failed, lost), so it does not drift upward (#1364).
 *
 * Hand-written exposition (text format 0.0.4): a handful of series does not justify a
 * client library, and label order must be exactly Flower's.
 */

/** prometheus_client's default histogram buckets, Flower's default `task_runtime_metric_buckets`. */
export const DEFAULT_RUNTIME_BUCKETS: readonly number[] = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, Infinity]);

type Labels = readonly string[];

/** Escapes a label value as the text format requires. */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** `{a="x",b="y"}` with label names sorted, as prometheus_client writes them. */
function labelText(names: readonly string[], values: Labels, extra?: [string, string]): string {
  const pairs: [string, string][] = names.map((n, i) => [n, values[i] ?? '']);
  if (extra !== undefined) pairs.push(extra);
  if (pairs.length === 0) return '';
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return `{${pairs.map(([n, v]) => `${n}="${escapeLabel(v)}"`).join(',')}}`;
}

/** prometheus_client's `floatToGoString`: Python's float repr, exponents past 6 integer digits. */
export function num(n: number): string {
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  if (Number.isNaN(n)) return 'NaN';
  const s = Number.isInteger(n) && Math.abs(n) < 1e16 ? `${n}.0` : String(n);
  const dot = s.indexOf('.');
  if (n > 0 && dot > 6) {
    const mantissa = `${s[0]}.${s.slice(1, dot)}${s.slice(dot + 1)}`.replace(/[0.]+$/, '');
    return `${mantissa}e+0${dot - 1}`;
  }
  return s;
}

type Tree<E> = Map<string, Tree<E> | E>;

/**
 * A metric's series by their label values, one map level per label, so the lookup that runs
 * for every event builds no key string (a length-prefixed key cost several times the nested
 * lookup). Iterates in the order series were created, as Flower lists them.
 */
class ByLabels<E extends { readonly labels: Labels }> {
  readonly #root: Tree<E> = new Map();
  /** Every series, in creation order (render, dropWorker). */
  readonly all = new Set<E>();
  #unlabelled: E | undefined;

  get(labels: Labels): E | undefined {
    if (labels.length === 0) return this.#unlabelled;
    let level = this.#root;
    const last = labels.length - 1;
    for (let i = 0; i < last; i++) {
      const next = level.get(labels[i] ?? '') as Tree<E> | undefined;
      if (next === undefined) return undefined;
      level = next;
    }
    return level.get(labels[last] ?? '') as E | undefined;
  }

  add(entry: E): E {
    const { labels } = entry;
    this.all.add(entry);
    if (labels.length === 0) return (this.#unlabelled = entry);
    let level = this.#root;
    const last = labels.length - 1;
    for (let i = 0; i < last; i++) {
      let next = level.get(labels[i] ?? '') as Tree<E> | undefined;
      if (next === undefined) level.set(labels[i] ?? '', (next = new Map()));
      level = next;
    }
    level.set(labels[last] ?? '', entry);
    return entry;
  }

  /** Drops every series whose first label is `value`. */
  dropFirst(value: string): void {
    for (const e of this.all) if (e.labels[0] === value) this.all.delete(e);
    this.#root.delete(value);
  }
}

/** A labelled counter or gauge. */
class Series {
  readonly values = new ByLabels<{ readonly labels: Labels; value: number; readonly created: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
    readonly labelNames: readonly string[],
  ) {}

  // `now` is read only when a series is created: these run for every event.
  inc(labels: Labels, by = 1, now?: number): void {
    const cur = this.values.get(labels);
    if (cur === undefined) this.values.add({ labels, value: by, created: (now ?? Date.now()) / 1000 });
    else cur.value += by;
  }

  set(labels: Labels, value: number, now?: number): void {
    const cur = this.values.get(labels);
    if (cur === undefined) this.values.add({ labels, value, created: (now ?? Date.now()) / 1000 });
    else cur.value = value;
  }

  get(labels: Labels): number | undefined {
    return this.values.get(labels)?.value;
  }

  /** Drops every series whose `worker` label (the first) is `worker`. */
  dropWorker(worker: string): void {
    this.values.dropFirst(worker);
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`);
    for (const v of this.values.all) out.push(`${this.name}${labelText(this.labelNames, v.labels)} ${num(v.value)}`);
    if (this.type !== 'counter') return;
    // prometheus_client writes the creation times as a gauge family of their own, after.
    const created = `${this.name.replace(/_total$/, '')}_created`;
    out.push(`# HELP ${created} ${this.help}`, `# TYPE ${created} gauge`);
    for (const v of this.values.all) out.push(`${created}${labelText(this.labelNames, v.labels)} ${num(v.created)}`);
  }
}

/** A labelled histogram. */
class Histogram {
  readonly values = new ByLabels<{ readonly labels: Labels; readonly counts: number[]; sum: number; count: number; readonly created: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    readonly buckets: readonly number[],
  ) {}

  observe(labels: Labels, value: number, now?: number): void {
    const cur = this.values.get(labels) ?? this.values.add({ labels, counts: this.buckets.map(() => 0), sum: 0, count: 0, created: (now ?? Date.now()) / 1000 });
    for (let i = 0; i < this.buckets.length; i++) if (value <= (this.buckets[i] as number)) (cur.counts[i] as number)++;
    cur.sum += value;
    cur.count++;
  }

  dropWorker(worker: string): void {
    this.values.dropFirst(worker);
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    for (const v of this.values.all) {
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${labelText(this.labelNames, v.labels, ['le', num(b)])} ${num(v.counts[i] as number)}`));
      out.push(`${this.name}_count${labelText(this.labelNames, v.labels)} ${num(v.count)}`, `${this.name}_sum${labelText(this.labelNames, v.labels)} ${num(v.sum)}`);
    }
    out.push(`# HELP ${this.name}_created ${this.help}`, `# TYPE ${this.name}_created gauge`);
    for (const v of this.values.all) out.push(`${this.name}_created${labelText(this.labelNames, v.labels)} ${num(v.created)}`);
  }
}

/** Parses `--task-runtime-metric-buckets` (`1,5,10,inf`); throws RangeError on a bad list. */
export function parseBuckets(text: string): number[] {
  const values = text.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => (/^\+?inf$/i.test(s) ? Infinity : Number(s)));
  if (values.length === 0 || values.some((v) => Number.isNaN(v))) throw new RangeError(`bad metric buckets ${JSON.stringify(text)}: expected numbers separated by commas (inf allowed)`);
  const sorted = [...new Set(values)].sort((a, b) => a - b);
  if (sorted.at(-1) !== Infinity) sorted.push(Infinity);
  return sorted;
}

/** Values the scrape reads from elsewhere (the cluster state, the store, the broker). */
export interface ScrapeInputs {
  /** Every known worker with its online flag at scrape time. */
  readonly workers: readonly { readonly hostname: string; readonly online: boolean }[];
  /**
   * Ready messages per queue (all priority buckets), and the seconds its oldest ready message
   * with a known send time has waited (null or absent: unknown, and no series).
   */
  readonly queues: readonly { readonly name: string; readonly messages: number; readonly ageSec?: number | null }[];
  /** Stored tasks by state. */
  readonly tasksByState: Readonly<Record<string, number>>;
  /** Tasks running or waiting longer than the stuck threshold, by state. */
  readonly stuck: Readonly<Record<string, number>>;
  /** Seconds since the last event, null before any. */
  readonly eventAgeSec: number | null;
  readonly eventsIngested: number;
  /** Events folded into rows written to the history, those whose timeline entry was dropped included. */
  readonly eventsWritten: number;
  readonly eventsDropped: number;
  readonly tasksDropped: number;
  /** Event messages shed on arrival because the ingest was behind. @default 0 */
  readonly eventMessagesShed?: number;
  /** Characters of event messages waiting to be folded. @default 0 */
  readonly eventBytesPending?: number;
  /** The broker's set-aside store by part (`malformed`, `dead-letter`), where it keeps one and answered. */
  readonly setAside?: Readonly<Record<string, { readonly count: number; readonly bytes: number; readonly maxCount: number; readonly maxBytes: number }>>;
}

/** Flower's collectors, fed by the ingest. */
export class Metrics {
  readonly events = new Series('flower_events_total', 'Number of events', 'counter', ['worker', 'type', 'task']);
  readonly runtime: Histogram;
  readonly prefetchTime = new Series('flower_task_prefetch_time_seconds', 'The time the task spent waiting at the worker to be processed.', 'gauge', ['worker', 'task']);
  readonly prefetched = new Series('flower_worker_prefetched_tasks', 'Number of tasks of given type prefetched at a worker', 'gauge', ['worker', 'task']);
  readonly executing = new Series('flower_worker_number_of_currently_executing_tasks', 'Number of tasks currently executing at a worker', 'gauge', ['worker']);
  /** Workers whose series were removed (gone): they are not rendered as online=0 either. */
  readonly #removed = new Set<string>();

  constructor(buckets: readonly number[] = DEFAULT_RUNTIME_BUCKETS) {
    this.runtime = new Histogram('flower_task_runtime_seconds', 'Task runtime', ['worker', 'task'], buckets);
  }

  /** A worker came back: render its series again. */
  revive(worker: string): void {
    this.#removed.delete(worker);
  }

  /** Removes every series of a worker that is gone (`--purge-offline-workers`). */
  removeWorker(worker: string): void {
    this.#removed.add(worker);
    for (const s of [this.events, this.prefetchTime, this.prefetched, this.executing]) s.dropWorker(worker);
    this.runtime.dropWorker(worker);
  }

  /** The exposition text. */
  render(inputs: ScrapeInputs): string {
    const out: string[] = [];
    this.events.render(out);
    this.runtime.render(out);
    this.prefetchTime.render(out);
    this.prefetched.render(out);
    out.push('# HELP flower_worker_online Worker online status', '# TYPE flower_worker_online gauge');
    for (const w of inputs.workers) if (!this.#removed.has(w.hostname)) out.push(`flower_worker_online${labelText(['worker'], [w.hostname])} ${w.online ? '1.0' : '0.0'}`);
    this.executing.render(out);
    out.push('# HELP flower_queue_length Ready messages in a broker queue, all priority buckets', '# TYPE flower_queue_length gauge');
    for (const q of inputs.queues) out.push(`flower_queue_length${labelText(['queue'], [q.name])} ${num(q.messages)}`);
    out.push('# HELP flower_queue_age_seconds Seconds the oldest ready message of a queue has waited, of those whose send time is known (sent by Celeriac: Redis, and RabbitMQ classic queues); no series when none is', '# TYPE flower_queue_age_seconds gauge');
    for (const q of inputs.queues) if (q.ageSec !== undefined && q.ageSec !== null) out.push(`flower_queue_age_seconds${labelText(['queue'], [q.name])} ${num(q.ageSec)}`);
    out.push('# HELP flower_tasks_by_state Stored tasks by state', '# TYPE flower_tasks_by_state gauge');
    for (const [state, n] of Object.entries(inputs.tasksByState)) out.push(`flower_tasks_by_state${labelText(['state'], [state])} ${num(n)}`);
    out.push('# HELP flower_stuck_tasks Tasks RECEIVED or STARTED for longer than the stuck threshold', '# TYPE flower_stuck_tasks gauge');
    for (const [state, n] of Object.entries(inputs.stuck)) out.push(`flower_stuck_tasks${labelText(['state'], [state])} ${num(n)}`);
    out.push('# HELP celeriac_dashboard_events_ingested_total Events received from the broker', '# TYPE celeriac_dashboard_events_ingested_total counter');
    out.push(`celeriac_dashboard_events_ingested_total ${num(inputs.eventsIngested)}`);
    out.push('# HELP celeriac_dashboard_events_written_total Events folded into rows written to the history (those whose timeline entry was dropped included: see celeriac_dashboard_events_dropped_total)', '# TYPE celeriac_dashboard_events_written_total counter');
    out.push(`celeriac_dashboard_events_written_total ${num(inputs.eventsWritten)}`);
    out.push('# HELP celeriac_dashboard_events_dropped_total Events left out of task timelines because the store fell behind', '# TYPE celeriac_dashboard_events_dropped_total counter');
    out.push(`celeriac_dashboard_events_dropped_total ${num(inputs.eventsDropped)}`);
    out.push('# HELP celeriac_dashboard_tasks_dropped_total Tasks whose latest changes were dropped because the store fell far behind', '# TYPE celeriac_dashboard_tasks_dropped_total counter');
    out.push(`celeriac_dashboard_tasks_dropped_total ${num(inputs.tasksDropped)}`);
    out.push('# HELP celeriac_dashboard_event_messages_shed_total Event messages (a task.multi batch is one) shed on arrival, undecoded, because they came faster than the ingest folds them', '# TYPE celeriac_dashboard_event_messages_shed_total counter');
    out.push(`celeriac_dashboard_event_messages_shed_total ${num(inputs.eventMessagesShed ?? 0)}`);
    out.push('# HELP celeriac_dashboard_event_bytes_pending Characters of event messages received and waiting to be folded (held while the store is behind)', '# TYPE celeriac_dashboard_event_bytes_pending gauge');
    out.push(`celeriac_dashboard_event_bytes_pending ${num(inputs.eventBytesPending ?? 0)}`);
    if (inputs.setAside !== undefined) renderSetAside(out, inputs.setAside);
    if (inputs.eventAgeSec !== null) {
      out.push('# HELP celeriac_dashboard_last_event_age_seconds Seconds since the last event arrived', '# TYPE celeriac_dashboard_last_event_age_seconds gauge');
      out.push(`celeriac_dashboard_last_event_age_seconds ${num(inputs.eventAgeSec)}`);
    }
    return `${out.join('\n')}\n`;
  }
}

/** The set-aside store's gauges: records and bytes per part, and each part's quota. */
function renderSetAside(out: string[], parts: NonNullable<ScrapeInputs['setAside']>): void {
  const gauges: [string, string, 'count' | 'bytes' | 'maxCount' | 'maxBytes'][] = [
    ['celeriac_setaside_records', 'Records in a part of the broker\'s set-aside store (malformed messages, dead-lettered tasks)', 'count'],
    ['celeriac_setaside_bytes', 'Bytes of the records in a part of the broker\'s set-aside store', 'bytes'],
    ['celeriac_setaside_max_records', 'Most records a part of the set-aside store keeps before dropping its oldest', 'maxCount'],
    ['celeriac_setaside_max_bytes', 'Most bytes a part of the set-aside store keeps before dropping its oldest', 'maxBytes'],
  ];
  for (const [name, help, field] of gauges) {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [category, part] of Object.entries(parts)) out.push(`${name}${labelText(['category'], [category])} ${num(part[field])}`);
  }
}
