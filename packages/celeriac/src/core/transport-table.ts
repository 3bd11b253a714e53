/**
 * @module core/transport-table
 * The table that maps URL schemes to adapter factories. core only defines its shape; the
 * edge (`src/transports.ts`) fills it, so core never imports an adapter.
 */
import type { Clock } from './clock.js';
import type { ResultBackend } from './spi/backend.js';
import type { Broker } from './spi/broker.js';
import type { QueueTopology } from './queue-topology.js';
import { CeleriacError, ErrorCodes } from '../errors.js';

/**
 * What an adapter log line concerns besides its message, as fields a log search filters on:
 * the error, and the names involved (a delivery tag, a queue, an exchange, a server...). The
 * message says what happened in words; the names go here, not into the message.
 */
export interface TransportLogFields {
  err?: Error;
  /** The delivery tag of the message concerned. */
  tag?: string;
  queue?: string;
  exchange?: string;
  routingKey?: string;
  /** A pub/sub channel. */
  channel?: string;
  /** `host:port` of the server (RabbitMQ: and vhost). */
  server?: string;
  [field: string]: unknown;
}

/** Where adapters report trouble that no caller is waiting on: one line, with its fields. */
export type TransportLog = (level: 'warn' | 'error', msg: string, fields?: TransportLogFields) => void;

/** What a factory receives besides the URL. */
export interface TransportContext {
  clock: Clock;
  /** The app's `brokerTransportOptions` (brokers only read them). */
  transportOptions: Readonly<Record<string, unknown>>;
  /** The app's `resultBackendTransportOptions` (result backends only read them). @default {} */
  backendTransportOptions?: Readonly<Record<string, unknown>>;
  /** The app's `brokerUseSsl` (Celery's `broker_use_ssl`): the broker's TLS, and `rpc://`'s. @default false */
  brokerUseSsl?: boolean | Readonly<Record<string, unknown>>;
  /** The app's `brokerLoginMethod` (Celery's `broker_login_method`): RabbitMQ's, and `rpc://`'s. @default null: PLAIN */
  brokerLoginMethod?: string | null;
  /** The app's `redisBackendUseSsl` (Celery's `redis_backend_use_ssl`). @default false */
  backendUseSsl?: boolean | Readonly<Record<string, unknown>>;
  log: TransportLog;
  /** The app's broker URL (the `rpc://` backend talks to that broker). */
  brokerUrl: string;
  /** The app's reply address (Celery's oid): the `rpc://` backend's result queue. */
  replyTo: string;
  /** The app's `resultExpiresSec`, seconds (null: forever). */
  resultExpiresSec: number | null;
  /** How task queues are declared (queue types, exchange types: RabbitMQ). @default classic queues, direct exchanges */
  queues?: QueueTopology;
  /**
   * One map per app, the same for its broker and its result backend: where the transport
   * table keeps what the two adapters may share (transports.ts: one Redis command connection
   * when both name the same server). @default nothing is shared
   */
  shared?: Map<string, unknown>;
}

/** Scheme (without `://`) to factory. */
export interface TransportTable {
  brokers: Readonly<Record<string, (url: string, ctx: TransportContext) => Broker>>;
  backends: Readonly<Record<string, (url: string, ctx: TransportContext) => ResultBackend>>;
}

function schemeOf(url: string): string {
  return url.slice(0, Math.max(0, url.indexOf('://'))).toLowerCase();
}

/** Hides the password of a URL for logs and banners. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)([^@]*)@/i, '$1**@');
}

/** Throws UNKNOWN_TRANSPORT, naming the known schemes, when no adapter handles `url`. */
export function checkScheme(table: TransportTable, kind: keyof TransportTable, url: string): void {
  const factories = table[kind];
  if (factories[schemeOf(url)] !== undefined) return;
  const known = Object.keys(factories).map((s) => `${s}://`).join(', ') || 'none';
  const what = kind === 'brokers' ? 'broker' : 'result backend';
  throw new CeleriacError(ErrorCodes.UNKNOWN_TRANSPORT, `No ${what} adapter for ${redactUrl(url)}; known schemes: ${known}`);
}

/** Creates the adapter for a URL, or throws UNKNOWN_TRANSPORT naming the known schemes. */
export function openTransport<K extends keyof TransportTable>(
  table: TransportTable,
  kind: K,
  url: string,
  ctx: TransportContext,
): ReturnType<TransportTable[K][string]> {
  checkScheme(table, kind, url);
  const factories = table[kind] as Record<string, (url: string, ctx: TransportContext) => unknown>;
  return (factories[schemeOf(url)] as (url: string, ctx: TransportContext) => unknown)(url, ctx) as ReturnType<TransportTable[K][string]>;
}
