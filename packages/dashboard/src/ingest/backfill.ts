/**
 * @module ingest/backfill
 * On first start (an empty history), recent results are read from a Redis result backend
 * (`celery-task-meta-*`, Celery's keys) and handed to the store, so the dashboard shows what
 * ran before it existed. Bounded: at most `limit` keys, read in batches with SCAN and MGET.
 * Values are turned into the Python reprs the events carry, so search treats them alike.
 */
import type { Json } from 'celeriac';
import { pyRepr } from 'celeriac/monitor';
import { BackendKeys, closeRedisClient, createRedisClient, kombuUrlDefaults, parseRedisUrl, resultKeyPrefix, scanPattern } from 'celeriac/redis';
import type { BackfilledResult, HistoryStore } from '../store/history-store.js';

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
    args: Array.isArray(m['args']) ? pyRepr(m['args'] as Json) : null,
    kwargs: typeof m['kwargs'] === 'object' && m['kwargs'] !== null ? pyRepr(m['kwargs'] as Json) : null,
    result: failed ? `${String((result as Record<string, unknown>)['exc_type'])}(${pyRepr((result as Record<string, unknown>)['exc_message'] as Json)})` : pyRepr(result as Json),
    traceback: str(m['traceback']),
    worker: str(m['worker']),
    queue: str(m['queue']),
    retries: typeof m['retries'] === 'number' ? m['retries'] : null,
    parentId: str(m['parent_id']),
    groupId: str(m['group_id']),
  };
}

/**
 * Reads up to `limit` results from a Redis backend (any URL the engine takes, Sentinel too) into the store; returns how many.
 * `transportOptions` are the app's `resultBackendTransportOptions` (`master_name` for a `sentinel://` URL without one, `sentinel_kwargs`,
 * `global_keyprefix` before the result keys, as Celery 5.3+ puts it).
 */
export async function backfillFromRedis(backendUrl: string, store: HistoryStore, limit = 10_000, transportOptions: Readonly<Record<string, unknown>> = {}): Promise<number> {
  const target = parseRedisUrl(backendUrl, kombuUrlDefaults(transportOptions));
  const client = createRedisClient(target, { name: 'celeriac-flower-backfill', connectTimeoutMs: 2000 });
  const prefix = transportOptions['global_keyprefix'];
  const pattern = scanPattern(new BackendKeys(resultKeyPrefix(typeof prefix === 'string' ? prefix : undefined), target.db).taskMeta(''));
  let total = 0;
  try {
    await client.connect();
    let keys: string[] = [];
    const flush = async () => {
      if (keys.length === 0) return;
      const values = await client.mGet(keys);
      keys = [];
      const results = values.map((v) => (typeof v === 'string' ? resultOf(v) : null)).filter((r): r is BackfilledResult => r !== null);
      if (results.length > 0) total += await store.backfill(results);
    };
    let seen = 0;
    let cursor = '0';
    do {
      const reply = await client.scan(cursor, { MATCH: pattern, COUNT: 500 });
      cursor = String(reply.cursor);
      for (const k of reply.keys) {
        if (seen >= limit) break;
        keys.push(String(k));
        seen++;
      }
      if (keys.length >= 500) await flush();
    } while (cursor !== '0' && seen < limit);
    await flush();
  } finally {
    await closeRedisClient(client, 0);
  }
  return total;
}
