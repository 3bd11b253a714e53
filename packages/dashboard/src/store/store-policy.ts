/**
 * @module store/store-policy
 * What the history store keeps and when it looks after itself: its options resolved (ages,
 * sizes, search bounds), the states kept longer, and the rules that decide when it runs
 * ANALYZE and VACUUM. Pure: sql-history-store.ts acts on them.
 */
import type { HistoryStoreOptions } from './history-store.js';
import { COUNT_COST_LIMIT, SEARCH_WINDOW } from './read-sql.js';
import { checkSchemaName } from './sql-driver.js';

const DAY = 86_400_000;

/** {@link HistoryStoreOptions} resolved once. */
export interface ResolvedHistoryStoreOptions {
  readonly databaseUrl: string | null;
  readonly dataDir: string | null;
  readonly schema: string;
  readonly payloadCap: number;
  readonly maxAgeMs: number;
  readonly failureMaxAgeMs: number;
  readonly maxTasks: number;
  readonly searchWindow: number;
  readonly countCostLimit: number;
}

/** Validates and fills in defaults. */
export function resolveHistoryStoreOptions(options: HistoryStoreOptions = {}): ResolvedHistoryStoreOptions {
  const positive = (name: string, value: number | undefined, fallback: number) => {
    const v = value ?? fallback;
    if (!Number.isFinite(v) || v <= 0) throw new RangeError(`HistoryStore: ${name} must be a positive number, got ${String(value)}`);
    return v;
  };
  return Object.freeze({
    databaseUrl: options.databaseUrl ?? null,
    dataDir: options.dataDir ?? null,
    schema: checkSchemaName(options.schema ?? 'celeriac_dashboard'),
    payloadCap: Math.floor(positive('payloadCap', options.payloadCap, 16_384)),
    maxAgeMs: positive('maxAgeMs', options.maxAgeMs, 7 * DAY),
    failureMaxAgeMs: positive('failureMaxAgeMs', options.failureMaxAgeMs, 30 * DAY),
    maxTasks: Math.floor(positive('maxTasks', options.maxTasks, 1_000_000)),
    searchWindow: Math.floor(positive('searchWindow', options.searchWindow, SEARCH_WINDOW)),
    countCostLimit: options.countCostLimit === 0 ? 0 : positive('countCostLimit', options.countCostLimit, COUNT_COST_LIMIT),
  });
}

// Task rows written between two ANALYZE runs: at least this many, and at least this share of
// the rows the last run counted (autovacuum's rule, with its 10% doubled): one run costs about
// the same at 300,000 tasks as at 3,000,000 (a 30,000-row sample), so a fixed interval made
// it the largest single cost of a write at a large history (bench/dashboard/README.md).
const ANALYZE_EVERY = 50_000;
const ANALYZE_GROWTH = 0.2;

/** Whether the store runs ANALYZE, `written` task rows after the last run, which counted `analyzedRows`. */
export function analyzeDue(written: number, analyzedRows: number): boolean {
  return written >= Math.max(ANALYZE_EVERY, analyzedRows * ANALYZE_GROWTH);
}

/**
 * Whether retention has deleted enough rows for a VACUUM: `deleted` task rows since the last
 * one, with about `rowsLeft` rows in the table (autovacuum's default rule: 50 rows and 20%).
 */
export function vacuumDue(deleted: number, rowsLeft: number): boolean {
  return deleted > 0 && deleted >= 50 + 0.2 * Math.max(0, rowsLeft);
}
// States kept for `failureMaxAgeMs` instead of `maxAgeMs`.
export const KEPT_LONGER = ['FAILURE', 'LOST', 'REJECTED'];
