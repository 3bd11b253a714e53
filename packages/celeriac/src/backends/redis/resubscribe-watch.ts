/**
 * @module backends/redis/resubscribe-watch
 * When the result subscriber is subscribed again after a break. Pub/sub is fire-and-forget: a
 * meta published while the subscriber was away reached nobody, so the backend then re-reads
 * every subscribed key (RedisBackend's redelivery), and a waiter misses no result.
 *
 * A plain client says so with 'ready', which node-redis emits once it has renewed its
 * subscriptions. A Sentinel client (node-redis's RedisSentinel) emits no 'ready': its pub/sub
 * connection reports a break as an 'error', and a new master, where it subscribes again, as a
 * 'topology-change'. After either, the watch sends a SUBSCRIBE of a channel nobody uses, then
 * its UNSUBSCRIBE: Redis answers in order, so that reply comes after the renewed
 * subscriptions', and a re-read after it misses nothing. Before the re-read it subscribes every
 * channel again (ResultSubscriptions.renew: nothing is sent for those node-redis still has),
 * since around a failover node-redis may drop them all; when a SUBSCRIBE fails, the whole
 * round is made again {@link RENEW_RETRY_MS} later (unless Redis refused it).
 */
import type { RedisClient } from '../../redis/client.js';
import { classifyRedisFailure } from '../../redis/error-kind.js';

/** Wait before a round whose SUBSCRIBE failed is made again (ms). */
export const RENEW_RETRY_MS = 1000;

/** What {@link watchResubscribes} needs of the backend. */
export interface ResubscribeWatch {
  /** The subscriber's server is found through Sentinel. */
  readonly sentinel: boolean;
  /** A channel of its own for the round trip, or undefined when nothing is subscribed (no re-read is due). */
  readonly probeChannel: () => string | undefined;
  /** Subscribes every channel again where the connection lost it; rejects when a SUBSCRIBE failed. */
  readonly renew: () => Promise<void>;
  /** Re-reads every subscribed key; never rejects. */
  readonly reread: () => Promise<void>;
}

/** Calls `watch.reread` each time `client` is subscribed again after a break (see the module comment). */
export function watchResubscribes(client: RedisClient, watch: ResubscribeWatch): void {
  let readyCount = 0;
  client.on('ready', () => {
    if (++readyCount === 1) return;
    void watch.reread();
  });
  if (!watch.sentinel) return;
  // One round trip and re-read at a time; breaks reported meanwhile (one per reconnect
  // attempt while the server is away) make one more after it.
  let running = false;
  let again = false;
  const broke = async (): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        const probe = watch.probeChannel();
        if (probe === undefined) continue;
        await roundTrip(client, probe);
        // A refused SUBSCRIBE (an ACL) is not tried again: a waiter's own one fails alike.
        const retry = await watch.renew().then(
          () => false,
          (err: unknown) => classifyRedisFailure(err) === 'transient',
        );
        await watch.reread();
        if (retry) {
          again = true;
          await new Promise((resolve) => setTimeout(resolve, RENEW_RETRY_MS).unref());
        }
      } while (again);
    } finally {
      running = false;
    }
  };
  const emitter = client as unknown as { on(event: string, fn: (arg?: { type?: unknown }) => void): unknown };
  emitter.on('error', () => void broke());
  emitter.on('topology-change', (change) => {
    if (change?.type === 'MASTER_CHANGE') void broke();
  });
}

/**
 * A SUBSCRIBE and UNSUBSCRIBE of `channel` on the subscriber. It waits in node-redis's offline
 * queue while the connection is away. Refused or failed (the client closed): the re-read
 * goes ahead all the same.
 */
async function roundTrip(client: RedisClient, channel: string): Promise<void> {
  const none = (): void => undefined;
  const ignore = (): void => undefined;
  await client.subscribe(channel, none).catch(ignore);
  await client.unsubscribe(channel, none).catch(ignore);
}
