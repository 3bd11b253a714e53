/**
 * OIDC login (Flower's `--auth` with a provider) against a local provider the test starts:
 * a page sends the browser to log in, the provider sends it back, an allowed and verified
 * email gets a session; any other email, and every way an ID token can be wrong (another
 * audience or issuer, expired, a bad or missing signature, an unpublished key, another nonce,
 * an unverified email) or a callback that is not this login's, is refused with 403 and counts
 * as a failed login. Changing the allowed pattern ends the sessions it let in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningDashboard } from '../../src/dashboard.js';
import { freePort } from '../../../celeriac/test/support/redis.js';
import { OidcProvider, type Misbehaviour } from './oidc-provider.js';
import { SecurityFixture, call, postgresReady, providerLogin, routesOf } from './support.js';

const ready = await postgresReady('dashboard security: OIDC');
const fx = new SecurityFixture();
const SECRET = 'oidc-test-secret';

/** Follows the login by hand: dashboard -> /login -> provider -> callback. */
async function login(dash: RunningDashboard, tamper?: (callback: URL) => void): Promise<{ status: number; text: string; session: string | null }> {
  const page = await fetch(`${dash.url}/`, { redirect: 'manual' });
  expect(page.status).toBe(302);
  expect(page.headers.get('location')).toBe('/login');
  const r = await providerLogin(dash, tamper);
  expect(r.loginSetCookie).toMatch(/^celeriac_login=[\w-]+\.[\w-]+; Path=\/login; Max-Age=600; HttpOnly; SameSite=Lax$/);
  expect(r.authorize.searchParams.get('code_challenge_method')).toBe('S256');
  return r;
}

describe.runIf(ready)('dashboard security: OIDC login', () => {
  const provider = new OidcProvider();
  let dash: RunningDashboard;
  const options = () => ({
    auth: '.*@example\\.com',
    oidc: { issuer: provider.issuer, clientId: provider.clientId, clientSecret: provider.clientSecret, redirectUri: 'http://127.0.0.1:1/login/callback' },
    cookieSecret: SECRET,
    // Many refused logins below; the limit itself is checked on a dashboard of its own.
    loginFreeFailures: 1000,
  });

  beforeAll(async () => {
    await provider.start();
    // The callback URL names the dashboard's port: chosen before it starts.
    const port = await freePort();
    dash = await fx.dashboard({ ...options(), port, oidc: { ...options().oidc, redirectUri: `http://127.0.0.1:${port}/login/callback` }, viewers: ['val@example.com'] });
  }, 30_000);

  afterAll(async () => {
    await fx.close();
    await provider.close();
  }, 30_000);

  it('an allowed email logs in: a session the API accepts, as that user', async () => {
    provider.email = 'ann@example.com';
    const r = await login(dash);
    expect(r.status).toBe(200);
    // A same-site refresh, so the Strict session cookie goes along with the next page.
    expect(r.text).toContain('<meta http-equiv="refresh" content="0;url=/">');
    expect(r.session).toMatch(/^celeriac_dashboard=/);
    const config = JSON.parse((await call(dash.url, 'GET', '/api/config', { cookie: r.session as string })).text) as Record<string, unknown>;
    expect(config).toMatchObject({ user: 'ann@example.com', role: 'admin', auth: 'authenticated' });
    // Scripts without a session still get a 401, not a redirect.
    expect((await call(dash.url, 'GET', '/api/workers')).status).toBe(401);
  });

  it('every route without a session: pages go to the login, the API is 401, only the login routes are public', async () => {
    const routes = routesOf(dash);
    expect(routes.filter((r) => r.public).map((r) => r.path).sort()).toEqual(['/healthcheck', '/login', '/login/callback', '/metrics', '/readyz']);
    for (const r of routes.filter((x) => !x.public)) {
      const res = await fetch(`${dash.url}${r.path}`, { method: r.method, redirect: 'manual' });
      await res.arrayBuffer();
      if (r.method === 'GET' && !r.path.startsWith('/api/')) expect([res.status, res.headers.get('location')], `${r.method} ${r.path}`).toEqual([302, '/login']);
      else expect(res.status, `${r.method} ${r.path}`).toBe(401);
    }
  });

  it('a listed viewer logs in with the viewer role', async () => {
    provider.email = 'val@example.com';
    const r = await login(dash);
    expect(JSON.parse((await call(dash.url, 'GET', '/api/config', { cookie: r.session as string })).text)).toMatchObject({ user: 'val@example.com', role: 'viewer' });
  });

  it('an email outside the pattern is refused, whole-match (no suffix tricks)', async () => {
    for (const email of ['eve@evil.example', 'ann@example.com.evil.org', 'ann@exampleXcom']) {
      provider.email = email;
      const r = await login(dash);
      expect(r.status, email).toBe(403);
      expect(r.text).toContain('is not allowed in');
      expect(r.session).toBeNull();
    }
  });

  it('every wrong ID token is refused', async () => {
    provider.email = 'ann@example.com';
    const cases: Misbehaviour[] = ['other-audience', 'other-issuer', 'expired', 'bad-signature', 'alg-none', 'hs256', 'other-nonce', 'unverified-email', 'unknown-key'];
    try {
      for (const m of cases) {
        provider.misbehave = m;
        const r = await login(dash);
        expect(r.status, m).toBe(403);
        expect(r.session, m).toBeNull();
      }
    } finally {
      provider.misbehave = 'none';
    }
  });

  it("a callback that is not this login's: another state, no login cookie, a provider error", async () => {
    provider.email = 'ann@example.com';
    expect((await login(dash, (u) => u.searchParams.set('state', 'forged'))).status).toBe(403);
    const before = provider.tokenRequests;
    const r = await login(dash, (u) => {
      u.searchParams.delete('code');
      u.searchParams.set('error', 'access_denied');
    });
    expect(r).toMatchObject({ status: 403, session: null });
    expect(provider.tokenRequests).toBe(before);
    expect((await call(dash.url, 'GET', '/login/callback?code=x&state=y')).status).toBe(403);
  });

  it('changing the allowed pattern ends the sessions it let in', async () => {
    provider.email = 'ann@example.com';
    const r = await login(dash);
    expect((await call(dash.url, 'GET', '/api/workers', { cookie: r.session as string })).status).toBe(200);
    const narrower = await fx.dashboard({ ...options(), auth: 'bob@example\\.com' });
    const same = await fx.dashboard(options());
    expect((await call(same.url, 'GET', '/api/workers', { cookie: r.session as string })).status).toBe(200);
    expect((await call(narrower.url, 'GET', '/api/workers', { cookie: r.session as string })).status).toBe(401);
  });

  it('refused logins count as failed logins: the client is locked out', async () => {
    const port = await freePort();
    const strict = await fx.dashboard({ ...options(), loginFreeFailures: 1, port, oidc: { ...options().oidc, redirectUri: `http://127.0.0.1:${port}/login/callback` } });
    provider.email = 'eve@evil.example';
    expect((await login(strict)).status).toBe(403);
    provider.email = 'ann@example.com';
    const locked = await login(strict);
    expect(locked).toMatchObject({ status: 429, session: null });
  });

  it('a discovery document that names another issuer: no login at all', async () => {
    provider.discoveryIssuer = 'https://evil.example';
    try {
      const d = await fx.dashboard(options());
      const res = await call(d.url, 'GET', '/login');
      expect(res.status).toBe(503);
      expect(res.text).toContain('the discovery document names another issuer');
    } finally {
      provider.discoveryIssuer = null;
    }
  });

  it('refuses an incomplete configuration before opening anything', async () => {
    await expect(fx.dashboard({ auth: '.*', oidc: { provider: 'nope', clientId: 'a', clientSecret: 'b', redirectUri: 'c' } })).rejects.toThrow(/needs a login provider/);
    await expect(fx.dashboard({ auth: '(', oidc: { issuer: provider.issuer, clientId: 'a', clientSecret: 'b', redirectUri: 'c' } })).rejects.toThrow(/not a valid regular expression/);
  });
});
