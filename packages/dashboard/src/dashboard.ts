/**
 * @module dashboard
 * `startDashboard()`: the whole dashboard in one call, for `celeriac flower` and for apps that
 * embed it (apps/api's `npm start`). It opens the history store (embedded PGlite in a data
 * directory by default, Postgres with `databaseUrl`), starts the ingest on the app's broker,
 * and serves the HTTP API and the browser app. `close()` stops accepting requests, stops the
 * ingest (writing what it buffered) and closes the store.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import type { App } from 'celeriac';
import type { FastifyInstance } from 'fastify';
import { backfillFromRedis } from './ingest/backfill.js';
import { REDIS_SCHEMES } from './ingest/queues.js';
import { Ingest, type IngestOptions } from './ingest/ingest.js';
import { AuditLog } from './server/audit.js';
import { Auth } from './server/auth.js';
import { LoginLimiter } from './server/login-limiter.js';
import { GithubLogin } from './server/github-login.js';
import { OidcLogin, PROVIDER_ISSUERS, type ProviderLogin } from './server/oidc.js';
import { makePrivateDir, tighten } from './private-dir.js';
import type { ServerContext } from './server/context.js';
import { historyCounts } from './server/counts.js';
import { buildServer } from './server/server.js';
import { openHistoryStore } from './store/index.js';
import type { HistoryStore, HistoryStoreOptions } from './store/history-store.js';

/** The dashboard's version: its package.json's (one level up from both src/ and dist/). */
export const DASHBOARD_VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/** The browser app shipped with this package. */
export const DEFAULT_UI_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'ui');

/** A `traceUrl` as the server keeps it; throws on one that is not an http(s) URL with `{trace_id}`. */
export function checkTraceUrl(template: string | undefined): string | null {
  if (template === undefined || template === '') return null;
  if (!/^https?:\/\//i.test(template) || !template.includes('{trace_id}')) {
    throw new TypeError(`traceUrl must be an http(s) URL with {trace_id} where the trace id goes, got ${JSON.stringify(template)}`);
  }
  return template;
}

/** Options of {@link startDashboard}. Names follow Flower's options (docs/dashboard.md). */
export interface DashboardOptions {
  /** The app whose broker (and result backend) the dashboard watches. */
  app: App;
  /** HTTP port; 0 picks a free one. @default 5555 */
  port?: number;
  /** Bind address. @default '0.0.0.0' (Flower's '' = all interfaces) */
  address?: string;
  /** Mount everything under this path (`/flower`). @default '' */
  urlPrefix?: string;
  /** `user:pass` pairs (Flower's `basic_auth`). @default [] */
  basicAuth?: readonly string[];
  /** Basic-auth users who may only read. @default [] */
  viewers?: readonly string[];
  /** Bearer tokens, `token` or `token:viewer`. @default [] */
  apiTokens?: readonly string[];
  /** Refuse every action. @default false */
  readOnly?: boolean;
  /**
   * A URL template the task page links a task's trace id to (`{trace_id}` where the id goes):
   * Jaeger `http://jaeger:16686/trace/{trace_id}`, Tempo through Grafana's explore URL,
   * Honeycomb `https://ui.honeycomb.io/<team>/environments/<env>/trace?trace_id={trace_id}`.
   * @default none: the id is shown without a link
   */
  traceUrl?: string;
  /** Allow anonymous API calls; undefined reads `FLOWER_UNAUTHENTICATED_API` per request. */
  unauthenticatedApi?: boolean;
  /**
   * Without basic auth or tokens, the page's anonymous session may act (revoke, shut down...).
   * Off, pages only read. Scripts need {@link unauthenticatedApi} either way. @default false
   */
  anonymousControl?: boolean;
  /**
   * Signs session cookies and CSRF tokens. Pin it to keep sessions across restarts.
   * @default a fresh random secret on each start (a restart ends every session)
   */
  cookieSecret?: string;
  /**
   * Login with an OpenID Connect provider, as Flower's `--auth`: the emails allowed in, a
   * regular expression matched against the whole verified email (`.*@example\.com`).
   * Needs {@link oidc}. @default none
   */
  auth?: string;
  /** The OIDC provider of {@link auth}: `issuer` (or `provider`: google, gitlab), client id and secret, and the callback URL (`<public URL>/login/callback`). */
  oidc?: { issuer?: string; provider?: string; clientId: string; clientSecret: string; redirectUri: string };
  /** Failed logins a client or user name may make before it is locked out (1 s, doubling to 5 min). @default 5 */
  loginFreeFailures?: number;
  /** A browser session unused this long ends, seconds. @default 28800 (8 h) */
  sessionIdleSec?: number;
  /** Any browser session ends this long after login, seconds. @default 604800 (7 days) */
  sessionMaxAgeSec?: number;
  /** A store to use instead of opening one (the caller closes it). */
  store?: HistoryStore;
  /** Postgres URL; absent: the embedded database in `dataDir`. */
  databaseUrl?: string;
  /** Embedded database and audit log directory (made 0700); null keeps everything in memory. @default './celeriac-flower' */
  dataDir?: string | null;
  /** Most tasks kept (Flower's `max_tasks`). @default 1000000 */
  maxTasks?: number;
  /** Store options (retention, payload cap). */
  storeOptions?: Omit<HistoryStoreOptions, 'databaseUrl' | 'dataDir' | 'maxTasks'>;
  /** Ingest options (inspect timeout, purge of offline workers, buckets...). */
  ingest?: IngestOptions;
  /** Browser app directory. @default this package's ui/ */
  uiDir?: string;
  /** RECEIVED/STARTED longer than this counts as stuck in /metrics, seconds. @default 3600 */
  stuckAfterSec?: number;
  /** Audit log file; null: in memory only. @default `<dataDir>/audit.log` */
  auditLog?: string | null;
  /** Fastify request logging. @default false */
  logger?: boolean;
  /** On first start (empty history), read up to this many results from a Redis result backend; 0 disables. @default 10000 */
  backfill?: number;
  /**
   * V8's heap growing factor for this whole process (V8's `--heap-growing-percent`), set at
   * start: after each full collection the heap may grow this many percent past what it kept.
   * Under a busy ingest's allocation rate V8's own factor lets it grow to 3-4x the live data
   * (about 100 MB live, 330 MB used before the next full collection, bench/dashboard/README.md).
   * Not a limit: the heap still grows as far as live data needs, it is collected sooner.
   * Process-wide, so the process's owner chooses: `celeriac flower` sets
   * {@link FLOWER_HEAP_GROWING_PERCENT}; an app that embeds the dashboard keeps V8's own.
   * @default undefined (V8's own factor)
   */
  heapGrowingPercent?: number;
}

/** The heap growing percent `celeriac flower` runs with ({@link DashboardOptions.heapGrowingPercent}). */
export const FLOWER_HEAP_GROWING_PERCENT = 25;

/** A running dashboard. */
export interface RunningDashboard {
  /** Base URL (with the prefix), e.g. `http://localhost:5555`. */
  readonly url: string;
  readonly port: number;
  readonly server: FastifyInstance;
  readonly ingest: Ingest;
  readonly store: HistoryStore;
  /** Resolves with the number of results backfilled on this start (0 when the history was not empty). */
  readonly backfilled: Promise<number>;
  close(): Promise<void>;
}

/** Normalises a URL prefix to '' or `/a/b`. */
export function normalizePrefix(prefix: string | undefined): string {
  const p = (prefix ?? '').trim().replace(/^\/+|\/+$/g, '');
  if (p === '') return '';
  if (!/^[A-Za-z0-9._~!$&'()*+,;=:@%/-]+$/.test(p)) throw new RangeError(`bad url prefix ${JSON.stringify(prefix)}`);
  return `/${p}`;
}

/** The provider login of the options (OIDC, or GitHub's OAuth2), or null; throws a RangeError for an incomplete configuration. */
function oidcLogin(options: DashboardOptions): ProviderLogin | null {
  if (options.auth === undefined || options.auth === '') return null;
  const o = options.oidc;
  const github = o?.provider?.toLowerCase() === 'github';
  // GitHub: `issuer` is a GitHub Enterprise Server's URL, github.com by default.
  const issuer = github ? (o?.issuer ?? 'https://github.com') : (o?.issuer ?? (o?.provider === undefined ? undefined : PROVIDER_ISSUERS[o.provider.toLowerCase()]));
  if (o === undefined || issuer === undefined || o.clientId === '' || o.clientSecret === '' || o.redirectUri === '') throw new RangeError('auth (allowed emails) needs a login provider: an OIDC issuer (or provider google, gitlab or github), client id and secret, and the redirect URI');
  let allowedEmail: RegExp;
  try {
    allowedEmail = new RegExp(`^(?:${options.auth})$`);
  } catch (error) {
    throw new RangeError(`auth is not a valid regular expression: ${(error as Error).message}`);
  }
  const config = { issuer, clientId: o.clientId, clientSecret: o.clientSecret, redirectUri: o.redirectUri, allowedEmail };
  return github ? new GithubLogin(config) : new OidcLogin({ ...config, now: () => options.app.clock.now() });
}

/** Backfills from a Redis result backend when the history is empty. */
async function backfillOnFirstStart(options: DashboardOptions, store: HistoryStore): Promise<number> {
  const limit = options.backfill ?? 10_000;
  const url = options.app.settings.backend;
  if (limit <= 0 || !REDIS_SCHEMES.has(url.slice(0, Math.max(0, url.indexOf(':'))).toLowerCase())) return 0;
  const counts = await store.countByState();
  if (Object.values(counts).some((n) => n > 0)) return 0;
  return backfillFromRedis(url, store, limit, options.app.settings.resultBackendTransportOptions);
}

/** Starts the dashboard. */
export async function startDashboard(options: DashboardOptions): Promise<RunningDashboard> {
  const growing = options.heapGrowingPercent;
  if (growing !== undefined) {
    if (!Number.isInteger(growing) || growing <= 0) throw new RangeError(`heapGrowingPercent must be a positive integer, got ${String(growing)}`);
    // Read by V8 each time it sets the next full collection's limit, so it applies from the next one.
    setFlagsFromString(`--heap-growing-percent=${growing}`);
  }
  // Checked before anything is opened: a bad login configuration stops the start cleanly.
  const oidc = oidcLogin(options);
  const dataDir = options.dataDir === undefined ? resolve('celeriac-flower') : options.dataDir === null ? null : resolve(options.dataDir);
  if (dataDir !== null) await makePrivateDir(dataDir);
  const ownStore = options.store === undefined;
  const store =
    options.store ??
    (await openHistoryStore({
      ...options.storeOptions,
      ...(options.databaseUrl !== undefined ? { databaseUrl: options.databaseUrl } : dataDir !== null ? { dataDir: join(dataDir, 'db') } : {}),
      ...(options.maxTasks !== undefined ? { maxTasks: options.maxTasks } : {}),
    }));
  // The embedded database made its files with the process umask: tighten them too.
  if (dataDir !== null) await tighten(dataDir);
  const ingest = new Ingest(options.app, store, options.ingest);
  const auditFile = options.auditLog === undefined ? (dataDir === null ? null : join(dataDir, 'audit.log')) : options.auditLog;
  const urlPrefix = normalizePrefix(options.urlPrefix);
  const stuckAfterSec = options.stuckAfterSec ?? 3600;
  const ctx: ServerContext = {
    app: options.app,
    store,
    ingest,
    auth: new Auth({
      basicAuth: options.basicAuth ?? [],
      viewers: options.viewers ?? [],
      apiTokens: options.apiTokens ?? [],
      // A fresh secret on each start unless pinned: a restart ends every session.
      cookieSecret: options.cookieSecret !== undefined && options.cookieSecret !== '' ? options.cookieSecret : randomBytes(32).toString('base64url'),
      unauthenticatedApi: options.unauthenticatedApi,
      anonymousControl: options.anonymousControl ?? false,
      sessionIdleMs: (options.sessionIdleSec ?? 8 * 3600) * 1000,
      sessionMaxAgeMs: (options.sessionMaxAgeSec ?? 7 * 24 * 3600) * 1000,
      clock: options.app.clock,
      oidc: oidc === null ? undefined : { issuer: oidc.config.issuer, allowedEmail: oidc.config.allowedEmail },
    }),
    oidc,
    audit: new AuditLog(auditFile),
    limiter: new LoginLimiter(options.app.clock, options.loginFreeFailures),
    counts: historyCounts(store, stuckAfterSec),
    settings: {
      urlPrefix,
      readOnly: options.readOnly ?? false,
      uiDir: options.uiDir ?? DEFAULT_UI_DIR,
      timezone: options.app.settings.timezone,
      traceUrl: checkTraceUrl(options.traceUrl),
      stuckAfterSec,
      bodyLimit: 1 << 20,
      version: DASHBOARD_VERSION,
    },
  };
  let server: FastifyInstance | undefined;
  try {
    await ingest.start();
    server = await buildServer(ctx, { logger: options.logger ?? false });
    await server.listen({ port: options.port ?? 5555, host: options.address === undefined || options.address === '' ? '0.0.0.0' : options.address });
  } catch (error) {
    await server?.close().catch(() => {});
    await ingest.close();
    if (ownStore) await store.close();
    throw error;
  }
  const backfilled = backfillOnFirstStart(options, store).catch(() => 0);
  const address = server.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : (options.port ?? 5555);
  const host = options.address === undefined || options.address === '' || options.address === '0.0.0.0' || options.address === '::' ? 'localhost' : options.address;
  const running = server;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}${urlPrefix}`,
    port,
    server: running,
    ingest,
    store,
    backfilled,
    close: () =>
      (closing ??= (async () => {
        // Live streams never end on their own: close them so the server can stop.
        running.server.closeAllConnections?.();
        await running.close();
        await ingest.close();
        await ctx.audit.flush();
        if (ownStore) await store.close();
      })()),
  };
}
