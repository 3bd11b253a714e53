/**
 * @module redis/connection
 * The one place that turns a Celery/kombu Redis URL into a configured node-redis client.
 * Shared by the Redis broker (brokers/redis/) and the Redis result backend (backends/redis/),
 * so both parse URLs, reconnect and report errors the same way.
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
 *   of a worker idling forever on a dead socket (the Celery/BullMQ failure in peers.md).
 * - 'error' events never go unhandled: they are forwarded to `log` (or dropped).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { createSentinel } from '@redis/client';
import type { RedisClientOptions as NodeRedisOptions, RedisClientType, RedisSentinelType } from '@redis/client';
import { redactUrl } from '../core/transports.js';
import { CeleriacError, ErrorCodes, coerceError } from '../errors.js';

/** Where and how to reach Redis, parsed from a URL by {@link parseRedisUrl}. */
export interface RedisTarget {
  /** `rediss://`: connect with TLS. */
  tls: boolean;
  /** Redis host (for Sentinel: the first sentinel node, informational). */
  host: string;
  /** Redis port (for Sentinel: the first sentinel node, informational). */
  port: number;
  /** ACL user name (URL-decoded). */
  username?: string;
  /** Password (URL-decoded). Never logged. */
  password?: string;
  /** Database number selected after connecting. */
  db: number;
  /** Set for `sentinel://` and `redis+sentinel://` URLs. */
  sentinel?: { masterName: string; nodes: { host: string; port: number }[] };
  /**
   * TLS files and verification for `rediss://`, from redis-py's URL query keys
   * (`ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile`, `ssl_cert_reqs`), so one URL serves
   * Python and Celeriac. Absent: Node's default trust store, certificate verified.
   */
  tlsOptions?: RedisTlsOptions;
  /** kombu transport options carried in the URL query. */
  transportOptions: {
    /** kombu's `global_keyprefix`: prefix of every broker key. Empty when absent. */
    globalKeyprefix: string;
  };
}

/** TLS settings of a `rediss://` target (file paths; read when the client is created). */
export interface RedisTlsOptions {
  /** PEM file of the CA(s) to trust instead of Node's default store (`ssl_ca_certs`). */
  caFile?: string;
  /** PEM client certificate, for servers that require one (`ssl_certfile`). */
  certFile?: string;
  /** PEM private key of the client certificate (`ssl_keyfile`). */
  keyFile?: string;
  /** Verify the server certificate and host name; false only with `ssl_cert_reqs=none`. */
  verify: boolean;
}

/** A connected-or-connecting node-redis client: a plain client, or a Sentinel-managed one. */
export type RedisClient = RedisClientType | RedisSentinelType;

/** Log sink for connection problems. */
export type RedisLog = (level: 'warn' | 'error', msg: string, err?: Error) => void;

/** Options of {@link createRedisClient}. */
export interface RedisClientOptions {
  /** Client name, sent as CLIENT SETNAME and used in log lines (e.g. `celeriac-backend`). */
  name: string;
  /** Receives connection errors. @default errors are dropped */
  log?: RedisLog;
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
}

const DEFAULT_PORT = 6379;
const DEFAULT_SENTINEL_PORT = 26379;
const BACKOFF_BASE_MS = 50;
const BACKOFF_CAP_MS = 2000;

function configError(message: string): CeleriacError {
  return new CeleriacError(ErrorCodes.CONFIG, message);
}

/** Redacts every part of a `;`-separated kombu URL list. */
function redact(url: string): string {
  return url.split(';').map((part) => redactUrl(part)).join(';');
}

interface UrlParts {
  scheme: string;
  username?: string;
  password?: string;
  authority: string;
  path: string;
  query: URLSearchParams;
}

const URL_RE = /^([a-z][a-z0-9+.-]*):\/\/(?:([^@/?#]*)@)?([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#.*)?$/i;

function decode(text: string, what: string, url: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw configError(`Redis URL ${redact(url)}: the ${what} is not valid percent-encoding`);
  }
}

function splitUrl(part: string, url: string): UrlParts {
  const m = URL_RE.exec(part.trim());
  if (m === null) throw configError(`Redis URL ${redact(url)} is not of the form scheme://[user:password@]host[:port][/db]`);
  const [, scheme = '', userinfo, authority = '', path = '', query = ''] = m;
  const parts: UrlParts = { scheme: scheme.toLowerCase(), authority, path, query: new URLSearchParams(query) };
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(':');
    const user = colon < 0 ? userinfo : userinfo.slice(0, colon);
    if (user !== '') parts.username = decode(user, 'user name', url);
    if (colon >= 0) parts.password = decode(userinfo.slice(colon + 1), 'password', url);
  }
  return parts;
}

function parseHostPort(text: string, defaultPort: number, url: string): { host: string; port: number } {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(text);
  const rawHost = m?.[1] ?? '';
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  const portText = m?.[2];
  if (portText === undefined || portText === '') return { host: host || 'localhost', port: defaultPort };
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw configError(`Redis URL ${redact(url)}: port "${portText}" is not a number between 1 and 65535`);
  }
  return { host: host || 'localhost', port };
}

function parseDb(text: string | undefined, url: string): number {
  if (text === undefined || text === '') return 0;
  if (!/^\d+$/.test(text)) throw configError(`Redis URL ${redact(url)}: database "${text}" is not a non-negative integer`);
  return Number(text);
}

function transportOptions(query: URLSearchParams): RedisTarget['transportOptions'] {
  return { globalKeyprefix: query.get('global_keyprefix') ?? '' };
}

const TLS_KEYS = ['ssl_ca_certs', 'ssl_certfile', 'ssl_keyfile', 'ssl_cert_reqs'] as const;

/** redis-py's `ssl_*` query keys; only meaningful with rediss://. */
function parseTls(query: URLSearchParams, tls: boolean, url: string): RedisTlsOptions | undefined {
  // On redis:// they are ignored, as a plain connection has no certificate to check.
  if (!tls || !TLS_KEYS.some((k) => query.has(k))) return undefined;
  const reqs = (query.get('ssl_cert_reqs') ?? 'required').toLowerCase().replace(/^cert_/, '');
  if (!['required', 'optional', 'none'].includes(reqs)) {
    throw configError(`Redis URL ${redact(url)}: ssl_cert_reqs must be required, optional or none, got "${query.get('ssl_cert_reqs') ?? ''}"`);
  }
  // A client always receives the server's certificate, so "optional" verifies it, as in Python.
  const out: RedisTlsOptions = { verify: reqs !== 'none' };
  const ca = query.get('ssl_ca_certs');
  const cert = query.get('ssl_certfile');
  const key = query.get('ssl_keyfile');
  if (ca) out.caFile = ca;
  if (cert) out.certFile = cert;
  if (key) out.keyFile = key;
  return out;
}

function readPem(file: string | undefined, what: string): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new CeleriacError(ErrorCodes.CONFIG, `Redis TLS: cannot read the ${what} file ${file}: ${coerceError(error).message}`, { cause: error });
  }
}

/** Node TLS socket options for a rediss:// target. */
function tlsSocket(target: RedisTarget): Record<string, unknown> {
  const t = target.tlsOptions;
  const files = t === undefined ? {} : {
    ...(t.caFile === undefined ? {} : { ca: readPem(t.caFile, 'ssl_ca_certs') }),
    ...(t.certFile === undefined ? {} : { cert: readPem(t.certFile, 'ssl_certfile') }),
    ...(t.keyFile === undefined ? {} : { key: readPem(t.keyFile, 'ssl_keyfile') }),
    rejectUnauthorized: t.verify,
  };
  // SNI must not be an IP address (RFC 6066); Node then checks the IP against the certificate.
  return { tls: true as const, ...(isIP(target.host) === 0 ? { servername: target.host } : {}), ...files };
}

function withCredentials(target: RedisTarget, parts: UrlParts): RedisTarget {
  if (parts.username !== undefined) target.username = parts.username;
  if (parts.password !== undefined) target.password = parts.password;
  return target;
}

function parsePlain(url: string): RedisTarget {
  const parts = splitUrl(url, url);
  if (parts.authority.includes(',')) throw configError(`Redis URL ${redact(url)}: only one host is allowed (use redis+sentinel:// for many)`);
  const { host, port } = parseHostPort(parts.authority, DEFAULT_PORT, url);
  const dbText = parts.path.replace(/^\//, '');
  if (dbText.includes('/')) throw configError(`Redis URL ${redact(url)}: path "${parts.path}" must be /<db>`);
  const tls = parts.scheme === 'rediss';
  const target: RedisTarget = { tls, host, port, db: parseDb(dbText, url), transportOptions: transportOptions(parts.query) };
  const tlsOptions = parseTls(parts.query, tls, url);
  if (tlsOptions !== undefined) target.tlsOptions = tlsOptions;
  return withCredentials(target, parts);
}

/** kombu's form: `sentinel://h1:26379;sentinel://h2:26379/0?master_name=mymaster`. */
function parseKombuSentinel(url: string): RedisTarget {
  const parts = url.split(';').filter((p) => p.trim() !== '').map((p) => splitUrl(p, url));
  if (parts.some((p) => p.scheme !== 'sentinel')) throw configError(`Redis URL ${redact(url)}: every ;-separated part must be sentinel://`);
  const nodes = parts.map((p) => parseHostPort(p.authority, DEFAULT_SENTINEL_PORT, url));
  const masterName = parts.map((p) => p.query.get('master_name')).find((v) => v !== null && v !== '');
  if (masterName === undefined || masterName === null) throw configError(`Redis URL ${redact(url)}: a sentinel:// URL needs ?master_name=<name>`);
  const withDb = parts.find((p) => p.path.replace(/^\//, '') !== '');
  const query = new URLSearchParams(parts.flatMap((p) => [...p.query.entries()]));
  const first = nodes[0] ?? { host: 'localhost', port: DEFAULT_SENTINEL_PORT };
  const target: RedisTarget = {
    tls: false, ...first, db: parseDb(withDb?.path.replace(/^\//, ''), url),
    sentinel: { masterName, nodes }, transportOptions: transportOptions(query),
  };
  return withCredentials(target, parts.find((p) => p.password !== undefined || p.username !== undefined) ?? parts[0]!);
}

/** The node-redis-like form: `redis+sentinel://h1:26379,h2:26379/mymaster/0`. */
function parseSentinelList(url: string): RedisTarget {
  const parts = splitUrl(url, url);
  const nodes = parts.authority.split(',').map((hp) => parseHostPort(hp, DEFAULT_SENTINEL_PORT, url));
  const [masterName = '', dbText, ...rest] = parts.path.replace(/^\//, '').split('/');
  if (masterName === '' || rest.length > 0) throw configError(`Redis URL ${redact(url)}: expected redis+sentinel://host:port[,host:port...]/<master name>[/<db>]`);
  const target: RedisTarget = {
    tls: false, ...nodes[0]!, db: parseDb(dbText, url),
    sentinel: { masterName: decode(masterName, 'master name', url), nodes }, transportOptions: transportOptions(parts.query),
  };
  return withCredentials(target, parts);
}

/**
 * Parses a Celery/kombu Redis URL: `redis://[user:pass@]host[:port][/db]`, `rediss://` (TLS),
 * `sentinel://h1:26379;sentinel://h2:26379/0?master_name=m` (kombu) and
 * `redis+sentinel://h1:26379,h2:26379/m/0`. The query may carry `global_keyprefix`, and on
 * rediss:// redis-py's `ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile` and `ssl_cert_reqs`;
 * other query keys are ignored (kombu has many, none of which change where we connect).
 * @throws CeleriacError CONFIG naming the problem; the password is never in the message.
 */
export function parseRedisUrl(url: string): RedisTarget {
  const scheme = url.slice(0, Math.max(0, url.indexOf('://'))).toLowerCase();
  switch (scheme) {
    case 'redis':
    case 'rediss':
      return parsePlain(url);
    case 'sentinel':
      return parseKombuSentinel(url);
    case 'redis+sentinel':
      return parseSentinelList(url);
    default:
      throw configError(`Redis URL ${redact(url)}: unsupported scheme "${scheme || '(none)'}"; use redis://, rediss://, sentinel:// or redis+sentinel://`);
  }
}

/**
 * Delay before reconnect attempt `retries` (0-based): exponential from 50 ms, capped at 2 s,
 * with "equal jitter" (half fixed, half random) so a fleet of workers does not reconnect in
 * lock-step after a Redis restart. `random` returns [0, 1).
 */
export function reconnectDelay(retries: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(retries, 16));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

interface Resolved {
  name: string;
  log: RedisLog;
  connectTimeoutMs: number;
  offlineQueueTimeoutMs: number | null;
  pingIntervalMs: number;
  idleTimeoutMs: number | undefined;
}

function resolve(options: RedisClientOptions): Readonly<Resolved> {
  return Object.freeze({
    name: options.name,
    log: options.log ?? (() => undefined),
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    offlineQueueTimeoutMs: options.offlineQueueTimeoutMs === undefined ? 10_000 : options.offlineQueueTimeoutMs,
    pingIntervalMs: options.pingIntervalMs ?? 10_000,
    idleTimeoutMs: options.idleTimeoutMs,
  });
}

/** Codes of TLS verification failures (Node's), which no retry can fix. */
const TLS_VERIFY_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * True for a start-up failure that retrying cannot fix (wrong credentials, missing
 * permission, an untrusted certificate): reported at once instead of after connectTimeoutMs.
 */
export function isPermanentConnectError(cause: Error): boolean {
  if (/^(WRONGPASS|NOAUTH|NOPERM)\b/.test(cause.message)) return true;
  const code = (cause as { code?: unknown }).code;
  return typeof code === 'string' && TLS_VERIFY_CODES.has(code);
}

/**
 * Start-up gives up after connectTimeoutMs, or at once on a permanent error; once connected,
 * reconnects forever.
 */
function makeReconnectStrategy(opts: Readonly<Resolved>, state: { everReady: boolean; firstFailureAt?: number }) {
  return (retries: number, cause: Error): number | Error => {
    if (!state.everReady) {
      if (isPermanentConnectError(cause)) return new Error(`could not connect: ${cause.message}`, { cause });
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
  const state: { everReady: boolean; firstFailureAt?: number } = { everReady: false };
  const socket = {
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
    ? makeClient({
        ...common,
        database: target.db,
        socket: target.tls
          ? { ...socket, host: target.host, port: target.port, ...tlsSocket(target), tls: true as const }
          : { ...socket, host: target.host, port: target.port },
      })
    : createSentinel({
        name: target.sentinel.masterName,
        sentinelRootNodes: target.sentinel.nodes,
        nodeClientOptions: { ...common, database: target.db, socket },
        sentinelClientOptions: { socket },
        passthroughClientErrorEvents: true,
      }) as unknown as RedisSentinelType;
  client.on('ready', () => {
    state.everReady = true;
  });
  client.on('error', (err: unknown) => {
    opts.log('warn', `redis connection "${opts.name}" to ${target.host}:${target.port}: ${coerceError(err).message}`, coerceError(err));
  });
  return client;
}

let clientFactory: ((options: NodeRedisOptions) => RedisClientType) | undefined;

/**
 * A plain client with node-redis's core commands. node-redis's createClient() builds a new
 * subclass with a method per Redis command for every distinct options object: about 40 ms
 * of CPU and a few MB per client, and a worker opens half a dozen. The client class's own
 * factory, called once with one (empty) config, builds that subclass once per process; each
 * client still gets its own options. Loaded with require: it is a CommonJS module, whose
 * default export ESM loaders disagree about.
 */
function makeClient(options: NodeRedisOptions): RedisClientType {
  if (clientFactory === undefined) {
    type Factory = (config: object) => (options: NodeRedisOptions) => RedisClientType;
    const loaded = createRequire(import.meta.url)('@redis/client/dist/lib/client/index.js') as { default: { factory: Factory } };
    clientFactory = loaded.default.factory({});
  }
  return clientFactory(options);
}

/**
 * Closes a client: waits for pending replies (QUIT-like), but at most `deadlineMs`, then
 * destroys the socket. node-redis's `close()` waits forever for commands stuck in the offline
 * queue while Redis is down; shutdown must not. Never throws (closing twice is fine).
 */
export async function closeRedisClient(client: RedisClient, deadlineMs = 2000): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), deadlineMs);
    timer.unref();
  });
  try {
    const outcome = await Promise.race([client.close().then(() => 'closed' as const), deadline]);
    if (outcome === 'late') await client.destroy();
  } catch {
    // Already closed, or the socket never opened: nothing left to release.
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Wraps any Redis failure as CeleriacError TRANSPORT, naming the operation (`what`, e.g.
 * "store result of task 123") and the Redis error text; the original error is the `cause`.
 */
export function toTransportError(err: unknown, what: string): CeleriacError {
  // Already classified: a transport failure, or a configuration mistake (an unreadable CA file).
  if (err instanceof CeleriacError && (err.code === ErrorCodes.TRANSPORT || err.code === ErrorCodes.CONFIG)) return err;
  const cause = coerceError(err);
  const text = cause.message || cause.name;
  return new CeleriacError(ErrorCodes.TRANSPORT, `Redis error during ${what}: ${text}`, { cause: err });
}
