/**
 * The query mix of the dashboard benches (store-bench.ts calls queryTasks with it, store-bench.ts --http
 * sends it to `/api/tasks`): filters, sorts, pages and the search language over events.ts's data.
 */
import type { TaskQuery } from '../../packages/dashboard/src/store/index.js';
import { NAMES, T_START, WORKERS } from './events.js';

/** One query shape: `query(k, n)` is its k-th run at n tasks. */
export interface Shape { readonly label: string; readonly query: (k: number, n: number) => TaskQuery }

export const SHAPES: readonly Shape[] = [
  { label: 'newest page, no filter', query: () => ({ limit: 50 }) },
  { label: 'state FAILURE', query: () => ({ states: ['FAILURE'], limit: 50 }) },
  { label: 'name + sort by received', query: (k) => ({ name: NAMES[k % NAMES.length] as string, sort: { field: 'received', dir: 'desc' }, limit: 50 }) },
  { label: 'worker + last 10% of time', query: (k, n) => ({ worker: WORKERS[k % WORKERS.length] as string, timeField: 'received', from: (T_START + n * 0.009) * 1000, limit: 50 }) },
  { label: 'runtime >= 2 s', query: () => ({ runtimeMin: 2, sort: { field: 'runtime', dir: 'desc' }, limit: 50 }) },
  { label: 'search kwargs.user_id:N', query: (k) => ({ search: `kwargs.user_id:${(k * 7919) % 100_000}`, limit: 50 }) },
  { label: 'search free text (rare)', query: (k) => ({ search: `"user${(k * 104_729) % 100_000}@example"`, limit: 50 }) },
  { label: 'search free text (common)', query: () => ({ search: 'order', limit: 50 }) },
  { label: 'search args:"order-N"', query: (k, n) => ({ search: `args:"order-${(k * 7877 + 1009) % n}'"`, limit: 50 }) },
  { label: 'search state + exception', query: () => ({ search: 'state:FAILURE exception:timeout', limit: 50 }) },
  { label: 'search name:* AND NOT state', query: () => ({ search: 'name:proj.email.* AND NOT state:SUCCESS', limit: 50 }) },
  { label: 'search OR of two kwargs', query: (k) => ({ search: `kwargs.user_id:${k} OR kwargs.user_id:${k + 1}`, limit: 50 }) },
  { label: 'states SUCCESS,FAILURE,RETRY', query: () => ({ states: ['SUCCESS', 'FAILURE', 'RETRY'], limit: 50 }) },
  { label: 'states FAILURE + name', query: (k) => ({ states: ['FAILURE', 'RETRY'], name: NAMES[k % NAMES.length] as string, limit: 50 }) },
  { label: 'received 5 min window, by received', query: (k, n) => ({ timeField: 'received', from: (T_START + ((k * 104729) % n) * 0.01) * 1000, to: (T_START + ((k * 104729) % n) * 0.01 + 300) * 1000, sort: { field: 'received', dir: 'desc' }, limit: 50 }) },
  { label: 'received 5 min window, by time', query: (k, n) => ({ timeField: 'received', from: (T_START + ((k * 104729) % n) * 0.01) * 1000, to: (T_START + ((k * 104729) % n) * 0.01 + 300) * 1000, limit: 50 }) },
  { label: 'runtime 0.5-1 s, by runtime', query: () => ({ runtimeMin: 0.5, runtimeMax: 1, sort: { field: 'runtime', dir: 'asc' }, limit: 50 }) },
  { label: 'page at offset 1,000', query: (k) => ({ offset: 1000 + k * 50, limit: 50 }) },
  { label: 'page at offset 50,000', query: (k) => ({ offset: 50_000 + k * 50, limit: 50 }) },
  { label: 'state page at offset 10,000', query: (k) => ({ states: ['SUCCESS'], sort: { field: 'received', dir: 'desc' }, offset: 10_000 + k * 50, limit: 50 }) },
  { label: 'search result:"order-N"', query: (k, n) => ({ search: `result:"'order-${(k * 7877 + 1009) % n}'"`, limit: 50 }) },
  { label: 'search exception: (common)', query: () => ({ search: 'exception:timed', limit: 50 }) },
  { label: 'search (a OR b) -state', query: (k) => ({ search: `(refund OR thumbnail) -state:FAILURE worker:${WORKERS[k % WORKERS.length] as string}`, limit: 50 }) },
  { label: 'search text, time, runtime', query: (k, n) => ({ search: `email received>${new Date((T_START + n * 0.005) * 1000).toISOString().slice(0, 16)} runtime>0.3`, limit: 50 }) },
];
