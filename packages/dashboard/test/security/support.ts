/**
 * What the security suite shares: dashboards on a private memory broker with their history in
 * Postgres under a schema of their own (no workers needed: every check here is about who may
 * call what), the route table of a running dashboard with its placeholders filled in, and a
 * request helper that never waits on the endless live stream.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createApp, type App } from 'celeriac';
import { startDashboard, type DashboardOptions, type RunningDashboard } from '../../src/dashboard.js';
import { routeTable, type RouteEntry } from '../../src/server/server.js';
import { PG_URL } from '../support/cluster.js';

export { postgresReady } from '../support/cluster.js';

/** A route of the table, ready to call. */
export interface CallableRoute extends RouteEntry {
  /** The URL without the prefix, placeholders filled with `x`. */
  readonly path: string;
}

/** A reply, body read (except the live stream's). */
export interface Reply {
  readonly status: number;
  readonly text: string;
  readonly headers: Headers;
}

export const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

/** Dashboards on one memory-broker app, their history in one schema dropped at close. */
export class SecurityFixture {
  readonly app: App = createApp({ broker: 'memory://', backend: 'memory://' }, { env: {} });
  readonly schema = `dash_sec_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  readonly #running: RunningDashboard[] = [];

  async dashboard(options: Partial<DashboardOptions> = {}): Promise<RunningDashboard> {
    const d = await startDashboard({
      app: this.app,
      port: 0,
      address: '127.0.0.1',
      dataDir: null,
      databaseUrl: PG_URL,
      storeOptions: { schema: this.schema },
      backfill: 0,
      ingest: { inspectIntervalMs: 60_000, queuePollMs: 60_000, enableEventsMs: 0, flushMs: 50, inspectTimeoutMs: 200 },
      ...options,
    });
    this.#running.push(d);
    return d;
  }

  async close(): Promise<void> {
    for (const d of this.#running.splice(0)) await d.close().catch(() => {});
    await this.app.close().catch(() => {});
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${this.schema}" CASCADE`);
    } finally {
      await client.end();
    }
  }
}

/** Every route the dashboard registered (from its route table, so new routes are covered), placeholders filled. */
export function routesOf(d: RunningDashboard, prefix = ''): CallableRoute[] {
  return routeTable(d.server).map((r) => ({ ...r, path: r.url.slice(prefix.length).replace(/:[^/]+/g, 'x').replace(/\*$/, 'x') || '/' }));
}

/** Calls a route; the live stream's body is dropped once the status is known. */
export async function call(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  const ctl = new AbortController();
  const res = await fetch(`${base}${path}`, { method, headers, signal: ctl.signal, ...(body === undefined ? {} : { body }) });
  const text = path === '/api/live' && res.status === 200 ? '' : await res.text();
  ctl.abort();
  return { status: res.status, text, headers: res.headers };
}

/** The session cookie (`name=value`) a page load set, or throws. */
export function cookieOf(reply: Reply): string {
  const cookie = (reply.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  if (!cookie.startsWith('celeriac_dashboard=') || cookie === 'celeriac_dashboard=') throw new Error(`no session cookie (status ${reply.status})`);
  return cookie;
}

/** The CSRF token in a page's config. */
export function csrfOf(page: Reply): string {
  const token = /csrfToken&quot;:&quot;([^&]+)&quot;/.exec(page.text)?.[1];
  if (token === undefined) throw new Error('no CSRF token in the page');
  return token;
}

/** A page load with basic auth: the cookie and the CSRF token it hands out. */
export async function login(base: string, user: string, pass: string): Promise<{ cookie: string; csrf: string }> {
  const page = await call(base, 'GET', '/', { authorization: basic(user, pass) });
  return { cookie: cookieOf(page), csrf: csrfOf(page) };
}

/**
 * Follows a provider login by hand (OIDC or GitHub): `/login` -> the provider, which answers at
 * once -> `/login/callback`, `tamper` applied to the callback URL first. The login cookie's
 * Set-Cookie header and the provider's authorize URL are returned for checks of their own.
 */
export async function providerLogin(dash: RunningDashboard, tamper?: (callback: URL) => void): Promise<{ status: number; text: string; session: string | null; loginSetCookie: string; authorize: URL }> {
  const start = await fetch(`${dash.url}/login`, { redirect: 'manual' });
  if (start.status !== 302) throw new Error(`/login answered ${start.status}, not a redirect to the provider`);
  const loginSetCookie = start.headers.get('set-cookie') ?? '';
  const authorize = new URL(start.headers.get('location') as string);
  const back = await fetch(authorize, { redirect: 'manual' });
  const callback = new URL(back.headers.get('location') as string);
  tamper?.(callback);
  const done = await fetch(callback, { headers: { cookie: loginSetCookie.split(';')[0] as string }, redirect: 'manual' });
  const session = (done.headers.getSetCookie().find((c) => c.startsWith('celeriac_dashboard=')) ?? '').split(';')[0] || null;
  return { status: done.status, text: await done.text(), session, loginSetCookie, authorize };
}
