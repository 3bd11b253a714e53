/**
 * @module backends/redis/revocations
 * The Redis backend's revocations and cluster rate tokens (the RevocationStore and
 * RateTokenStore roles), one script call each. Revokes live in one sorted set
 * `celeriac:revoked` (member: task id, score: expiry epoch ms by the Redis server's clock):
 * `revoked(ids)` is one call whatever the number of ids, listing every live revoke (what
 * `inspect revoked` and a starting worker want) is one ZRANGEBYSCORE instead of a SCAN, and a
 * single key stays on one slot under Redis Cluster. `revoke.lua` also publishes a JSON notice
 * on the revoke channel, which running workers follow (on the backend's subscriber
 * connection) to update their in-memory revoked sets without asking Redis per message.
 */
import type { Buffer } from 'node:buffer';
import type { RevokedEntry, RevokeNotice, RevokeOptions, Unsubscribe } from '../../core/spi/backend.js';
import { CeleriacError, ErrorCodes } from '../../errors.js';
import type { RedisClient } from '../../redis/client.js';
import { toTransportError } from '../../redis/client.js';
import type { LazyRedisClient } from '../../redis/lazy-client.js';
import { loadScript, runScript } from '../../redis/script.js';
import type { BackendKeys } from '../../redis/keys.js';
import type { RunCommand } from './chord.js';
import type { TransportLog } from '../../core/transport-table.js';

const REVOKE = loadScript(new URL('./scripts/revoke.lua', import.meta.url));
const REVOKED = loadScript(new URL('./scripts/revoked.lua', import.meta.url));
const REVOKED_ENTRIES = loadScript(new URL('./scripts/revoked-entries.lua', import.meta.url));
const RATE_TOKEN = loadScript(new URL('./scripts/rate-token.lua', import.meta.url));

/**
 * Adds `taskIds` to the revoked set for `ttlMs` (a later revoke resets it) and publishes a
 * notice for running workers, in one script.
 */
export async function revoke(run: RunCommand, keys: BackendKeys, taskIds: readonly string[], ttlMs: number, options: RevokeOptions): Promise<void> {
  if (taskIds.length === 0) return;
  const notice = encodeRevokeNotice({ ids: taskIds, ttlMs, terminate: options.terminate ?? false, signal: options.signal ?? null });
  await run(`revoke ${taskIds.length} tasks`, (c) => runScript(c, REVOKE, [keys.revoked], [String(ttlMs), keys.revokeChannel, notice, ...taskIds]));
}

/** The revoked subset of `taskIds`, in one round trip. */
export async function revoked(run: RunCommand, keys: BackendKeys, taskIds: readonly string[]): Promise<Set<string>> {
  if (taskIds.length === 0) return new Set();
  const ids = await run(`check ${taskIds.length} revokes`, (c) => runScript(c, REVOKED, [keys.revoked], [...taskIds]));
  return new Set(ids as string[]);
}

/** The live revokes (the `limit` that end last, when given) with the ms they have left, in the order they end, in one round trip. */
export async function revokedEntries(run: RunCommand, keys: BackendKeys, limit?: number): Promise<RevokedEntry[]> {
  // ZREVRANGEBYSCORE's LIMIT count: a negative one is no limit.
  const count = limit === undefined || limit === Number.POSITIVE_INFINITY ? -1 : Math.max(0, Math.floor(limit));
  const flat = (await run('list revokes', (c) => runScript(c, REVOKED_ENTRIES, [keys.revoked], [String(count)]))) as string[];
  const out: RevokedEntry[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ id: flat[i] as string, ttlMs: Number(flat[i + 1]) });
  return out;
}

/** Reserves the next run of `key` with `rate-token.lua` (GCRA by the Redis server's clock). */
export async function acquireRateToken(run: RunCommand, keys: BackendKeys, key: string, intervalMs: number): Promise<number> {
  if (!(typeof intervalMs === 'number' && Number.isFinite(intervalMs) && intervalMs > 0)) {
    throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `intervalMs must be a positive number, got ${String(intervalMs)}`);
  }
  const waitUs = await run(`rate limit ${key}`, (c) => runScript(c, RATE_TOKEN, [keys.rateLimit(key)], [String(Math.max(1, Math.round(intervalMs * 1000)))]));
  return Number(waitUs) / 1000;
}

/** Encodes a notice as `revoke.lua` publishes it. */
export function encodeRevokeNotice(notice: RevokeNotice): string {
  return JSON.stringify({ ids: notice.ids, ttlMs: notice.ttlMs, terminate: notice.terminate, signal: notice.signal });
}

/** Decodes a published notice; null for anything that is not one. */
export function decodeRevokeNotice(text: string): RevokeNotice | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  const v = value as Partial<Record<keyof RevokeNotice, unknown>> | null;
  if (typeof v !== 'object' || v === null || !Array.isArray(v.ids) || !v.ids.every((id) => typeof id === 'string')) return null;
  if (typeof v.ttlMs !== 'number' || typeof v.terminate !== 'boolean' || !(v.signal === null || typeof v.signal === 'string')) return null;
  return { ids: v.ids as string[], ttlMs: v.ttlMs, terminate: v.terminate, signal: v.signal };
}

/**
 * SUBSCRIBEs `listener` to `channel`; resolves once Redis acknowledged it. node-redis
 * subscribes again after a reconnect; notices published meanwhile are lost, which is why
 * workers also re-read the whole set now and then.
 * @throws CeleriacError TRANSPORT when the subscriber connection or SUBSCRIBE fails.
 */
export async function subscribeRevokeNotices(
  connection: LazyRedisClient,
  channel: string,
  listener: (notice: RevokeNotice) => void,
  log: TransportLog,
): Promise<Unsubscribe> {
  const dispatch = (message: string | Buffer) => {
    const notice = decodeRevokeNotice(message.toString());
    if (notice === null) {
      log('warn', 'ignoring an undecodable revoke notice', { channel });
      return;
    }
    try {
      listener(notice);
    } catch {
      // Listeners own their errors.
    }
  };
  let client: RedisClient;
  try {
    client = await connection.connect();
    await client.subscribe(channel, dispatch);
  } catch (err) {
    throw toTransportError(err, `SUBSCRIBE ${channel}`);
  }
  let done = false;
  return async () => {
    if (done) return;
    done = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // A silently dead connection never answers UNSUBSCRIBE: a worker's shutdown must not wait on it.
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, UNSUBSCRIBE_DEADLINE_MS);
      timer.unref();
    });
    try {
      await Promise.race([client.unsubscribe(channel, dispatch), late]);
    } catch {
      // Closed or disconnected: the server forgets a dead connection's subscriptions anyway.
    } finally {
      clearTimeout(timer);
    }
  };
}

/** Longest wait for UNSUBSCRIBE's reply when stopping revoke notices. */
const UNSUBSCRIBE_DEADLINE_MS = 2000;
