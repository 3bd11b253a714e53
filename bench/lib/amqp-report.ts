/**
 * @module bench/lib/amqp-report
 * The tables of `npm run bench:amqp` from its measurements (pure: bench/amqp.ts writes them).
 * Per queue type: Celeriac against Celery's fastest configuration on every drain row (as the
 * Redis bench does), the round trips, CPU and memory, each ratio Celeriac/Celery against issue
 * 42's targets (drain at least 5x, round trip at most Celery's), with the 1-minute load average
 * of the machine at the end of every measurement the row is made of; then every configuration,
 * and every round.
 */
import { median } from './stats.js';
import type { QueueType } from './amqp-args.js';

export type Side = 'celeriac' | 'celery';

/** One drain: n tasks pre-enqueued, a worker started, time until the client had every result. */
export interface DrainRun {
  readonly side: Side;
  readonly queueType: QueueType;
  /** `c=100` (Celeriac) or `threads -c 100` (Celery). */
  readonly config: string;
  readonly round: number;
  readonly n: number;
  readonly tasksPerSec: number;
  /** The rate the Celeriac client filled the queue at before the drain (sendTasks, batches of 1,000). */
  readonly enqueuePerSec: number;
  /** us per task: the worker (process tree), the bench process (the client's get()s), RabbitMQ's beam.smp. */
  readonly workerCpuUs: number;
  readonly clientCpuUs: number;
  readonly rabbitCpuUs: number;
  readonly peakRssMb: number;
  /** 1-minute load average when it ended. */
  readonly load: number;
}

/** Sequential round trips (send, then wait for the rpc:// result) against a running worker. */
export interface RoundTripRun {
  readonly side: Side;
  readonly queueType: QueueType;
  readonly config: string;
  readonly round: number;
  readonly samples: number;
  readonly p50: number;
  readonly p99: number;
  readonly peakRssMb: number;
  readonly load: number;
}

export interface FloorRun {
  readonly kind: 'minimal' | 'celery';
  readonly round: number;
  readonly publish: number;
  readonly drain: number;
  readonly cpuUs: number;
  readonly load: number;
}

export interface AmqpRun {
  readonly started: string;
  readonly finished: string;
  readonly host: string;
  readonly commit: string;
  readonly command: string;
  readonly n: number;
  readonly rounds: number;
  readonly celeryVersions: Partial<Record<QueueType, string>>;
  readonly rabbitmq: string;
  readonly loadBefore: readonly number[];
  readonly loadAfter: readonly number[];
  readonly drains: readonly DrainRun[];
  readonly roundTrips: readonly RoundTripRun[];
  readonly floors: readonly FloorRun[];
  /** Steps that failed or were skipped, with the reason. */
  readonly notes: readonly string[];
}

/** Issue 42 item 5's targets. */
export const TARGETS = { drainRatio: 5, roundTripRatio: 1 } as const;

const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a');
const range = (xs: readonly number[], digits = 0) => (xs.length > 1 ? ` (${fmt(Math.min(...xs), digits)}-${fmt(Math.max(...xs), digits)})` : '');
const withRange = (xs: readonly number[], digits = 0) => (xs.length === 0 ? 'n/a' : `${fmt(median(xs), digits)}${range(xs, digits)}`);
const loads = (xs: readonly number[]) => (xs.length === 0 ? '' : xs.length === 1 || Math.min(...xs) === Math.max(...xs) ? fmt(xs[0] as number, 1) : `${fmt(Math.min(...xs), 1)}-${fmt(Math.max(...xs), 1)}`);

/** Celery's configuration with the highest median drain rate for a queue type. */
export function bestCeleryConfig(drains: readonly DrainRun[], queueType: QueueType): string | undefined {
  let best: string | undefined;
  let bestRate = -1;
  for (const config of new Set(drains.filter((d) => d.side === 'celery' && d.queueType === queueType).map((d) => d.config))) {
    const rate = median(of(drains, 'celery', queueType, config).map((d) => d.tasksPerSec));
    if (rate > bestRate) [best, bestRate] = [config, rate];
  }
  return best;
}

function of<T extends { side: Side; queueType: QueueType; config: string }>(xs: readonly T[], side: Side, queueType: QueueType, config?: string): T[] {
  return xs.filter((x) => x.side === side && x.queueType === queueType && (config === undefined || x.config === config));
}

interface Verdict {
  readonly ratio: number;
  readonly text: string;
}

/** Celeriac/Celery and whether it meets the target (`higher`: a rate, at least `target`; else at most). */
export function verdict(celeriac: number, celery: number, target: number, higher: boolean): Verdict {
  const ratio = celeriac / celery;
  if (!Number.isFinite(ratio)) return { ratio, text: '| n/a | |' };
  const met = higher ? ratio >= target : ratio <= target;
  return { ratio, text: `| ${ratio.toFixed(2)}x | ${higher ? '≥' : '≤'} ${target}x: ${met ? '**met**' : 'not met'} |` };
}

function typeTable(run: AmqpRun, queueType: QueueType): string[] {
  const best = bestCeleryConfig(run.drains, queueType);
  const celery = best === undefined ? [] : of(run.drains, 'celery', queueType, best);
  const celeryRate = celery.map((d) => d.tasksPerSec);
  const version = run.celeryVersions[queueType] ?? '?';
  const lines = [`### ${queueType === 'classic' ? 'Classic' : 'Quorum'} queues: Celeriac against Celery ${version}${best === undefined ? '' : ` (fastest drain: \`-P ${best.replace(' -c', ' -c')}\`)`}`, ''];
  lines.push('| row | Celeriac | Celery | Celeriac / Celery | target (issue 42) | load (1 min) |', '|---|---:|---:|---:|---|---|');
  const concurrencies = [...new Set(of(run.drains, 'celeriac', queueType).map((d) => d.config))].sort((a, b) => Number(a.slice(2)) - Number(b.slice(2)));
  for (const config of concurrencies) {
    const mine = of(run.drains, 'celeriac', queueType, config);
    const v = verdict(median(mine.map((d) => d.tasksPerSec)), median(celeryRate), TARGETS.drainRatio, true);
    lines.push(`| drain ${config}, late acks, rpc:// (tasks/s, n=${fmt(run.n)}) | ${withRange(mine.map((d) => d.tasksPerSec))} | ${withRange(celeryRate)} ${v.text} ${loads([...mine, ...celery].map((d) => d.load))} |`);
  }
  const rtMine = of(run.roundTrips, 'celeriac', queueType);
  const rtTheirs = of(run.roundTrips, 'celery', queueType);
  for (const p of ['p50', 'p99'] as const) {
    const a = rtMine.map((r) => r[p]);
    const b = rtTheirs.map((r) => r[p]);
    const v = verdict(median(a), median(b), TARGETS.roundTripRatio, false);
    lines.push(`| round trip ${p}, rpc:// (ms; Celeriac ${rtMine[0]?.config ?? ''}, Celery ${rtTheirs[0]?.config ?? ''}) | ${withRange(a, 2)} | ${withRange(b, 2)} ${v.text} ${loads([...rtMine, ...rtTheirs].map((r) => r.load))} |`);
  }
  const top = concurrencies.at(-1);
  const mineTop = top === undefined ? [] : of(run.drains, 'celeriac', queueType, top);
  const rows: [string, (d: DrainRun) => number, number][] = [
    ['worker CPU per task (us, user+system, process tree)', (d) => d.workerCpuUs, 0],
    ['worker peak RSS (MiB)', (d) => d.peakRssMb, 1],
    ['RabbitMQ CPU per task (us, beam.smp: everyone on the broker)', (d) => d.rabbitCpuUs, 0],
    ['client CPU per task (us: the bench process getting every result)', (d) => d.clientCpuUs, 0],
  ];
  for (const [label, pick, digits] of rows) {
    const a = mineTop.map(pick);
    const b = celery.map(pick);
    const ratio = median(a) / median(b);
    lines.push(`| ${label}, drain ${top ?? ''} / Celery's fastest | ${withRange(a, digits)} | ${withRange(b, digits)} | ${Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : 'n/a'} | | ${loads([...mineTop, ...celery].map((d) => d.load))} |`);
  }
  const fills = run.drains.filter((d) => d.queueType === queueType).map((d) => d.enqueuePerSec);
  lines.push(`| enqueue batched (tasks/s: Celeriac's sendTasks, batches of 1,000, every drain's fill) | ${withRange(fills)} | | | | |`);
  const rss = [rtMine, rtTheirs].map((rs) => withRange(rs.map((r) => r.peakRssMb), 1));
  lines.push(`| worker peak RSS during the round trips (MiB) | ${rss[0]} | ${rss[1]} | | | |`);
  return lines;
}

function configTable(run: AmqpRun): string[] {
  const lines = ['### Every configuration (medians of the rounds, range)', '', '| queues | side | configuration | drain (tasks/s) | worker CPU (us/task) | peak RSS (MiB) | RabbitMQ CPU (us/task) | load (1 min) |', '|---|---|---|---:|---:|---:|---:|---|'];
  const keys = new Map<string, DrainRun[]>();
  for (const d of run.drains) keys.set(`${d.queueType}\u0000${d.side}\u0000${d.config}`, [...(keys.get(`${d.queueType}\u0000${d.side}\u0000${d.config}`) ?? []), d]);
  for (const [key, ds] of keys) {
    const [queueType, side, config] = key.split('\u0000');
    lines.push(`| ${queueType} | ${side === 'celeriac' ? 'Celeriac' : `Celery ${run.celeryVersions[queueType as QueueType] ?? ''}`} | ${config} | ${withRange(ds.map((d) => d.tasksPerSec))} | ${withRange(ds.map((d) => d.workerCpuUs))} | ${withRange(ds.map((d) => d.peakRssMb), 1)} | ${withRange(ds.map((d) => d.rabbitCpuUs))} | ${loads(ds.map((d) => d.load))} |`);
  }
  return lines;
}

function floorLines(run: AmqpRun): string[] {
  if (run.floors.length === 0) return [];
  const lines = ['', '### amqplib floors (classic queues, c = the highest concurrency)', '', '| floor | publish (tasks/s) | drain (tasks/s) | CPU (us/task) | load (1 min) |', '|---|---:|---:|---:|---|'];
  for (const kind of ['minimal', 'celery'] as const) {
    const fs = run.floors.filter((f) => f.kind === kind);
    if (fs.length === 0) continue;
    lines.push(`| ${kind === 'minimal' ? 'minimal' : "Celery's messages, ack after confirm"} | ${withRange(fs.map((f) => f.publish))} | ${withRange(fs.map((f) => f.drain))} | ${withRange(fs.map((f) => f.cpuUs))} | ${loads(fs.map((f) => f.load))} |`);
  }
  return lines;
}

function roundLines(run: AmqpRun): string[] {
  const lines = ['', '### Every measurement, in order', '', '| round | queues | side | configuration | result | worker CPU (us/task) | load (1 min) |', '|---|---|---|---|---|---:|---|'];
  const all = [...run.drains.map((d) => ({ ...d, what: `${fmt(d.tasksPerSec)} tasks/s`, cpu: fmt(d.workerCpuUs) })), ...run.roundTrips.map((r) => ({ ...r, what: `round trip p50 ${fmt(r.p50, 2)} / p99 ${fmt(r.p99, 2)} ms`, cpu: '' }))];
  all.sort((a, b) => a.round - b.round);
  for (const m of all) lines.push(`| ${m.round} | ${m.queueType} | ${m.side} | ${m.config} | ${m.what} | ${m.cpu} | ${fmt(m.load, 1)} |`);
  return lines;
}

/** The Markdown report of a run. */
export function amqpMarkdown(run: AmqpRun): string {
  const types = [...new Set([...run.drains, ...run.roundTrips].map((d) => d.queueType))];
  const lines = [
    `# RabbitMQ: Celeriac against Python Celery (${run.started} UTC, ${run.host})`,
    '',
    `\`${run.command}\` on commit ${run.commit}; RabbitMQ ${run.rabbitmq}, one vhost made for the run; ${run.rounds} round(s), medians (range) of the rounds;`,
    `load average (1, 5, 15 min) ${run.loadBefore.map((l) => l.toFixed(1)).join(' ')} before, ${run.loadAfter.map((l) => l.toFixed(1)).join(' ')} after (2-core machine).`,
    'Every drain: n `bench.noop` tasks sent first by a Celeriac client, then a worker started with late acks, prefetch 4 x c, rpc:// results; timed from its readiness until the client had every result.',
    "Celery's column is its fastest drain configuration on every drain row; ratios are Celeriac / Celery (above 1x is better for rates, below for times).",
    '',
  ];
  for (const t of types) lines.push(...typeTable(run, t), '');
  lines.push(...configTable(run), ...floorLines(run), ...roundLines(run));
  if (run.notes.length > 0) lines.push('', '### Notes', '', ...run.notes.map((n) => `- ${n}`));
  return `${lines.join('\n')}\n`;
}
