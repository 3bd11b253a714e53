/**
 * @module amqp/url
 * Celery/kombu AMQP URLs (`amqp://`, `amqps://`, `pyamqp://`) parsed into what amqplib's
 * `connect` takes. kombu's rules: the path after the first `/` is the virtual host, URL-
 * decoded, `/` when empty (so `amqp://h//` and `amqp://h` both mean vhost `/`, and
 * `amqp://h/%2F` too); user and password default to guest/guest, the port to 5672 (5671 with
 * TLS). Query keys: `heartbeat` (seconds, Celery's `broker_heartbeat`, default 120 as in
 * Celery; the server's lower value wins in the negotiation), `frame_max`/`frameMax`,
 * `connection_timeout` (seconds). Several URLs separated by `;` (kombu's failover list,
 * `amqp://a;amqp://b`, as Celery's `broker_url` takes it) are the nodes of one cluster, tried
 * in turn (amqp/session.ts). Pure parsing: no connection.
 */
import { redactUrl } from '../core/transport-table.js';
import type { TlsFiles } from '../core/tls-files.js';
import { CeleriacError, ErrorCodes } from '../errors.js';

/** Where and how to reach RabbitMQ. */
export interface AmqpTarget {
  /** `amqps://`, or `brokerUseSsl` set. */
  tls: boolean;
  /** The files and checks of `brokerUseSsl` (Celery's `broker_use_ssl`), read at connect time; absent: Node's defaults. */
  tlsFiles?: TlsFiles;
  /** `brokerUseSsl`'s `server_hostname`: the name the certificate is checked against (and SNI) instead of the host. */
  servername?: string;
  hostname: string;
  port: number;
  username: string;
  /** Never logged. */
  password: string;
  vhost: string;
  /** Requested heartbeat in seconds (0 = none). */
  heartbeatSec: number;
  frameMax: number;
  /** TCP connect timeout, ms. */
  connectTimeoutMs: number;
}

const SCHEMES: Record<string, boolean> = { 'amqp:': false, 'pyamqp:': false, 'amqps:': true };

function intParam(query: URLSearchParams, names: readonly string[], fallback: number, url: string): number {
  for (const name of names) {
    const raw = query.get(name);
    if (raw === null) continue;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) {
      throw new CeleriacError(ErrorCodes.CONFIG, `AMQP URL ${redactUrl(url)}: ${name} must be a number >= 0, got ${JSON.stringify(raw)}`);
    }
    return value;
  }
  return fallback;
}

/** Celery's `broker_use_ssl` for RabbitMQ: `true`, or py-amqp's keys. */
export type AmqpUseSsl = boolean | Readonly<Record<string, unknown>>;

const SSL_KEYS = ['ca_certs', 'certfile', 'keyfile', 'cert_reqs', 'server_hostname'] as const;

/**
 * `target` with `useSsl` (Celery's `broker_use_ssl`, py-amqp's keys): TLS, its files, how the
 * certificate is checked. `cert_reqs`: `CERT_REQUIRED` (the default), `CERT_OPTIONAL` (checked
 * too: a client always receives the server's certificate) or `CERT_NONE`.
 * @throws CeleriacError CONFIG for anything else.
 */
function withUseSsl(target: AmqpTarget, useSsl: AmqpUseSsl | undefined, portGiven: boolean): AmqpTarget {
  if (useSsl === undefined || useSsl === false) return target;
  const where = 'brokerUseSsl (Celery\'s broker_use_ssl) for RabbitMQ';
  if (useSsl !== true && (typeof useSsl !== 'object' || useSsl === null || Array.isArray(useSsl))) throw new CeleriacError(ErrorCodes.CONFIG, `${where} must be true, false or an object of py-amqp's TLS keys, got ${JSON.stringify(useSsl)}`);
  const given = useSsl === true ? {} : useSsl;
  const text: Partial<Record<(typeof SSL_KEYS)[number], string>> = {};
  for (const [key, value] of Object.entries(given)) {
    if (!(SSL_KEYS as readonly string[]).includes(key)) throw new CeleriacError(ErrorCodes.CONFIG, `${where}: "${key}" is not supported (supported: ${SSL_KEYS.join(', ')})`);
    if (value === null || value === undefined) continue;
    if (typeof value !== 'string' || value === '') throw new CeleriacError(ErrorCodes.CONFIG, `${where}: "${key}" must be a non-empty string, got ${JSON.stringify(value)}`);
    text[key as (typeof SSL_KEYS)[number]] = value;
  }
  const reqs = (text.cert_reqs ?? 'CERT_REQUIRED').toUpperCase().replace(/^(?!CERT_)/, 'CERT_');
  if (!['CERT_REQUIRED', 'CERT_OPTIONAL', 'CERT_NONE'].includes(reqs)) throw new CeleriacError(ErrorCodes.CONFIG, `${where}: cert_reqs must be CERT_REQUIRED, CERT_OPTIONAL or CERT_NONE, got "${text.cert_reqs ?? ''}"`);
  const files: TlsFiles = { verify: reqs !== 'CERT_NONE' };
  if (text.ca_certs !== undefined) files.caFile = text.ca_certs;
  if (text.certfile !== undefined) files.certFile = text.certfile;
  if (text.keyfile !== undefined) files.keyFile = text.keyfile;
  const out: AmqpTarget = { ...target, tls: true, tlsFiles: files, port: portGiven ? target.port : 5671 };
  if (text.server_hostname !== undefined) out.servername = text.server_hostname;
  return out;
}

/**
 * Parses an AMQP URL; `useSsl` is the app's `brokerUseSsl` (TLS whatever the scheme).
 * @throws CeleriacError CONFIG on an unknown scheme or a bad value.
 */
export function parseAmqpUrl(url: string, useSsl?: AmqpUseSsl): AmqpTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CeleriacError(ErrorCodes.CONFIG, `not a valid AMQP URL: ${redactUrl(url)}`);
  }
  const tls = SCHEMES[parsed.protocol];
  if (tls === undefined) throw new CeleriacError(ErrorCodes.CONFIG, `not an AMQP URL (amqp://, amqps://, pyamqp://): ${redactUrl(url)}`);
  const path = parsed.pathname.startsWith('/') ? parsed.pathname.slice(1) : parsed.pathname;
  const query = parsed.searchParams;
  const target: AmqpTarget = {
    tls,
    hostname: parsed.hostname === '' ? 'localhost' : parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port === '' ? (tls ? 5671 : 5672) : Number(parsed.port),
    username: parsed.username === '' ? 'guest' : decodeURIComponent(parsed.username),
    password: parsed.password === '' && parsed.username === '' ? 'guest' : decodeURIComponent(parsed.password),
    vhost: path === '' ? '/' : decodeURIComponent(path),
    heartbeatSec: intParam(query, ['heartbeat'], 120, url),
    frameMax: intParam(query, ['frame_max', 'frameMax'], 131072, url),
    connectTimeoutMs: intParam(query, ['connection_timeout', 'connect_timeout'], 4, url) * 1000,
  };
  return withUseSsl(target, useSsl, parsed.port !== '');
}

/**
 * Parses a broker URL that may list several nodes separated by `;` (kombu's failover list),
 * each with `useSsl` (the app's `brokerUseSsl`). Every URL must parse; empty parts (a trailing
 * `;`) are ignored. @throws CeleriacError CONFIG
 */
export function parseAmqpUrls(urls: string, useSsl?: AmqpUseSsl): AmqpTarget[] {
  const parts = urls.split(';').map((u) => u.trim()).filter((u) => u !== '');
  if (parts.length === 0) throw new CeleriacError(ErrorCodes.CONFIG, 'empty AMQP URL list');
  return parts.map((u) => parseAmqpUrl(u, useSsl));
}
