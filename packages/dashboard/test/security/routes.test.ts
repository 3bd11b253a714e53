/**
 * Every route of the dashboard, taken from its route table (a new route is covered without
 * editing this file), called as each kind of caller a hostile network holds: nobody, a wrong
 * password, a session that went stale (password changed, user removed, restart without a
 * pinned secret, logged out), a viewer, and an admin's browser tricked by another site (no or
 * foreign Origin, missing CSRF token). Every response carries the security headers, and every
 * refused action lands in the audit log with who and what.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningDashboard } from '../../src/dashboard.js';
import { rawHttp } from '../../../celeriac/test/support/raw-http.js';
import { SECURITY_HEADERS } from '../../src/server/security-headers.js';
import { SecurityFixture, basic, call, login, postgresReady, routesOf, type CallableRoute } from './support.js';

const ready = await postgresReady('dashboard security: routes');
const fx = new SecurityFixture();
const SECRET = 'pinned-secret-for-the-restart-cases';
const USERS = { basicAuth: ['admin:s3cret', 'viv:look', 'gone:bye'], viewers: ['viv'], apiTokens: ['tok-admin-123'], cookieSecret: SECRET, loginFreeFailures: 100_000 };

describe.runIf(ready)('dashboard security: every route, every caller', () => {
  let dash: RunningDashboard;
  let routes: CallableRoute[];
  let guarded: CallableRoute[];
  let actions: CallableRoute[];
  let admin: { cookie: string; csrf: string };
  let viewer: { cookie: string; csrf: string };
  let gone: { cookie: string; csrf: string };

  beforeAll(async () => {
    dash = await fx.dashboard(USERS);
    routes = routesOf(dash);
    guarded = routes.filter((r) => !r.public);
    actions = routes.filter((r) => r.action);
    admin = await login(dash.url, 'admin', 's3cret');
    viewer = await login(dash.url, 'viv', 'look');
    gone = await login(dash.url, 'gone', 'bye');
  }, 30_000);

  afterAll(() => fx.close(), 30_000);

  it('reads the route table: the actions, the public routes and the rest', () => {
    expect(routes.length).toBeGreaterThan(40);
    expect(actions.length).toBeGreaterThan(15);
    expect(routes.filter((r) => r.public).map((r) => r.path).sort()).toEqual(['/healthcheck', '/metrics', '/readyz']);
    expect(routes.map((r) => `${r.method} ${r.path}`)).toContain('POST /logout');
  });

  it('nobody, or a wrong credential: 401 with a Basic challenge on every guarded route', async () => {
    for (const headers of [{}, { authorization: basic('admin', 'nope') }, { authorization: basic('nobody', 's3cret') }, { authorization: 'Bearer tok-wrong' }, { authorization: 'Digest x' }, { cookie: 'celeriac_dashboard=forged.sig' }] as Record<string, string>[]) {
      for (const r of guarded) {
        const res = await call(dash.url, r.method, r.path, headers);
        expect(res.status, `${JSON.stringify(headers)} ${r.method} ${r.path}`).toBe(401);
        expect(res.headers.get('www-authenticate')).toBe('Basic realm="flower", charset="UTF-8"');
        // The same words whether the user exists or not.
        expect(res.text).toBe('Unauthorized');
      }
    }
  });

  it('every response carries the security headers, refused or not', async () => {
    // A session of its own: this walk posts to /logout too.
    const own = await login(dash.url, 'admin', 's3cret');
    for (const r of routes) {
      for (const headers of [{}, { cookie: own.cookie }] as Record<string, string>[]) {
        const res = await call(dash.url, r.method, r.path, headers);
        for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
          if (name === 'content-security-policy' && res.headers.get('content-type')?.startsWith('text/html') === true) expect(res.headers.get(name), `${r.method} ${r.path}`).toMatch(/^default-src 'none'; script-src 'self' 'nonce-[A-Za-z0-9+/=]+'; style-src 'self';.*frame-ancestors 'none'/);
          else if (r.path !== '/api/live') expect(res.headers.get(name), `${name} on ${r.method} ${r.path}`).toBe(value);
        }
      }
    }
  });

  it('a viewer reads every guarded GET, and every action is 403 and audited as the viewer', async () => {
    for (const r of guarded.filter((x) => x.method === 'GET')) {
      const res = await call(dash.url, r.method, r.path, { cookie: viewer.cookie });
      // The audit log is for admins only.
      if (r.path === '/api/audit') expect(res.status).toBe(403);
      else expect([401, 403, 500], `${r.path}: ${res.status} ${res.text.slice(0, 100)}`).not.toContain(res.status);
    }
    for (const r of actions) {
      const res = await call(dash.url, r.method, r.path, { cookie: viewer.cookie, 'x-csrf-token': viewer.csrf, origin: new URL(dash.url).origin });
      expect(res.status, `${r.method} ${r.path}`).toBe(403);
      const [last] = (JSON.parse((await call(dash.url, 'GET', '/api/audit', { authorization: basic('admin', 's3cret') })).text) as { entries: Record<string, unknown>[] }).entries;
      expect(last, r.path).toMatchObject({ user: 'viv', role: 'viewer', via: 'session', method: r.method, path: r.path, status: 403 });
    }
  });

  it("an admin's browser tricked by another site: foreign Origin, cross-site fetch or no CSRF token, 403 and audited", async () => {
    const tricks: Record<string, string>[] = [
      { cookie: admin.cookie, 'x-csrf-token': admin.csrf, origin: 'http://evil.example' },
      { cookie: admin.cookie, 'x-csrf-token': admin.csrf, origin: 'null' },
      { cookie: admin.cookie, 'x-csrf-token': admin.csrf, 'sec-fetch-site': 'cross-site' },
      { cookie: admin.cookie },
      { cookie: admin.cookie, 'x-csrf-token': viewer.csrf },
      { authorization: basic('admin', 's3cret'), origin: new URL(dash.url).origin },
    ];
    for (const headers of tricks) {
      for (const r of actions) {
        const res = await call(dash.url, r.method, r.path, headers);
        expect(res.status, `${JSON.stringify(headers).slice(0, 120)} ${r.method} ${r.path}`).toBe(403);
        const [last] = (JSON.parse((await call(dash.url, 'GET', '/api/audit', { authorization: basic('admin', 's3cret') })).text) as { entries: Record<string, unknown>[] }).entries;
        expect(last).toMatchObject({ user: 'admin', role: 'admin', method: r.method, path: r.path, status: 403 });
      }
    }
  });

  it('the same admin session acts from its own page (and is audited with the answer)', async () => {
    const res = await call(dash.url, 'POST', '/api/task/revoke/sec-1', { cookie: admin.cookie, 'x-csrf-token': admin.csrf, origin: new URL(dash.url).origin });
    expect(res.status).toBe(200);
    const [last] = (JSON.parse((await call(dash.url, 'GET', '/api/audit', { cookie: admin.cookie })).text) as { entries: Record<string, unknown>[] }).entries;
    expect(last).toMatchObject({ user: 'admin', via: 'session', path: '/api/task/revoke/sec-1', status: 200 });
  });

  it('stale sessions: changed password, removed user, new role, restart without the pinned secret: 401 everywhere', async () => {
    // The same secret, the configuration changed: admin's password, viv now admin, gone removed.
    const changed = await fx.dashboard({ ...USERS, basicAuth: ['admin:n3w', 'viv:look'], viewers: [] });
    // The same users and passwords, the secret not pinned: a restart as an operator runs it by default.
    const fresh = await fx.dashboard({ ...USERS, cookieSecret: undefined });
    // Nothing changed: the pinned secret keeps sessions across the restart.
    const same = await fx.dashboard(USERS);
    expect((await call(same.url, 'GET', '/api/workers', { cookie: admin.cookie })).status).toBe(200);
    for (const [d, cookie, why] of [[changed, admin.cookie, 'password changed'], [changed, viewer.cookie, 'role changed'], [changed, gone.cookie, 'user removed'], [fresh, admin.cookie, 'new secret']] as const) {
      for (const r of guarded) {
        const res = await call(d.url, r.method, r.path, { cookie });
        expect(res.status, `${why}: ${r.method} ${r.path}`).toBe(401);
      }
    }
    // The CSRF token of the old password is worthless too, even with a fresh login's cookie.
    const again = await login(changed.url, 'admin', 'n3w');
    expect(again.csrf).not.toBe(admin.csrf);
    expect((await call(changed.url, 'POST', '/api/task/revoke/sec-2', { cookie: again.cookie, 'x-csrf-token': admin.csrf })).status).toBe(403);
  });

  it('logout ends the session: the replayed cookie is 401 on every guarded route; other sessions live on', async () => {
    const mine = await login(dash.url, 'admin', 's3cret');
    const out = await call(dash.url, 'POST', '/logout', { cookie: mine.cookie, origin: new URL(dash.url).origin });
    expect(out.status).toBe(200);
    expect(out.headers.get('set-cookie')).toMatch(/^celeriac_dashboard=; Path=\/; Max-Age=0; HttpOnly; SameSite=Strict$/);
    for (const r of guarded) expect((await call(dash.url, r.method, r.path, { cookie: mine.cookie })).status, `${r.method} ${r.path}`).toBe(401);
    expect((await call(dash.url, 'GET', '/api/workers', { cookie: admin.cookie })).status).toBe(200);
    expect((await call(dash.url, 'POST', '/logout', { cookie: admin.cookie, origin: 'http://evil.example' })).status).toBe(403);
  });

  it('a session cookie is HttpOnly, SameSite=Strict, scoped to the prefix and bounded in time', async () => {
    const page = await call(dash.url, 'GET', '/', { authorization: basic('admin', 's3cret') });
    expect(page.headers.get('set-cookie')).toMatch(/^celeriac_dashboard=[\w-]+\.[\w-]+; Path=\/; Max-Age=604800; HttpOnly; SameSite=Strict$/);
    // Scripts with a token get no cookie: nothing to steal or replay.
    expect((await call(dash.url, 'GET', '/', { authorization: 'Bearer tok-admin-123' })).headers.get('set-cookie')).toBeNull();
  });

  it('what the router and the HTTP parser refuse before any hook: a plain-text error with the security headers', async () => {
    const port = Number(new URL(dash.url).port);
    for (const [request, status] of [
      ['GET /api/task/info/%E0%A4%A HTTP/1.1\r\nHost: x\r\n\r\n', 400],
      [`GET /healthcheck HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(64 * 1024)}\r\n\r\n`, 431],
      ['HELLO THERE\r\n\r\n', 400],
    ] as const) {
      const res = await rawHttp(port, request);
      expect(res.status, request.slice(0, 40)).toBe(status);
      // Before, these answers had none of them: the hooks that set them never ran.
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(res.headers[name], `${name} on ${request.slice(0, 40)}`).toBe(value);
      expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(res.body.length).toBeLessThan(100);
    }
  });
});
