/**
 * @module redis/lost-tasks
 * The one lost-task mechanism on Redis, for both places that record early-acked running tasks:
 * the Redis broker (brokers/redis/running.ts: celeriac.running beside kombu's bookkeeping,
 * holders present in celeriac.promoters) and the Redis result backend for brokers that keep no
 * such record (backends/redis/running-tasks.ts: RabbitMQ). A record is `<holder> <entry>`, the
 * entry in kombu's unacked form `[envelope, exchange, queue]`; take-lost-tasks.lua hands out,
 * once, the records of holders silent for the grace period, and a live worker reports them
 * (worker/lost-tasks.ts: FAILURE WorkerLostError).
 */
import type { LostDelivery } from '../core/spi/broker.js';
import type { RedisClient } from './client.js';
import { loadScript, runScript } from './script.js';

const TAKE_LOST_TASKS = loadScript(new URL('./scripts/take-lost-tasks.lua', import.meta.url));

/** Where one store keeps its records and its holders' presence. */
export interface LostTaskKeys {
  /** Hash: record field -> `<holder> <entry>`. */
  readonly records: string;
  /** Zset: holder -> last seen or presence expiry (epoch ms). */
  readonly presence: string;
  /**
   * Hash: record field -> entry, for records that hold only their holder (the broker's: ack.lua
   * leaves the entry in kombu's unacked hash); taken with them.
   */
  readonly entries?: string;
  /**
   * String: where the walk over the records stopped, shared by every caller (the broker's,
   * whose walk reads every record: take-lost-tasks.lua KEYS[4]); needs `entries`. Without it
   * each call reads every record.
   */
  readonly walk?: string;
}

/** How one store takes its lost records. */
export interface TakeLostOptions {
  readonly graceMs: number;
  /** Most records returned by one call. */
  readonly limit: number;
  /** Epoch ms; undefined for the Redis server's clock. */
  readonly nowMs?: number;
  /** Every record's holder is in the presence set, and the store forgets silent holders (take-lost-tasks.lua ARGV[4]). */
  readonly completePresence: boolean;
  /** The delivery tag of a record field (the backend prefixes its fields with the holder). */
  readonly tagOf?: (field: string, holder: string) => string;
  /** With `walk`: how long a finished pass over the records rests the walk, ms (by `nowMs`'s clock); 0 by default. */
  readonly restMs?: number;
}

/** About how many records one call of a shared walk reads: a millisecond or so of Redis. */
export const WALK_PAGE = 1000;

/** A holder id as records carry it: no whitespace (the record's first space ends it). */
export function holderId(name: string): string {
  return name.replace(/\s/g, '_');
}

/** The record of a task of `queue` whose envelope is `raw`, held by `holder` (an id from {@link holderId}). */
export function lostTaskRecord(holder: string, queue: string, raw: string): string {
  return `${holder} [${JSON.stringify(raw)}, "", ${JSON.stringify(queue)}]`;
}

/** What one call took, and whether a shared walk stopped before the end of its pass (call again soon). */
export interface TakenLost {
  readonly lost: LostDelivery[];
  readonly more: boolean;
}

/** Takes the records of holders silent for the grace period (take-lost-tasks.lua); each is returned once. */
export async function takeLostTasks(client: RedisClient, keys: LostTaskKeys, o: TakeLostOptions): Promise<TakenLost> {
  const args = [String(Math.max(0, Math.round(o.graceMs))), String(o.limit), o.nowMs === undefined ? '' : String(o.nowMs), o.completePresence ? '1' : '0'];
  const scriptKeys = keys.entries === undefined ? [keys.records, keys.presence] : [keys.records, keys.presence, keys.entries];
  if (keys.walk !== undefined) {
    if (keys.entries === undefined) throw new Error('takeLostTasks: a shared walk needs the entries hash (KEYS[3])');
    scriptKeys.push(keys.walk);
    args.push(String(WALK_PAGE), String(Math.max(0, Math.round(o.restMs ?? 0))));
  }
  const flat = (await runScript(client, TAKE_LOST_TASKS, scriptKeys, args)) as string[];
  const first = keys.walk === undefined ? 0 : 1;
  const lost: LostDelivery[] = [];
  for (let i = first; i + 2 < flat.length; i += 3) {
    const field = String(flat[i]);
    const holder = String(flat[i + 1]);
    lost.push({ tag: o.tagOf === undefined ? field : o.tagOf(field, holder), holder, ...fromUnacked(String(flat[i + 2])) });
  }
  return { lost, more: first === 1 && flat[0] === '1' };
}

/**
 * Queue and envelope of a kombu unacked entry, `[envelope, "", queue]` (an envelope that is
 * not an object is kept as a JSON string); the entry as it is when it cannot be read, so that
 * the report says the message cannot be read.
 */
function fromUnacked(entry: string): { queue: string; raw: string } {
  try {
    const [envelope, , queue] = JSON.parse(entry) as [unknown, unknown, unknown];
    return { queue: String(queue), raw: typeof envelope === 'string' ? envelope : JSON.stringify(envelope) };
  } catch {
    return { queue: '', raw: entry };
  }
}
