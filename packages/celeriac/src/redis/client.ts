/**
 * @module redis/client
 * The one place that turns a parsed Redis target (redis/url.ts) into a configured node-redis
 * client. Shared by the Redis broker (brokers/redis/) and the Redis result backend
 * (backends/redis/), so both connect, reconnect and report errors the same way.
 *
 * Reconnect behaviour of every client made here:
 * - Start-up: `connect()` retries with backoff until `connectTimeoutMs` has passed since the
 *   first attempt, then rejects (so a wrong host fails in seconds instead of hanging).
 * - After the first successful connection: a lost connection is retried forever with capped
 *   exponential backoff plus jitter (50 ms doubling to 2 s), because a worker must survive a
 *   Redis restart without being restarted itself.
 * - Commands issued while disconnected wait in node-redis's offline queue, but at most
 *   `offlineQueueTimeoutMs`; then they reject (callers see a TRANSPORT error, never a hang).
 *   Command connections (redis/guarded-client.ts) turn that per-command timer off and bound
 *   every wait per connection instead.
 *   Commands already written when the socket dies reject at once.
 * - A PING every `pingIntervalMs` keeps traffic on idle connections, so proxies and NATs do
 *   not silently drop them and a dead peer is noticed by TCP (keep-alive is on too) instead
 *   of a worker idling forever on a dead socket (a failure Celery and BullMQ workers have been seen in).
 * - 'error' events never go unhandled: they are forwarded to `log` (or dropped).
 */
import { setMaxListeners } from 'node:events';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import type { createSentinel as CreateSentinel, RedisClientType, RedisSentinelType } from '@redis/client';
import { CeleriacError, ErrorCodes, coerceError } from '../errors.js';
import { backoffDelayMs, type BackoffPolicy } from '../core/backoff.js';
import { failureState } from '../core/failure-state.js';
import { tlsFileOptions } from '../core/tls-files.js';
import type { TransportLog } from '../core/transport-table.js';
import { newRedisClient } from './client-class.js';
import { classifyRedisFailure } from './error-kind.js';
import { closedSentinelClient, openedSentinelClient } from './sentinel-console.js';
import type { RedisTarget, RedisTlsOptions } from './url.js';

/** A connected-or-connecting node-redis client: a plain client, or a Sentinel-managed one. */
export type RedisClient = RedisClientType | RedisSentinelType;

/** Options of {@link createRedisClient}. */
export interface RedisClientOptions {
  /** Client name, sent as CLIENT SETNAME and used in log lines (e.g. `celeriac-backend`). */
  name: string;
  /** Receives connection errors. @default errors are dropped */
  log?: TransportLog;
  /** Give up the first connection after this many ms (also the per-attempt timeout). @default 10000 */
  connectTimeoutMs?: number;
  /**
   * Longest time a command waits in the offline queue while reconnecting, as a node-redis
   * per-command timeout. `null`: no per-command timer at all, for callers that bound waits
   * per connection instead (redis/guarded-client.ts): node-redis's timer costs an
   * AbortSignal and a timer for every command, even on a healthy connection.
   * @default 10000
   */
  offlineQueueTimeoutMs?: number | null;
  /** Interval of the keep-alive PING. @default 10000 */
  pingIntervalMs?: number;
  /**
   * Destroy the socket (and reconnect) after this long without any traffic in either
   * direction: a network path that died silently (no FIN/RST, keep-alive answered by a
   * middlebox) leaves every command waiting forever otherwise. Only for connections that send
   * commands or subscribe (node-redis PINGs in RESP2 subscribed mode too): the keep-alive
   * PING is traffic every `pingIntervalMs`; keep this well above it.
   * @default no idle timeout
   */
  idleTimeoutMs?: number;
  /**
   * Speak RESP3 (`HELLO 3`): pub/sub and commands on one connection, so a SUBSCRIBE and the
   * commands after it go out in one write and run in that order (the result backend's
   * subscriber, backends/redis/result-subscriptions.ts `carry`). Plain targets only: a Sentinel client
   * ignores it. A server that refuses HELLO fails the connect (redis/lazy-client.ts then
   * falls back to RESP2). Only commands whose reply reads the same in both protocols
   * (numbers, status, bulk strings) may be sent on such a connection: the command methods
   * transform replies as RESP2's (redis/client-class.ts).
   * @default false
   */
  resp3?: boolean;
  /**
   * The connection only (un)subscribes. On Sentinel, node-redis opens a pool of master
   * connections for commands at connect, besides the one its pub/sub runs on; with this set it
   * opens none, so a subscriber holds one master connection, not two. Any other command sent
   * through a Sentinel client with this set waits for good: send none. A plain client ignores it.
   * @default false
   */
  subscriberOnly?: boolean;
}

/**
 * PING intervals of silence after which a connection is taken for dead ({@link RedisClientOptions.idleTimeoutMs}).
 * Subscriber connections rely on it: it bounds their handshake after a reconnect (a stalled
 * path) and a subscribed connection that stalls, and node-redis then reconnects the same
 * client, which subscribes again (redis/guarded-client.ts replaces a command client instead,
 * which would drop subscriptions).
 */
export const IDLE_PING_INTERVALS = 3;

/** Reconnects: exponential from 50 ms, capped at 2 s, with equal jitter. */
const RECONNECT_BACKOFF: BackoffPolicy = Object.freeze({ firstMs: 50, growth: { factor: 2 }, maxMs: 2000, jitter: true });

/** redis-py's names of the TLS files, in errors. */
const REDIS_PY_NAMES = { ca: 'ssl_ca_certs', cert: 'ssl_certfile', key: 'ssl_keyfile' } as const;

/**
 * Node TLS socket options for `tls` (a target's or its sentinels' settings). `host` sets SNI
 * when it is a name: a Sentinel-managed client learns its servers' addresses as it goes, so it
 * sends none, and Node checks each server's certificate against the address it connects to.
 */
function tlsSocket(tls: RedisTlsOptions | undefined, host?: string): Record<string, unknown> & { tls: true } {
  const files = tlsFileOptions(tls, REDIS_PY_NAMES, 'Redis TLS');
  // SNI must not be an IP address (RFC 6066); Node then checks the IP against the certificate.
  return { ...files, ...(host === undefined || isIP(host) !== 0 ? {} : { servername: host }), tls: true as const };
}

/**
 * Delay before reconnect attempt `retries` (0-based): exponential from 50 ms, capped at 2 s,
 * with "equal jitter" (half fixed, half random) so a fleet of workers does not reconnect in
 * lock-step after a Redis restart. `random` returns [0, 1).
 */
export function reconnectDelay(retries: number, random: () => number = Math.random): number {
  return backoffDelayMs(RECONNECT_BACKOFF, retries, random);
}

interface Resolved {
  name: string;
  log: TransportLog;
  connectTimeoutMs: number;
  offlineQueueTimeoutMs: number | null;
  pingIntervalMs: number;
  idleTimeoutMs: number | undefined;
  resp3: boolean;
  subscriberOnly: boolean;
}

function resolve(options: RedisClientOptions): Readonly<Resolved> {
  return Object.freeze({
    name: options.name,
    log: options.log ?? (() => undefined),
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    offlineQueueTimeoutMs: options.offlineQueueTimeoutMs === undefined ? 10_000 : options.offlineQueueTimeoutMs,
    pingIntervalMs: options.pingIntervalMs ?? 10_000,
    idleTimeoutMs: options.idleTimeoutMs,
    resp3: options.resp3 === true,
    subscriberOnly: options.subscriberOnly === true,
  });
}

/**
 * True for a start-up failure that retrying cannot fix (wrong credentials, missing
 * permission, a database the server does not have, an untrusted certificate): reported at
 * once instead of after connectTimeoutMs (redis/error-kind.ts).
 */
export function isPermanentConnectError(cause: Error): boolean {
  return classifyRedisFailure(cause) === 'refused';
}

/** Whether a client has been connected yet, and since when its first connect has been failing. */
interface ConnectState {
  /** A plain client's first 'ready'. */
  everReady: boolean;
  /**
   * A Sentinel-managed client's: node-redis's RedisSentinel emits no 'ready' (its node clients'
   * are not passed on), but says `isReady` once its connect() resolved.
   */
  sentinelReady?: () => boolean;
  firstFailureAt?: number;
}

/** Whether the client was ever connected: past start-up, its reconnects never give up. */
const established = (state: ConnectState): boolean => state.everReady || state.sentinelReady?.() === true;

/**
 * Start-up gives up after connectTimeoutMs, or at once on a permanent error; once connected,
 * reconnects forever. A Sentinel-managed client's node clients share this strategy: before the
 * client told it was connected, a master away for longer than connectTimeoutMs without a
 * failover (a restart) made each of them give up for good, and the worker never came back.
 */
function makeReconnectStrategy(opts: Readonly<Resolved>, state: ConnectState) {
  return (retries: number, cause: Error): number | Error => {
    if (!established(state)) {
      // The cause itself: node-redis adds nothing to it, and a wrapper's message repeated it.
      if (isPermanentConnectError(cause)) return cause;
      state.firstFailureAt ??= Date.now();
      if (Date.now() - state.firstFailureAt >= opts.connectTimeoutMs) {
        return new Error(`could not connect within ${opts.connectTimeoutMs} ms: ${cause.message}`, { cause });
      }
    }
    return reconnectDelay(retries);
  };
}

/**
 * Creates (does not connect) a node-redis client for `target`: database, TLS, ACL
 * credentials, keep-alive PING, bounded offline queue and the reconnect policy described in
 * this module's header; a Sentinel-managed client when `target.sentinel` is set.
 * Call `connect()` on the result. For a second connection (a subscriber, blocking reads) call
 * this again with the same target: unlike `duplicate()`, that also works with Sentinel.
 */
export function createRedisClient(target: RedisTarget, options: RedisClientOptions): RedisClient {
  const opts = resolve(options);
  const state: ConnectState = { everReady: false };
  const closing = new AbortController();
  // One socket at a time per client, but a Sentinel client shares it among its node clients.
  setMaxListeners(0, closing.signal);
  const socket = {
    // Every socket the client opens dies with its close (closeRedisClient), one still
    // connecting included.
    signal: closing.signal,
    connectTimeout: opts.connectTimeoutMs,
    reconnectStrategy: makeReconnectStrategy(opts, state),
    ...(opts.idleTimeoutMs === undefined ? {} : { socketTimeout: opts.idleTimeoutMs }),
  };
  const common = {
    name: opts.name,
    pingInterval: opts.pingIntervalMs,
    // The timeout covers only the wait in the offline queue: node-redis clears it once the
    // command is written, so blocking commands (BRPOP, BZPOPMIN) are not cut short.
    ...(opts.offlineQueueTimeoutMs === null ? {} : { commandOptions: { timeout: opts.offlineQueueTimeoutMs } }),
    ...(target.username === undefined ? {} : { username: target.username }),
    ...(target.password === undefined ? {} : { password: target.password }),
  };
  const client: RedisClient = target.sentinel === undefined
    ? newRedisClient({
        ...common,
        database: target.db,
        ...(opts.resp3 ? { RESP: 3 as const } : {}),
        socket: target.tls
          ? { ...socket, host: target.host, port: target.port, ...tlsSocket(target.tlsOptions, target.host) }
          : { ...socket, host: target.host, port: target.port },
      })
    : sentinelFactory()({
        name: target.sentinel.masterName,
        sentinelRootNodes: target.sentinel.nodes,
        // The masters' TLS (the URL's ssl_* keys); node-redis adds each server's host and port.
        nodeClientOptions: { ...common, database: target.db, socket: target.tls ? { ...socket, ...tlsSocket(target.tlsOptions) } : socket },
        // The sentinels' own credentials and TLS (kombu's sentinel_kwargs), not the masters'.
        sentinelClientOptions: {
          socket: target.sentinel.tls === undefined ? socket : { ...socket, ...tlsSocket(target.sentinel.tls) },
          ...(target.sentinel.username === undefined ? {} : { username: target.sentinel.username }),
          ...(target.sentinel.password === undefined ? {} : { password: target.sentinel.password }),
        },
        passthroughClientErrorEvents: true,
        ...(opts.subscriberOnly ? { masterPoolSize: 0 } : {}),
      }) as unknown as RedisSentinelType;
  if (target.sentinel !== undefined) {
    state.sentinelReady = () => client.isReady;
    openedSentinelClient(client, opts.log, { connection: opts.name, sentinels: target.sentinel.nodes.map((n) => `${n.host}:${n.port}`).join(', '), master: target.sentinel.masterName });
    if (opts.subscriberOnly) subscribersOnly.add(client);
    boundSentinelConnect(client as RedisSentinelType, opts, target);
  }
  watchOutages(client, opts, target, state, closing.signal, { sentinel: target.sentinel !== undefined, subscriberOnly: opts.subscriberOnly });
  closers.set(client, closing);
  return client;
}

/**
 * A Sentinel client's first connect, bounded as a plain client's is. node-redis's RedisSentinel
 * asks the sentinels again a second later, 17 times, whatever the failure, before its connect()
 * rejects: a wrong or missing sentinel password, or no sentinel reachable, took 17 s to report
 * whatever `connectTimeoutMs`. Here it rejects at the first failure that retrying cannot fix
 * ({@link isPermanentConnectError}: Redis refused the credentials) or after `connectTimeoutMs`;
 * the client is then destroyed, which ends node-redis's attempts.
 */
function boundSentinelConnect(client: RedisSentinelType, opts: Readonly<Resolved>, target: RedisTarget): void {
  const connect = client.connect.bind(client);
  client.connect = () =>
    new Promise<RedisSentinelType>((resolve, reject) => {
      let done = false;
      const finish = (err?: unknown): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        client.off('error', refused);
        if (err === undefined) return resolve(client);
        void Promise.resolve()
          .then(() => client.destroy())
          .catch(() => undefined)
          .finally(() => closedSentinelClient(client));
        reject(err);
      };
      // The last failure on the way, named in the timeout's error: a sentinel or master on TLS
      // asked in plain text fails only this way.
      let last: Error | undefined;
      const refused = (err: unknown): void => {
        if (!(err instanceof Error)) return;
        last = err;
        if (isPermanentConnectError(err)) finish(err);
      };
      const sentinels = target.sentinel?.nodes.map((n) => `${n.host}:${n.port}`).join(', ') ?? '';
      const timedOut = (): Error => {
        const why = last === undefined ? '' : `; the last failure: ${last.message}`;
        return new Error(`no sentinel (${sentinels}) named master ${JSON.stringify(target.sentinel?.masterName)} that could be reached within ${opts.connectTimeoutMs} ms${why}`);
      };
      const timer = setTimeout(() => finish(timedOut()), opts.connectTimeoutMs);
      client.on('error', refused);
      connect().then(() => finish(), (err: unknown) => finish(err ?? new Error('Sentinel connect failed')));
    });
}

/** The abort of each client's sockets, fired by {@link closeRedisClient}. */
const closers = new WeakMap<RedisClient, AbortController>();

/** The Sentinel clients made with {@link RedisClientOptions.subscriberOnly}: closing one sends no PING. */
const subscribersOnly = new WeakSet<RedisClient>();

/** How long a Sentinel client's return probe waits between two failed PINGs. */
const RETURN_PROBE_MS = 1000;

/**
 * Logs a connection's failures once per state (core/failure-state.ts) and outage, without a
 * stack: node-redis emits 'error' at every reconnect attempt, every 50 ms to 2 s for as long
 * as Redis is away, and a Sentinel client's failures of one moment in several states, in turn. Before the first 'ready' nothing is logged: the caller of connect() gets
 * the failure and reports it (worker/startup-connect.ts). A plain client's return is its next
 * 'ready'.
 *
 * A Sentinel-managed client emits no 'ready' and holds every command while it asks the
 * sentinels again (docs/production.md): its return is a PING of its own that went through, sent
 * when the outage is first logged and a second after each failure. A subscriber-only one cannot
 * PING, and node-redis cannot tell whether its errors came from a sentinel or from the master;
 * its return is node-redis's next MASTER_CHANGE, which such a client emits whenever it has asked
 * the sentinels again (it keeps no master connection its answer could be compared with).
 */
function watchOutages(
  client: RedisClient,
  opts: Readonly<Resolved>,
  target: RedisTarget,
  state: ConnectState,
  closed: AbortSignal,
  kind: { readonly sentinel: boolean; readonly subscriberOnly: boolean },
): void {
  const where = { connection: opts.name, server: `${target.host}:${target.port}` };
  /** The states this outage has logged: a state it goes back to is not logged again. */
  const shown = new Set<string>();
  let since = 0;
  let failures = 0;
  const back = (): void => {
    // At warn, as the line that said it was gone: whoever saw that one sees this one.
    if (shown.size > 0) opts.log('warn', `redis connection back after ${failures} failed attempt${failures === 1 ? '' : 's'} over ${((Date.now() - since) / 1000).toFixed(1)} s`, where);
    shown.clear();
    failures = 0;
  };
  const probeReturn = (): void => {
    if (closed.aborted || shown.size === 0) return;
    (client as RedisSentinelType).ping().then(back, () => {
      if (!closed.aborted) setTimeout(probeReturn, RETURN_PROBE_MS).unref();
    });
  };
  client.on('ready', () => {
    state.everReady = true;
    back();
  });
  if (kind.sentinel && kind.subscriberOnly) {
    client.on('topology-change', (event: { type?: string }) => {
      if (event.type === 'MASTER_CHANGE') back();
    });
  }
  client.on('error', (err: unknown) => {
    if (!established(state) || closed.aborted) return;
    const error = coerceError(err);
    const now = failureState(error);
    failures++;
    if (shown.has(now)) return;
    const first = shown.size === 0;
    if (first) since = Date.now();
    shown.add(now);
    opts.log('warn', `redis connection lost (${now}); reconnecting with backoff up to ${RECONNECT_BACKOFF.maxMs / 1000} s, logged again if it fails in another way`, { ...where, reason: error.message });
    // Sent after node-redis's own handling of the failure (it begins asking the sentinels again
    // right after emitting it): a PING sent from here would still go to the master, and say back at once.
    if (first && kind.sentinel && !kind.subscriberOnly) setImmediate(probeReturn).unref();
  });
}

/**
 * node-redis's createSentinel, loaded with the package on first use, like the plain client
 * (redis/client-class.ts), so that a process that never opens a Redis connection (an app on
 * memory:// or RabbitMQ) never loads node-redis, its largest dependency by far (several
 * hundred modules).
 */
function sentinelFactory(): typeof CreateSentinel {
  return (createRequire(import.meta.url)('@redis/client') as { createSentinel: typeof CreateSentinel }).createSentinel;
}

/**
 * Closes a client: waits for the replies of commands already sent, but at most `deadlineMs`,
 * then destroys the socket. Never throws (closing twice is fine).
 *
 * node-redis's own close() is not used: it waits forever for commands stuck in the offline
 * queue while Redis is down, and once it ran, destroy() rejects the pending commands but
 * throws before destroying the socket (the client counts as closed already), so a close that
 * missed its deadline left the connection open and a late reply still reached its decoder.
 * Instead a PING is sent behind whatever is pending: Redis answers in order, so its reply means
 * every earlier command has had its own. A RESP2 subscriber has nothing worth waiting for (and
 * its PING reply is a push), so it is destroyed at once; a RESP3 one may carry publishes.
 */
export async function closeRedisClient(client: RedisClient, deadlineMs = 2000): Promise<void> {
  // A RESP3 connection answers PING in order while subscribed: it may carry publishes too.
  // A subscriber-only Sentinel client has no connection a PING could go through.
  const subscribed = subscribersOnly.has(client) || ('isPubSubActive' in client && client.isPubSubActive && (client as { options?: { RESP?: number } }).options?.RESP !== 3);
  // Not ready (still connecting, or reconnecting): nothing was sent on a live socket that a
  // reply could still come for, and the PING would only wait out the deadline.
  if (deadlineMs > 0 && client.isReady && !subscribed) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, deadlineMs);
      timer.unref();
    });
    const drained = client.ping().then(
      () => undefined,
      () => undefined,
    );
    await Promise.race([drained, late]);
    clearTimeout(timer);
  }
  try {
    await client.destroy();
  } catch {
    // Already closed, or the socket never opened: nothing left to release.
  }
  // node-redis's destroy() ends only the socket it holds. A reconnect whose TCP connect is in
  // flight gets its socket afterwards, completes the handshake and keeps the connection (and a
  // PING timer) for good, so a closed app's process never exits: the abort ends that socket too.
  closers.get(client)?.abort();
  closedSentinelClient(client);
}

/**
 * Wraps any Redis failure as a CeleriacError naming the operation (`what`, e.g. "store
 * result of task 123") and the Redis error text; the original error is the `cause`. CONFIG
 * when Redis refused the credentials or the configuration (WRONGPASS, NOAUTH, NOPERM, a
 * database it does not have: redis/error-kind.ts), which no retry fixes; else TRANSPORT.
 */
export function toTransportError(err: unknown, what: string): CeleriacError {
  // Already classified: a transport failure, or a configuration mistake (an unreadable CA file).
  if (err instanceof CeleriacError && (err.code === ErrorCodes.TRANSPORT || err.code === ErrorCodes.CONFIG || err.code === ErrorCodes.COMMAND_REFUSED)) return err;
  const cause = coerceError(err);
  const text = cause.message || cause.name;
  const kind = classifyRedisFailure(err);
  if (kind === 'refused') return new CeleriacError(ErrorCodes.CONFIG, `Redis refused ${what}: ${text}`, { cause: err });
  return new CeleriacError(kind === 'final' ? ErrorCodes.COMMAND_REFUSED : ErrorCodes.TRANSPORT, `Redis error during ${what}: ${text}`, { cause: err });
}
