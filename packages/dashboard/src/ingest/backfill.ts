/**
 * @module ingest/backfill
 * On first start (an empty history), recent results are read from a Redis result backend
 * (`celery-task-meta-*`, Celery's keys) and handed to the store, so the dashboard shows what
 * ran before it existed. Bounded: at most `limit` keys, read in batches with SCAN and MGET.
 * Values are turned into the Python reprs the events carry, so search treats them alike.
 */
import { createClient } from '@redis/client';
import type { BackfilledResult, HistoryStore } from '../store/history-store.js';

const META_PREFIX = 'celery-task-meta-';

/** A JSON value as Python's repr would print it (what Celery's events carry). */
export function pyRepr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(v);
  if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`).join(', ')}}`;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/** One stored meta as a backfilled result, or null when it is not one. */
export function resultOf(raw: string): BackfilledResult | null {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (typeof m !== 'object' || m === null || typeof m['task_id'] !== 'string' || typeof m['status'] !== 'string') return null;
  const state = m['status'];
  const result = m['result'];
  const failed = typeof result === 'object' && result !== null && 'exc_type' in result;
  const done = str(m['date_done']);
  const dateDone = done === null ? null : Date.parse(/Z|[+-]\d\d:?\d\d$/.test(done) ? done : `${done}Z`);
  return {
    uuid: m['task_id'],
    state,
    dateDone: dateDone !== null && Number.isFinite(dateDone) ? dateDone : null,
    name: str(m['name']),
    args: Array.isArray(m['args']) ? pyRepr(m['args']) : null,
    kwargs: typeof m['kwargs'] === 'object' && m['kwargs'] !== null ? pyRepr(m['kwargs']) : null,
    result: failed ? `${String((result as Record<string, unknown>)['exc_type'])}(${pyRepr((result as Record<string, unknown>)['exc_message'])})` : pyRepr(result),
    traceback: str(m['traceback']),
    worker: str(m['worker']),
    queue: str(m['queue']),
    retries: typeof m['retries'] === 'number' ? m['retries'] : null,
    parentId: str(m['parent_id']),
    groupId: str(m['group_id']),
  };
}

/** Reads up to `limit` results from a Redis backend into the store; returns how many. */
export async function backfillFromRedis(backendUrl: string, store: HistoryStore, limit = 10_000): Promise<number> {
  const client = createClient({ url: backendUrl, socket: { connectTimeout: 2000, reconnectStrategy: false } });
  client.on('error', () => {});
  await client.connect();
  let total = 0;
  try {
    let keys: string[] = [];
    const flush = async () => {
      if (keys.length === 0) return;
      const values = await client.mGet(keys);
      keys = [];
      const results = values.map((v) => (typeof v === 'string' ? resultOf(v) : null)).filter((r): r is BackfilledResult => r !== null);
      if (results.length > 0) total += await store.backfill(results);
    };
    let seen = 0;
    for await (const batch of client.scanIterator({ MATCH: `${META_PREFIX}*`, COUNT: 500 })) {
      for (const k of batch as unknown as string[]) {
        if (seen >= limit) break;
        keys.push(k);
        seen++;
      }
      if (keys.length >= 500) await flush();
      if (seen >= limit) break;
    }
    await flush();
  } finally {
    client.destroy();
  }
  return total;
}
