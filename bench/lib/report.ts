/**
 * @module bench/lib/report
 * Turns raw results into the Markdown table (rows: metric x configuration; a column per peer
 * and a Celeriac/peer ratio column per peer) and the targets of the issue.
 */
import { EVENTS_COST_TARGET, renderEventsCost } from './events-cost.js';
import { WARMUP_CALLS } from './flow.js';
import { renderSteadiness, type Steadiness } from './steadiness.js';
import { batchedRate, drainFor, renderTargets } from './targets.js';
import { PEER_LABELS, PEER_NAMES, type DrainResult, type EnqueueResult, type PeerName, type RoundTripResult } from './types.js';

/** Everything measured for one peer. */
export interface PeerResults {
  version?: string;
  /** The median of {@link PeerResults.oneByOneSamples} (see {@link medianEnqueue}). */
  oneByOne?: EnqueueResult;
  /** Every one-by-one enqueue, one per round, in the order measured (absent in runs before they were interleaved). */
  oneByOneSamples?: EnqueueResult[];
  batched?: EnqueueResult;
  /** Every standalone batched enqueue, one per round (before 2026-11-26 also every drain's fill of the same n). */
  batchedSamples: EnqueueResult[];
  /** Per drain configuration, the median of its samples (see {@link medianDrains}). */
  drains: DrainResult[];
  /** Every drain measured, all rounds. */
  drainSamples: DrainResult[];
  roundTrip?: RoundTripResult;
  /** Step -> why it has no number. */
  notes: Record<string, string>;
}

/** The whole run. */
export interface RunReport {
  startedAt: string;
  durationSec: number;
  quick: boolean;
  machine: Record<string, string>;
  sizes: { oneByOne: number; batched: number; drain: number; roundTrip: number; concurrencies: number[] };
  peers: Partial<Record<PeerName, PeerResults>>;
  /** Interleaved drain rounds of the JS peers (absent in runs before rounds existed: 1). */
  rounds?: number;
  /** The line printed by layout-floor.ts in this run (Celeriac runs only), or why it is missing. */
  layoutFloor?: string;
  /** The round trip's floor on Celery's layout in this run (peers/layout-floor.ts; Celeriac runs only), or why it failed. */
  roundTripFloor?: RoundTripResult | { readonly failed: string };
  /** Whether the machine kept its speed through the run (absent in runs before 2026-11-28). */
  steadiness?: Steadiness;
}

type Better = 'higher' | 'lower';
interface Cell {
  value: number | null;
  text: string;
}
interface Row {
  metric: string;
  better: Better;
  cells: Partial<Record<PeerName, Cell>>;
}

const fmt = (v: number, digits = 0) => v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const missing = (note: string | undefined): Cell => ({ value: null, text: note ? `— (${note})` : '—' });

/**
 * Per drain configuration (in first-seen order), its median sample by rate: the middle one
 * of an odd count, the lower middle of an even one. A skipped sample counts as slowest.
 */
export function medianDrains(samples: readonly DrainResult[]): DrainResult[] {
  const byLabel = new Map<string, DrainResult[]>();
  for (const d of samples) {
    const list = byLabel.get(d.config.label);
    if (list === undefined) byLabel.set(d.config.label, [d]);
    else list.push(d);
  }
  return [...byLabel.values()].map((list) => {
    const sorted = [...list].sort((a, b) => (a.skipped ? 0 : a.perSec) - (b.skipped ? 0 : b.perSec));
    return sorted[Math.floor((sorted.length - 1) / 2)] as DrainResult;
  });
}

/** The median of enqueue samples by rate (the lower middle of an even count); undefined when there are none. */
export function medianEnqueue(samples: readonly EnqueueResult[]): EnqueueResult | undefined {
  const sorted = [...samples].sort((a, b) => a.perSec - b.perSec);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** The rates of every drain sample at one concurrency (events on or off), in the order measured. */
function sampleRates(r: PeerResults, concurrency: number, events = false): number[] {
  return r.drainSamples.filter((d) => d.config.concurrency === concurrency && (d.config.events === true) === events && d.skipped === undefined).map((d) => d.perSec);
}

/** Celeriac's drain with task events on (`-E`), when the run had one. */
function eventsDrain(r: PeerResults): DrainResult | undefined {
  return r.drains.find((d) => d.config.events === true);
}

function rows(report: RunReport): Row[] {
  const out: Row[] = [];
  const peers = PEER_NAMES.filter((p) => report.peers[p] !== undefined);
  const each = (metric: string, better: Better, cell: (r: PeerResults, p: PeerName) => Cell) => {
    const cells: Partial<Record<PeerName, Cell>> = {};
    for (const p of peers) cells[p] = cell(report.peers[p] as PeerResults, p);
    out.push({ metric, better, cells });
  };
  const s = report.sizes;
  const oneByOneRounds = Math.max(0, ...PEER_NAMES.map((p) => report.peers[p]?.oneByOneSamples?.length ?? 0));
  each(`Enqueue one-by-one, tasks/s (n=${fmt(s.oneByOne)}${oneByOneRounds > 1 ? `, median of ${oneByOneRounds} rounds` : ''})`, 'higher', (r) =>
    r.oneByOne ? { value: r.oneByOne.perSec, text: fmt(r.oneByOne.perSec) } : missing(r.notes.oneByOne));
  const batchedRounds = Math.max(0, ...PEER_NAMES.map((p) => report.peers[p]?.batchedSamples.length ?? 0));
  each(`Enqueue batched, tasks/s (n=${fmt(s.batched)}, ${batchedRounds > 1 ? `median of ${batchedRounds} rounds` : 'median over runs'})`, 'higher', (r) => {
    const v = batchedRate(r);
    return v === null ? missing(r.notes.batched) : { value: v, text: fmt(v) };
  });
  const rounds = report.rounds ?? 1;
  const median = rounds > 1 ? `median of ${rounds} rounds; ` : '';
  for (const c of s.concurrencies) {
    each(`Drain ${fmt(s.drain)} tasks, c=${c}, tasks/s (${median}Celery: its best config)`, 'higher', (r, p) => {
      const d = drainFor(r, p, c);
      if (d === undefined) return missing(r.notes[`drain c=${c}`] ?? r.notes.drain);
      if (d.skipped) return missing(d.skipped);
      const label = p === 'celery' ? ` (${d.config.label})` : '';
      return { value: d.perSec, text: `${fmt(d.perSec)} in ${fmt(d.seconds, 2)} s${label}` };
    });
  }
  const top = Math.max(...s.concurrencies);
  if (report.peers.celeriac !== undefined && eventsDrain(report.peers.celeriac) !== undefined) {
    each(`Drain ${fmt(s.drain)} tasks, c=${top}, task events on (-E), tasks/s (Celeriac only; cost: see below)`, 'higher', (r, p) => {
      const d = p === 'celeriac' ? eventsDrain(r) : undefined;
      if (d === undefined) return missing(undefined);
      if (d.skipped) return missing(d.skipped);
      return { value: d.perSec, text: `${fmt(d.perSec)} in ${fmt(d.seconds, 2)} s` };
    });
  }
  each(`Round trip p50, ms (${fmt(s.roundTrip)} sequential, after ${fmt(WARMUP_CALLS)} unmeasured)`, 'lower', (r) =>
    r.roundTrip && !r.roundTrip.skipped ? { value: r.roundTrip.p50Ms, text: fmt(r.roundTrip.p50Ms, 3) } : missing(r.roundTrip?.skipped ?? r.notes.roundTrip));
  each(`Round trip p99, ms`, 'lower', (r) =>
    r.roundTrip && !r.roundTrip.skipped ? { value: r.roundTrip.p99Ms, text: fmt(r.roundTrip.p99Ms, 3) } : missing(r.roundTrip?.skipped ?? r.notes.roundTrip));
  // What a round trip costs the machine: on this 2-core VM the client, the worker and Redis
  // share two CPUs, and each socket write that wakes another process is dear.
  each('Round trip CPU per call, us: client + worker + Redis (each)', 'lower', (r) => {
    const cpu = r.roundTrip?.skipped === undefined ? r.roundTrip?.cpuUs : undefined;
    if (cpu === undefined) return missing(undefined);
    const total = cpu.client + cpu.worker + cpu.redis;
    return { value: total, text: `${fmt(total)} (${fmt(cpu.client)} + ${fmt(cpu.worker)} + ${fmt(cpu.redis)})` };
  });
  each(`Worker peak RSS, MB, drain c=${top} (Celery: best config)`, 'lower', (r, p) => {
    const d = drainFor(r, p, top);
    return d?.rss ? { value: d.rss.peakMb, text: fmt(d.rss.peakMb, 1) } : missing(undefined);
  });
  each('Worker peak RSS, MB, round trip', 'lower', (r) =>
    r.roundTrip?.rss ? { value: r.roundTrip.rss.peakMb, text: fmt(r.roundTrip.rss.peakMb, 1) } : missing(undefined));
  // Where a drain's CPU went: a 2-core machine runs the worker and Redis side by side, so
  // tasks/s is bounded by their sum as much as by either one.
  const perTask = (seconds: number | undefined, n: number): Cell => (seconds === undefined ? missing(undefined) : { value: (seconds / n) * 1e6, text: fmt((seconds / n) * 1e6, 1) });
  each(`Worker CPU per task, us, drain c=${top} (all its threads; Celery: best config, process tree)`, 'lower', (r, p) => {
    const d = drainFor(r, p, top);
    return d === undefined || d.skipped ? missing(undefined) : perTask(d.cpuSec, d.n);
  });
  each(`Worker main-thread CPU per task, us, drain c=${top} (Node workers; the rest of their CPU is V8's compiler and GC helpers)`, 'lower', (r, p) => {
    const d = drainFor(r, p, top);
    return d === undefined || d.skipped ? missing(undefined) : perTask(d.mainThreadCpuSec, d.n);
  });
  each(`Redis server CPU per task, us, drain c=${top}`, 'lower', (r, p) => {
    const d = drainFor(r, p, top);
    return d === undefined || d.skipped ? missing(undefined) : perTask(d.redisCpuSec, d.n);
  });
  return out;
}

function ratio(a: Cell | undefined, b: Cell | undefined): string {
  if (a?.value == null || b?.value == null || b.value === 0) return '—';
  return `${fmt(a.value / b.value, 2)}x`;
}

/** The main table. */
export function renderTable(report: RunReport): string {
  const peers = PEER_NAMES.filter((p) => report.peers[p] !== undefined);
  const others = peers.filter((p) => p !== 'celeriac');
  const head = ['Metric', 'Better', ...peers.map((p) => PEER_LABELS[p]), ...(peers.includes('celeriac') ? others.map((p) => `Celeriac/${PEER_LABELS[p]}`) : [])];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map((_, i) => (i < 2 ? '---' : '---:')).join(' | ')} |`];
  for (const row of rows(report)) {
    const cells = [row.metric, row.better === 'higher' ? '↑' : '↓', ...peers.map((p) => row.cells[p]?.text ?? '—')];
    if (peers.includes('celeriac')) for (const p of others) cells.push(ratio(row.cells.celeriac, row.cells[p]));
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Every round's drain rate per peer and concurrency, when there was more than one round. */
export function renderRounds(report: RunReport): string {
  if ((report.rounds ?? 1) <= 1) return '';
  const peers = PEER_NAMES.filter((p) => p !== 'celery' && report.peers[p] !== undefined);
  const lines = ['| Rounds, tasks/s | ' + peers.map((p) => PEER_LABELS[p]).join(' | ') + ' |', `| --- | ${peers.map(() => '---:').join(' | ')} |`];
  if (peers.some((p) => (report.peers[p]?.oneByOneSamples?.length ?? 0) > 1)) {
    lines.push(`| enqueue one-by-one | ${peers.map((p) => (report.peers[p]?.oneByOneSamples ?? []).map((e) => fmt(e.perSec)).join(' / ') || '—').join(' | ')} |`);
    lines.push(`| enqueue batched | ${peers.map((p) => (report.peers[p]?.batchedSamples ?? []).map((e) => fmt(e.perSec)).join(' / ') || '—').join(' | ')} |`);
  }
  for (const c of report.sizes.concurrencies) {
    const cells = peers.map((p) => sampleRates(report.peers[p] as PeerResults, c).map((v) => fmt(v)).join(' / ') || '—');
    lines.push(`| c=${c} | ${cells.join(' | ')} |`);
  }
  const ce = report.peers.celeriac;
  if (ce !== undefined && eventsDrain(ce) !== undefined) {
    const top = Math.max(...report.sizes.concurrencies);
    lines.push(`| c=${top} -E | ${peers.map((p) => (p === 'celeriac' ? sampleRates(ce, top, true).map((v) => fmt(v)).join(' / ') : '—')).join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Celery's drain configurations, one row each. */
export function renderCeleryConfigs(report: RunReport): string {
  const c = report.peers.celery;
  if (c === undefined || c.drains.length === 0) return '';
  const lines = ['| Celery drain config | tasks/s | seconds | peak RSS, MB | note |', '| --- | ---: | ---: | ---: | --- |'];
  for (const d of c.drains) {
    lines.push(`| ${d.config.label} | ${fmt(d.perSec)} | ${fmt(d.seconds, 2)} | ${d.rss ? fmt(d.rss.peakMb, 1) : '—'} | ${d.skipped ?? ''} |`);
  }
  return lines.join('\n');
}

/** The events-on cost table of Celeriac, when the run drained with `-E`. */
function eventsSection(report: RunReport): string[] {
  const ce = report.peers.celeriac;
  const table = ce === undefined ? '' : renderEventsCost(ce.drainSamples, Math.max(...report.sizes.concurrencies));
  if (table === '') return [];
  return [
    `Celeriac with task events on (\`-E\`: \`sendTaskEvents\`), against off, each round draining both back to back; a subscriber on the run's \`celeryev\` channels receives every message, as a dashboard on another machine would, and counts them without decoding them (lib/event-listener.ts). Target: under ${EVENTS_COST_TARGET * 100}% more time and worker CPU per task.`,
    '',
    table,
    '',
  ];
}

/** The whole Markdown document. */
export function renderMarkdown(report: RunReport): string {
  const m = report.machine;
  const versions = PEER_NAMES.filter((p) => report.peers[p]).map((p) => `${PEER_LABELS[p]} ${report.peers[p]?.version ?? '?'}`).join(', ');
  const notes = PEER_NAMES.flatMap((p) => Object.entries(report.peers[p]?.notes ?? {}).map(([k, v]) => `- ${PEER_LABELS[p]}, ${k}: ${v}`));
  const steadiness = renderSteadiness(report.steadiness);
  return [
    `# Celeriac bench — ${report.startedAt}${report.quick ? ' (quick)' : ''}`,
    '',
    `Machine: ${m.host}, ${m.cpu}, ${m.cores} cores, ${m.memory}; Node ${m.node}; Redis ${m.redis} on ${m.redisAddress}. Run took ${fmt(report.durationSec)} s.`,
    `Versions: ${versions}.${m.commit === undefined ? '' : ` Celeriac built from commit ${m.commit}.`}`,
    ...(m.gcBeforeSteps === undefined ? [] : [`Full GC of the bench process before each measured step: ${m.gcBeforeSteps}.`]),
    ...(steadiness === null ? [] : [steadiness.summary]),
    '',
    renderTable(report),
    '',
    'Ratios are Celeriac/peer for every row: above 1x is better for ↑ rows, below 1x is better for ↓ rows.',
    '',
    ...((report.rounds ?? 1) > 1 ? ['Each round, in the order measured (rounds interleave the peers, each round starting with the next one):', '', renderRounds(report), ''] : []),
    ...eventsSection(report),
    renderCeleryConfigs(report),
    '',
    ...(report.layoutFloor === undefined
      ? []
      : [
          'Ceiling of the Celery layout on this machine, same run (`bench/layout-floor.ts`: a bare loop of fetch.lua, decode, store-metas.lua, ack.lua, no worker around it):',
          '',
          `> ${report.layoutFloor}`,
          '',
        ]),
    ...roundTripFloorSection(report.roundTripFloor),
    '## Targets (reported, not asserted)',
    '',
    renderTargets(report),
    ...(steadiness === null ? [] : ['', steadiness.verdict]),
    ...(notes.length > 0 ? ['', '## Notes', '', ...notes] : []),
    '',
  ].join('\n');
}

/** The round trip's floor, under the drain's. */
function roundTripFloorSection(floor: RunReport['roundTripFloor']): string[] {
  if (floor === undefined) return [];
  const line =
    'failed' in floor
      ? `FAILED: ${floor.failed}`
      : `Round-trip floor: p50 ${fmt(floor.p50Ms, 3)} ms, p99 ${fmt(floor.p99Ms, 3)} ms` +
        (floor.cpuUs === undefined ? '' : `; CPU per call ${fmt(floor.cpuUs.client + floor.cpuUs.worker + floor.cpuUs.redis)} µs (${fmt(floor.cpuUs.client)} + ${fmt(floor.cpuUs.worker)} + ${fmt(floor.cpuUs.redis)}: client + worker + Redis)`);
  return [
    'Round trip on the Celery layout at its least, same run (`bench/peers/layout-floor.ts`: one write per call, SUBSCRIBE first, the result as a push, against a bare worker with the engine\'s scripts and writes, `-c 10`):',
    '',
    `> ${line}`,
    '',
  ];
}
