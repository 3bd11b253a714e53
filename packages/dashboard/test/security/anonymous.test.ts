/**
 * A dashboard with no auth configured, in each of its modes (docs/security.md): by default
 * scripts get Flower's 401 on the API, the page's anonymous session reads, and every action is
 * 401 whatever cookie is sent (the hole: the page's anonymous cookie plus the token of
 * /api/config used to act as admin). FLOWER_UNAUTHENTICATED_API opens the API to scripts as
 * Flower does; --anonymous-control lets the pages act. /readyz tells its details only to a
 * caller who could read the API.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningDashboard } from '../../src/dashboard.js';
import { SecurityFixture, basic, call, cookieOf, csrfOf, postgresReady, routesOf, type CallableRoute } from './support.js';

const ready = await postgresReady('dashboard security: anonymous modes');
const fx = new SecurityFixture();
const GATE = 'FLOWER_UNAUTHENTICATED_API environment variable is required to enable API without authentication';
const saved = process.env['FLOWER_UNAUTHENTICATED_API'];

describe.runIf(ready)('dashboard security: no auth configured', () => {
  let locked: RunningDashboard;
  let control: RunningDashboard;
  let routes: CallableRoute[];
  let origin: string;

  beforeAll(async () => {
    delete process.env['FLOWER_UNAUTHENTICATED_API'];
    // As `celeriac flower` runs with neither flag: the gate reads the environment per request.
    locked = await fx.dashboard({ unauthenticatedApi: undefined });
    control = await fx.dashboard({ unauthenticatedApi: undefined, anonymousControl: true });
    routes = routesOf(locked);
    origin = new URL(locked.url).origin;
  }, 30_000);

  afterEach(() => {
    if (saved === undefined) delete process.env['FLOWER_UNAUTHENTICATED_API'];
    else process.env['FLOWER_UNAUTHENTICATED_API'] = saved;
  });

  afterAll(() => fx.close(), 30_000);

  it('scripts: every API route is 401 (Flower\'s words); every action is 401, with or without the page cookie and token', async () => {
    delete process.env['FLOWER_UNAUTHENTICATED_API'];
    const page = await call(locked.url, 'GET', '/');
    expect(page.status).toBe(200);
    expect(page.text).toContain('auth&quot;:&quot;anonymous-read-only');
    const cookie = cookieOf(page);
    const token = csrfOf(page);
    for (const r of routes.filter((x) => !x.public)) {
      const bare = await call(locked.url, r.method, r.path);
      if (r.path.startsWith('/api/')) expect(bare, `${r.method} ${r.path}`).toMatchObject({ status: 401, text: r.action ? expect.stringMatching(/anonymous control is off/) : GATE });
      if (!r.action) continue;
      for (const headers of [{ cookie, 'x-csrf-token': token, origin }, { cookie, 'x-csrf-token': token }, { 'x-csrf-token': token }] as Record<string, string>[]) {
        const res = await call(locked.url, r.method, r.path, headers);
        expect(res.status, `${JSON.stringify(Object.keys(headers))} ${r.method} ${r.path}`).toBe(401);
      }
    }
    expect((await call(locked.url, 'GET', '/api/workers', { cookie })).status).toBe(200);
  });

  it('the page reads every guarded GET with its cookie (a read-only viewer), and its config says so', async () => {
    const page = await call(locked.url, 'GET', '/');
    const cookie = cookieOf(page);
    for (const r of routes.filter((x) => !x.public && x.method === 'GET' && x.path !== '/api/audit')) {
      const res = await call(locked.url, r.method, r.path, { cookie });
      expect([401, 403, 500], `${r.path}: ${res.status}`).not.toContain(res.status);
    }
    const config = JSON.parse((await call(locked.url, 'GET', '/api/config', { cookie })).text) as Record<string, unknown>;
    expect(config).toMatchObject({ role: 'viewer', user: null, auth: 'anonymous-read-only', anonymousApi: false });
    // A page cookie of one dashboard is nothing on another (a fresh secret each).
    expect((await call(control.url, 'GET', '/api/workers', { cookie })).status).toBe(401);
  });

  it('FLOWER_UNAUTHENTICATED_API opens the API to scripts, as in Flower, but never to another site', async () => {
    process.env['FLOWER_UNAUTHENTICATED_API'] = 'true';
    expect((await call(locked.url, 'GET', '/api/workers')).status).toBe(200);
    expect((await call(locked.url, 'POST', '/api/task/revoke/anon-1')).status).toBe(200);
    const config = JSON.parse((await call(locked.url, 'GET', '/api/config')).text) as { csrfToken: string; anonymousApi: boolean };
    expect(config.anonymousApi).toBe(true);
    expect((await call(locked.url, 'POST', '/api/task/revoke/anon-2', { origin: 'http://evil.example', 'x-csrf-token': config.csrfToken })).status).toBe(403);
    const [entry] = (JSON.parse((await call(locked.url, 'GET', '/api/audit')).text) as { entries: Record<string, unknown>[] }).entries;
    expect(entry).toMatchObject({ user: null, via: 'anonymous', path: '/api/task/revoke/anon-2', status: 403 });
  });

  it('--anonymous-control: the page acts with its cookie and token; scripts still need the gate', async () => {
    const page = await call(control.url, 'GET', '/');
    expect(page.text).toContain('auth&quot;:&quot;anonymous-control');
    const cookie = cookieOf(page);
    const token = csrfOf(page);
    const ok = await call(control.url, 'POST', '/api/task/revoke/anon-3', { cookie, 'x-csrf-token': token, origin: new URL(control.url).origin });
    expect(ok.status).toBe(200);
    expect((await call(control.url, 'POST', '/api/task/revoke/anon-3', { cookie, origin: 'http://evil.example', 'x-csrf-token': token })).status).toBe(403);
    expect((await call(control.url, 'POST', '/api/task/revoke/anon-3', { cookie })).status).toBe(403);
    expect((await call(control.url, 'POST', '/api/task/revoke/anon-3')).status).toBe(401);
  });

  it('/readyz: ready or not to anyone; the checks only to a caller who may read the API', async () => {
    const anonymous = JSON.parse((await call(locked.url, 'GET', '/readyz')).text) as Record<string, unknown>;
    expect(Object.keys(anonymous)).toEqual(['ready']);
    const cookie = cookieOf(await call(locked.url, 'GET', '/'));
    const detailed = JSON.parse((await call(locked.url, 'GET', '/readyz', { cookie })).text) as Record<string, unknown>;
    expect(detailed).toHaveProperty('checks.broker.detail');
    process.env['FLOWER_UNAUTHENTICATED_API'] = 'yes';
    expect(JSON.parse((await call(locked.url, 'GET', '/readyz')).text)).toHaveProperty('checks');
  });

  it('/readyz with auth configured: details with a valid credential only, and wrong ones count as failed logins', async () => {
    const d = await fx.dashboard({ basicAuth: ['ops:pw'], loginFreeFailures: 2 });
    expect(Object.keys(JSON.parse((await call(d.url, 'GET', '/readyz')).text) as object)).toEqual(['ready']);
    expect(JSON.parse((await call(d.url, 'GET', '/readyz', { authorization: basic('ops', 'pw') })).text)).toHaveProperty('checks.events');
    for (let i = 0; i < 2; i++) expect(Object.keys(JSON.parse((await call(d.url, 'GET', '/readyz', { authorization: basic('ops', 'guess') })).text) as object)).toEqual(['ready']);
    // Locked now: even the right password gets no details here, and the API says 429.
    expect(Object.keys(JSON.parse((await call(d.url, 'GET', '/readyz', { authorization: basic('ops', 'pw') })).text) as object)).toEqual(['ready']);
    expect((await call(d.url, 'GET', '/api/workers', { authorization: basic('ops', 'pw') })).status).toBe(429);
  });
});
