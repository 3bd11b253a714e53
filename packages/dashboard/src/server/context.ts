/**
 * @module server/context
 * What every route module receives: the cluster app, the store, the ingest, auth and audit,
 * and the resolved server options. Route flags live in Fastify's route `config`.
 */
import type { App } from 'celeriac';
import type { Ingest } from '../ingest/ingest.js';
import type { HistoryStore } from '../store/history-store.js';
import type { AuditLog } from './audit.js';
import type { Auth, Principal } from './auth.js';
import type { HistoryCounts } from './counts.js';
import type { LoginLimiter } from './login-limiter.js';
import type { ProviderLogin } from './oidc.js';

/** Per-route flags read by the auth hook. */
export interface RouteFlags {
  /** No authentication at all (`/healthcheck`, `/metrics`, readiness). */
  readonly public?: boolean;
  /** Changes the cluster: refused in read-only mode and to viewers, CSRF-checked, audited. */
  readonly action?: boolean;
}

/** Server options, resolved. */
export interface ServerSettings {
  /** '' or `/prefix` (no trailing slash). */
  readonly urlPrefix: string;
  readonly readOnly: boolean;
  /** Directory of the browser app (index.html and assets). */
  readonly uiDir: string;
  /** The app's time zone, for the UI. */
  readonly timezone: string;
  /** Where a task's trace is shown: a URL with `{trace_id}`, or null (the id alone is shown). */
  readonly traceUrl: string | null;
  /** Tasks RECEIVED/STARTED longer than this count as stuck in /metrics, seconds. */
  readonly stuckAfterSec: number;
  /** Largest request body, bytes. */
  readonly bodyLimit: number;
  readonly version: string;
}

/** The shared context of the route modules. */
export interface ServerContext {
  readonly app: App;
  readonly store: HistoryStore;
  readonly ingest: Ingest;
  readonly auth: Auth;
  readonly audit: AuditLog;
  /** Failed-login counting (server/login-limiter.ts). */
  readonly limiter: LoginLimiter;
  /** The OIDC login, when configured. */
  readonly oidc: ProviderLogin | null;
  /** The whole history's counts, computed at most once at a time and reused a while. */
  readonly counts: HistoryCounts;
  readonly settings: ServerSettings;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** See {@link RouteFlags}. */
    public?: boolean;
    action?: boolean;
  }
}
