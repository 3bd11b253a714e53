/**
 * @module backends/redis/options
 * Options of the Redis result backend, resolved and checked once (house style §4).
 */
import type { TransportLog } from '../../core/transport-table.js';
import { resolveReplicaWait, type ReplicaWait } from '../../redis/replicas.js';
import type { RedisConnections } from '../../redis/shared-commands.js';
import { parseRedisUrl, urlDefaults, type RedisTarget } from '../../redis/url.js';

/** Options of {@link RedisBackend}. */
export interface RedisBackendOptions {
  /**
   * `redis://[user:pass@]host[:port][/db]`, `rediss://...`, `sentinel://...;...?master_name=m`
   * or `redis+sentinel://h1,h2/m/db`.
   * @default 'redis://localhost:6379/0'
   */
  url?: string;
  /**
   * The Sentinel master to ask for, the `master_name` of Celery's `result_backend_transport_options`,
   * for a `sentinel://` URL without `?master_name=` (a name in the URL wins).
   */
  masterName?: string;
  /** The sentinels' own `{ password, username }`, `sentinel_kwargs` of Celery's `result_backend_transport_options` (the URL's are the master's). */
  sentinelKwargs?: Readonly<Record<string, unknown>>;
  /** Celery's `redis_backend_use_ssl` (the app's `redisBackendUseSsl`): TLS whatever the URL's scheme, with redis-py's `ssl_*` keys; the URL's own keys win. */
  useSsl?: boolean | Readonly<Record<string, unknown>>;
  /**
   * Prefix of every key and channel this backend uses. From an app, the `global_keyprefix` of
   * `resultBackendTransportOptions` as Celery 5.3+ applies it to its result keys (with `_`
   * added unless it ends in `:_-.`: redis/keys.ts `resultKeyPrefix`); the broker URL's
   * `global_keyprefix` never reaches result keys, in Celery neither.
   * @default ''
   */
  keyPrefix?: string;
  /** Receives connection warnings. @default dropped */
  log?: TransportLog;
  /** Give up the first connection after this many ms. @default 10000 */
  connectTimeoutMs?: number;
  /** Longest wait of a command while Redis is unreachable. @default 10000 */
  offlineQueueTimeoutMs?: number;
  /** Keep-alive PING interval on both connections. @default 10000 */
  pingIntervalMs?: number;
  /**
   * Longest wait for any reply. Past it the call fails with TRANSPORT and the connection is
   * replaced, so a half-dead connection (no RST, no reply) cannot hang a worker.
   * @default 30000
   */
  commandTimeoutMs?: number;
  /**
   * Replicas that must have a stored task state before the store is answered (Redis `WAIT`
   * after its writes, as the broker's `waitReplicas` does for sends): without it, a state the
   * master answered just before a failover can be lost with it, and a task acked early (the
   * default) would then have no result. A store the replicas do not acknowledge within
   * `waitReplicasTimeoutMs` fails as a transport error: a worker stores it again (acked early:
   * with backoff, `workerMaxDeliveries` times; acked late: the message goes back and the task
   * runs again). Every batch of stores waits for the replicas (about a round trip on one
   * network) and holds the commands behind it on its connection meanwhile (a worker's fetches
   * and acks, when broker and backend share it). Saved groups, revokes and a chord's size wait
   * the same way; a chord part and a chord's counter wait too, but past the timeout a warning is
   * logged and the reply acted on (failing it would lose the body's call, or count it twice
   * when retried). 0 turns it off.
   * @default 0
   */
  waitReplicas?: number;
  /** Longest wait for {@link waitReplicas}; at least a second below {@link commandTimeoutMs}. @default 1000 */
  waitReplicasTimeoutMs?: number;
  /**
   * The app's Redis command connections: a Redis broker of the same app on the same server,
   * database and login, with the same timeouts, then shares the backend's command connection
   * (redis/shared-commands.ts). `createApp` passes its own.
   * @default a connection of the backend's own
   */
  connections?: RedisConnections;
}

/** {@link RedisBackendOptions} resolved once (`waitReplicas` 0: stores do not wait for replicas). */
export interface ResolvedRedisBackendOptions extends ReplicaWait {
  readonly target: RedisTarget;
  readonly keyPrefix: string;
  readonly log: TransportLog;
  readonly connectTimeoutMs: number;
  readonly offlineQueueTimeoutMs: number;
  readonly pingIntervalMs: number;
  readonly commandTimeoutMs: number;
}

/** Checks and freezes the options. @throws CeleriacError CONFIG on a bad `waitReplicas` or `waitReplicasTimeoutMs` (one not a second below `commandTimeoutMs`). */
export function resolveOptions(options: RedisBackendOptions): ResolvedRedisBackendOptions {
  const commandTimeoutMs = options.commandTimeoutMs ?? 30_000;
  return Object.freeze({
    target: parseRedisUrl(options.url ?? 'redis://localhost:6379/0', urlDefaults(options)),
    keyPrefix: options.keyPrefix ?? '',
    log: options.log ?? (() => undefined),
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    offlineQueueTimeoutMs: options.offlineQueueTimeoutMs ?? 10_000,
    pingIntervalMs: options.pingIntervalMs ?? 10_000,
    commandTimeoutMs,
    ...resolveReplicaWait('RedisBackend', options, commandTimeoutMs),
  });
}
