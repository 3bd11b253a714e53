/**
 * @module redis/url
 * Celery/kombu Redis URLs parsed into a {@link RedisTarget}: where Redis is (plain, TLS or
 * Sentinel), who to log in as, which database, TLS files, and the kombu transport options a
 * URL carries (`global_keyprefix`). Pure parsing: no connection, no file read (TLS files are
 * read by redis/client.ts when a client is made). Shared by the Redis broker and backend.
 */
import { redactUrl } from '../core/transport-table.js';
import { CeleriacError, ErrorCodes } from '../errors.js';
import type { TlsFiles } from '../core/tls-files.js';

/** Where and how to reach Redis, parsed from a URL by {@link parseRedisUrl}. */
export interface RedisTarget {
  /** Connect to Redis with TLS: `rediss://`, or a Sentinel URL with `ssl_*` keys (to its masters). */
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
  /**
   * Set for `sentinel://` and `redis+sentinel://` URLs. `username`, `password` and `tls` are
   * the sentinels' own (kombu's `sentinel_kwargs` transport option); the URL's are the masters'.
   */
  sentinel?: { masterName: string; nodes: { host: string; port: number }[]; username?: string; password?: string; tls?: RedisTlsOptions };
  /**
   * TLS files and verification, from redis-py's URL query keys (`ssl_ca_certs`, `ssl_certfile`,
   * `ssl_keyfile`, `ssl_cert_reqs`), so one URL serves Python and Celeriac: of a `rediss://`
   * server, or of a Sentinel URL's masters (as kombu 5.6 reads the keys). Absent: Node's default
   * trust store, certificate verified.
   */
  tlsOptions?: RedisTlsOptions;
  /** kombu transport options carried in the URL query. */
  transportOptions: {
    /** kombu's `global_keyprefix`: prefix of every broker key. Empty when absent. */
    globalKeyprefix: string;
  };
}

/**
 * What makes two targets the same server, database and login (key prefixes aside): a text to
 * compare, never logged (it holds the password).
 */
export function serverIdentity(target: RedisTarget): string {
  const { tls, host, port, username, password, db, sentinel, tlsOptions } = target;
  return JSON.stringify([tls, host, port, username, password, db, sentinel, tlsOptions]);
}

/** TLS settings of a target (file paths, read when the client is created: core/tls-files.ts). */
export type RedisTlsOptions = TlsFiles;

const DEFAULT_PORT = 6379;
const DEFAULT_SENTINEL_PORT = 26379;

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
type TlsKey = (typeof TLS_KEYS)[number];

/**
 * The TLS settings redis-py's `ssl_*` keys give (`get` reads one, undefined when absent);
 * `where` names them in errors. `ssl_cert_reqs` is `required` by default; "optional" verifies
 * too (a client always receives the server's certificate), as in Python.
 */
function tlsSettings(get: (key: TlsKey) => string | undefined, where: string): RedisTlsOptions {
  const asked = get('ssl_cert_reqs');
  const reqs = (asked ?? 'required').toLowerCase().replace(/^cert_/, '');
  if (!['required', 'optional', 'none'].includes(reqs)) throw configError(`${where}: ssl_cert_reqs must be required, optional or none, got "${asked ?? ''}"`);
  const out: RedisTlsOptions = { verify: reqs !== 'none' };
  const ca = get('ssl_ca_certs');
  const cert = get('ssl_certfile');
  const key = get('ssl_keyfile');
  if (ca) out.caFile = ca;
  if (cert) out.certFile = cert;
  if (key) out.keyFile = key;
  return out;
}

/** The TLS settings of a URL's `ssl_*` query keys; undefined when it has none. */
function queryTls(query: URLSearchParams, url: string): RedisTlsOptions | undefined {
  if (!TLS_KEYS.some((k) => query.has(k))) return undefined;
  return tlsSettings((k) => query.get(k) ?? undefined, `Redis URL ${redact(url)}`);
}

/**
 * redis-py's `ssl_*` query keys: rediss:// takes them. On redis:// they ask for TLS all the
 * same (redis-py refuses them there), so they are refused rather than connected to in plain
 * text, the password and every message with it.
 */
function parseTls(query: URLSearchParams, tls: boolean, url: string): RedisTlsOptions | undefined {
  const asked = TLS_KEYS.filter((k) => query.has(k));
  if (!tls && asked.length > 0) throw configError(`Redis URL ${redact(url)}: ${asked.join(', ')} asks for TLS, which a redis:// URL does not use: write rediss:// (docs/brokers-and-backends.md)`);
  return tls ? queryTls(query, url) : undefined;
}

/**
 * A Sentinel target whose URL has `ssl_*` keys: its masters over TLS with those settings, as
 * kombu 5.6 reads them (`SentinelManagedSSLConnection`). The sentinels' own TLS is in
 * `sentinel_kwargs` ({@link sentinelKwargs}).
 */
function withMasterTls(target: RedisTarget, query: URLSearchParams, url: string): RedisTarget {
  const tls = queryTls(query, url);
  if (tls !== undefined) {
    target.tls = true;
    target.tlsOptions = tls;
  }
  return target;
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

/**
 * kombu's form: `sentinel://h1:26379;sentinel://h2:26379/0?master_name=mymaster`, or without
 * the query when the master name comes from the transport options (`defaults.masterName`).
 */
function parseKombuSentinel(url: string, defaults: RedisUrlDefaults): RedisTarget {
  const parts = url.split(';').filter((p) => p.trim() !== '').map((p) => splitUrl(p, url));
  if (parts.some((p) => p.scheme !== 'sentinel')) throw configError(`Redis URL ${redact(url)}: every ;-separated part must be sentinel://`);
  const nodes = parts.map((p) => parseHostPort(p.authority, DEFAULT_SENTINEL_PORT, url));
  const masterName = parts.map((p) => p.query.get('master_name')).find((v) => v !== null && v !== '') ?? (defaults.masterName || undefined);
  if (masterName === undefined || masterName === null) throw configError(`Redis URL ${redact(url)}: a sentinel:// URL needs ?master_name=<name> (or the master_name transport option)`);
  const withDb = parts.find((p) => p.path.replace(/^\//, '') !== '');
  const query = new URLSearchParams(parts.flatMap((p) => [...p.query.entries()]));
  const first = nodes[0] ?? { host: 'localhost', port: DEFAULT_SENTINEL_PORT };
  const target: RedisTarget = {
    tls: false, ...first, db: parseDb(withDb?.path.replace(/^\//, ''), url),
    sentinel: { masterName, nodes }, transportOptions: transportOptions(query),
  };
  return withCredentials(withMasterTls(target, query, url), parts.find((p) => p.password !== undefined || p.username !== undefined) ?? parts[0]!);
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
  return withCredentials(withMasterTls(target, parts.query, url), parts);
}

/** What a URL may leave to the transport options. */
export interface RedisUrlDefaults {
  /** kombu's `master_name` transport option: the Sentinel master of a `sentinel://` URL without one. */
  masterName?: string;
  /**
   * kombu's `sentinel_kwargs` transport option: what redis-py connects to the sentinels
   * themselves with. Celeriac takes `password` and `username` (sentinels with `requirepass` or
   * ACL users), and `ssl: true` with redis-py's `ssl_*` keys (sentinels on TLS); any other key
   * is a CONFIG error. Ignored for a URL that names no sentinel.
   */
  sentinelKwargs?: Readonly<Record<string, unknown>>;
  /**
   * Celery's `broker_use_ssl` (a broker's) or `redis_backend_use_ssl` (a result backend's): TLS
   * to Redis (to a Sentinel URL's masters) whatever the URL's scheme, with redis-py's `ssl_*`
   * keys (`true`: Node's default trust store, certificate verified). The URL's own `ssl_*` keys
   * win over these. `false` or absent: as the URL says.
   */
  useSsl?: boolean | Readonly<Record<string, unknown>>;
}

/** The {@link RedisUrlDefaults} in a broker's or backend's options (their undefined ones left out). */
export function urlDefaults(options: Readonly<RedisUrlDefaults>): RedisUrlDefaults {
  return {
    ...(options.masterName === undefined ? {} : { masterName: options.masterName }),
    ...(options.sentinelKwargs === undefined ? {} : { sentinelKwargs: options.sentinelKwargs }),
    ...(options.useSsl === undefined ? {} : { useSsl: options.useSsl }),
  };
}

/**
 * `target` over TLS as `useSsl` (Celery's `broker_use_ssl` / `redis_backend_use_ssl`) says,
 * the URL's own `ssl_*` keys winning. @throws CeleriacError CONFIG for anything but redis-py's
 * `ssl_*` keys with string values.
 */
function withUseSsl(target: RedisTarget, useSsl: RedisUrlDefaults['useSsl']): RedisTarget {
  if (useSsl === undefined || useSsl === false) return target;
  const where = 'Redis TLS settings (brokerUseSsl, redisBackendUseSsl)';
  if (useSsl !== true && (typeof useSsl !== 'object' || useSsl === null || Array.isArray(useSsl))) throw configError(`${where} must be true, false or an object of redis-py's ssl_* keys, got ${JSON.stringify(useSsl)}`);
  const given = useSsl === true ? {} : useSsl;
  for (const [key, value] of Object.entries(given)) {
    if (!(TLS_KEYS as readonly string[]).includes(key)) throw configError(`${where}: "${key}" is not a TLS setting of a Redis connection (${TLS_KEYS.join(', ')})`);
    if (value !== null && value !== undefined && (typeof value !== 'string' || value === '')) throw configError(`${where}: "${key}" must be a non-empty string, got ${JSON.stringify(value)}`);
  }
  const fromSetting = tlsSettings((k) => (typeof given[k] === 'string' ? (given[k] as string) : undefined), where);
  target.tls = true;
  target.tlsOptions = { ...fromSetting, ...target.tlsOptions };
  return target;
}

/**
 * The {@link RedisUrlDefaults} in kombu's transport options as an app gives them
 * (`brokerTransportOptions`, `resultBackendTransportOptions`): `master_name` (a string) and
 * `sentinel_kwargs`. Other names are not read here.
 */
export function kombuUrlDefaults(transportOptions: Readonly<Record<string, unknown>>): RedisUrlDefaults {
  const masterName = transportOptions['master_name'];
  const sentinelKwargs = transportOptions['sentinel_kwargs'];
  return {
    ...(typeof masterName === 'string' ? { masterName } : {}),
    ...(sentinelKwargs === undefined ? {} : { sentinelKwargs: sentinelKwargs as Readonly<Record<string, unknown>> }),
  };
}

/** What kombu's `sentinel_kwargs` give the connections to the sentinels. */
type SentinelLogin = Pick<NonNullable<RedisTarget['sentinel']>, 'username' | 'password' | 'tls'>;

const SENTINEL_KWARGS = ['password', 'username', 'ssl', ...TLS_KEYS] as const;

/**
 * The sentinels' login and TLS in `kwargs` (kombu's `sentinel_kwargs`, passed by redis-py to
 * its sentinel connections): `password`, `username`, and `ssl: true` with redis-py's `ssl_*`
 * keys. An `ssl_*` key without `ssl: true` is refused (redis-py refuses it too): it asks for
 * TLS, and the sentinels would be reached in plain text.
 * @throws CeleriacError CONFIG for anything else in it.
 */
function sentinelKwargs(kwargs: unknown): SentinelLogin {
  if (kwargs === undefined || kwargs === null) return {};
  if (typeof kwargs !== 'object' || Array.isArray(kwargs)) throw configError(`Redis transport option sentinel_kwargs must be an object such as {"password": "..."}, got ${typeof kwargs === 'string' ? 'a string' : JSON.stringify(kwargs)}`);
  const out: SentinelLogin = {};
  const given = kwargs as Readonly<Record<string, unknown>>;
  const text: Partial<Record<TlsKey, string>> = {};
  for (const [key, value] of Object.entries(given)) {
    if (!(SENTINEL_KWARGS as readonly string[]).includes(key)) throw configError(`Redis transport option sentinel_kwargs: "${key}" is not supported (supported: ${SENTINEL_KWARGS.join(', ')})`);
    if (value === null || value === undefined) continue;
    if (key === 'ssl') {
      if (typeof value !== 'boolean') throw configError(`Redis transport option sentinel_kwargs: "ssl" must be true or false, got ${JSON.stringify(value)}`);
      continue;
    }
    // The value is never in the message: it may be the password.
    if (typeof value !== 'string' || value === '') throw configError(`Redis transport option sentinel_kwargs: "${key}" must be a non-empty string`);
    if (key === 'password' || key === 'username') out[key] = value;
    else text[key as TlsKey] = value;
  }
  const asked = TLS_KEYS.filter((k) => text[k] !== undefined);
  if (given['ssl'] === true) out.tls = tlsSettings((k) => text[k], 'Redis transport option sentinel_kwargs');
  else if (asked.length > 0) throw configError(`Redis transport option sentinel_kwargs: ${asked.join(', ')} asks for TLS to the sentinels: add "ssl": true`);
  return out;
}

/** `target` with the sentinels' login and TLS of `defaults` (a Sentinel target only). */
function withSentinelLogin(target: RedisTarget, defaults: RedisUrlDefaults): RedisTarget {
  if (target.sentinel !== undefined) Object.assign(target.sentinel, sentinelKwargs(defaults.sentinelKwargs));
  return target;
}

/**
 * Parses a Celery/kombu Redis URL: `redis://[user:pass@]host[:port][/db]`, `rediss://` (TLS),
 * `sentinel://h1:26379;sentinel://h2:26379/0?master_name=m` (kombu) and
 * `redis+sentinel://h1:26379,h2:26379/m/0`. The query may carry `global_keyprefix`, and on
 * rediss:// and Sentinel URLs redis-py's `ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile` and
 * `ssl_cert_reqs` (on a Sentinel URL: TLS to its masters); other query keys are ignored (kombu
 * has many, none of which change where we connect).
 * @throws CeleriacError CONFIG naming the problem; the password is never in the message.
 */
export function parseRedisUrl(url: string, defaults: RedisUrlDefaults = {}): RedisTarget {
  const scheme = url.slice(0, Math.max(0, url.indexOf('://'))).toLowerCase();
  switch (scheme) {
    case 'redis':
    case 'rediss':
      return withUseSsl(parsePlain(url), defaults.useSsl);
    case 'sentinel':
      return withUseSsl(withSentinelLogin(parseKombuSentinel(url, defaults), defaults), defaults.useSsl);
    case 'redis+sentinel':
      return withUseSsl(withSentinelLogin(parseSentinelList(url), defaults), defaults.useSsl);
    default:
      throw configError(`Redis URL ${redact(url)}: unsupported scheme "${scheme || '(none)'}"; use redis://, rediss://, sentinel:// or redis+sentinel://`);
  }
}
