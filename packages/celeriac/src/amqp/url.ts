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
import { CeleriacError, ErrorCodes } from '../errors.js';

/** Where and how to reach RabbitMQ. */
export interface AmqpTarget {
  tls: boolean;
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

/** Parses an AMQP URL. @throws CeleriacError CONFIG on an unknown scheme or a bad value. */
export function parseAmqpUrl(url: string): AmqpTarget {
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
  return {
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
}

/**
 * Parses a broker URL that may list several nodes separated by `;` (kombu's failover list).
 * Every URL must parse; empty parts (a trailing `;`) are ignored. @throws CeleriacError CONFIG
 */
export function parseAmqpUrls(urls: string): AmqpTarget[] {
  const parts = urls.split(';').map((u) => u.trim()).filter((u) => u !== '');
  if (parts.length === 0) throw new CeleriacError(ErrorCodes.CONFIG, 'empty AMQP URL list');
  return parts.map(parseAmqpUrl);
}
