/**
 * @module bench/lib/api-report
 * The API bench's table: per client concurrency, each service's requests/s, latency of the
 * whole request -> result path, errors and server-side CPU per call, and the ratios.
 */
import type { ApiStack } from './api-args.js';
import type { LoadResult } from './api-load.js';

/** One measurement of one service at one concurrency. */
export interface ApiMeasurement {
  readonly stack: ApiStack;
  readonly load: LoadResult;
  /** CPU seconds of the service's processes (API + worker) during the measurement. */
  readonly serverCpuSec: number;
}

const LABELS: Record<ApiStack, string> = { celeriac: 'reference app (Celeriac)', bullmq: 'Fastify + BullMQ' };
const fmt = (v: number, digits = 0) => (Number.isFinite(v) ? v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '—');

/** Celeriac / BullMQ of a metric, or — when either is missing. */
function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? '—' : `${fmt(a / b, 2)}x`;
}

/** The Markdown table, one block of rows per concurrency. */
export function renderApiTable(measurements: readonly ApiMeasurement[]): string {
  const concurrencies = [...new Set(measurements.map((m) => m.load.concurrency))];
  const stacks = (['celeriac', 'bullmq'] as const).filter((s) => measurements.some((m) => m.stack === s));
  const both = stacks.length === 2;
  const head = ['Client concurrency', 'Metric', ...stacks.map((s) => LABELS[s]), ...(both ? ['Celeriac / BullMQ'] : [])];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map((_, i) => (i < 2 ? '---' : '---:')).join(' | ')} |`];
  for (const c of concurrencies) {
    const at = (s: ApiStack) => measurements.find((m) => m.stack === s && m.load.concurrency === c);
    const row = (metric: string, pick: (m: ApiMeasurement) => number, digits: number, ratioed = true) => {
      const values = stacks.map((s) => {
        const m = at(s);
        return m === undefined ? undefined : pick(m);
      });
      const cells = values.map((v) => (v === undefined ? '—' : fmt(v, digits)));
      lines.push(`| c=${c} | ${metric} | ${cells.join(' | ')}${both ? ` | ${ratioed ? ratio(values[0], values[1]) : '—'}` : ''} |`);
    };
    row('requests/s ↑', (m) => m.load.perSec, 0);
    row('latency p50, ms ↓', (m) => m.load.p50Ms, 2);
    row('latency p99, ms ↓', (m) => m.load.p99Ms, 2);
    row('server CPU per call, us (API + worker processes) ↓', (m) => (m.load.n > 0 ? (m.serverCpuSec / m.load.n) * 1e6 : Number.NaN), 0);
    row('errors', (m) => m.load.errors, 0, false);
  }
  return lines.join('\n');
}

/** The first error of each measurement that had any, for the notes. */
export function apiErrors(measurements: readonly ApiMeasurement[]): string[] {
  return measurements.filter((m) => m.load.errors > 0).map((m) => `${LABELS[m.stack]}, c=${m.load.concurrency}: ${m.load.errors} failed calls; first: ${m.load.firstError ?? '?'}`);
}
