/**
 * @module backends/redis/revoke-notices
 * The Redis backend's revoke channel: `revoke.lua` publishes a JSON notice for every revoke,
 * and running workers subscribe here (on the backend's subscriber connection) to update
 * their in-memory revoked sets without asking Redis for every message.
 */
import type { Buffer } from 'node:buffer';
import type { RevokeNotice, Unsubscribe } from '../../core/spi/backend.js';
import type { RedisClient, RedisLog } from '../../redis/connection.js';
import { toTransportError } from '../../redis/connection.js';
import type { LazyRedisClient } from '../../redis/lazy-client.js';

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
  log: RedisLog,
): Promise<Unsubscribe> {
  const dispatch = (message: string | Buffer) => {
    const notice = decodeRevokeNotice(message.toString());
    if (notice === null) {
      log('warn', `ignoring an undecodable revoke notice on ${channel}`);
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
