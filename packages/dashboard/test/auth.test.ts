/**
 * Security of the dashboard's HTTP surface: every route without credentials, with wrong
 * ones, as a viewer trying every action; CSRF on browser actions; the session cookie of the
 * UI; Flower's anonymous-API gate; read-only mode; the audit log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningDashboard } from '../src/dashboard.js';
import { openApiDocument } from '../src/server/openapi.js';
import { DashboardCluster, clusterReady } from './support/cluster.js';

const ready = await clusterReady('dashboard auth');
const cluster = new DashboardCluster('dashauth');

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
const PUBLIC = new Set(['/healthcheck', '/metrics', '/readyz']);

/** Every documented route, path parameters filled in. */
function routes(): { method: 'GET' | 'POST'; path: string; action: boolean }[] {
  const doc = openApiDocument('', 'test') as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
  const out: { method: 'GET' | 'POST'; path: string; action: boolean }[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) out.push({ method: method.toUpperCase() as 'GET' | 'POST', path: path.replace(/\{[^}]+\}/g, 'x'), action: '403' in op.responses });
  }
  return out;
}

async function call(base: string, method: string, path: string, headers: Record<string, string> = {}) {
  // The live stream never ends: read the status, then drop the body.
  const ctl = new AbortController();
  const res = await fetch(`${base}${path}${path === '/api/tasks' ? '?limit=1' : ''}`, { method, headers, signal: ctl.signal });
  const text = path === '/api/live' ? '' : await res.text();
  ctl.abort();
  return { status: res.status, text, headers: res.headers };
}

describe.runIf(ready)('dashboard auth', () => {
  let dash: RunningDashboard;
  let readOnly: RunningDashboard;
  let open: RunningDashboard;
  const all = routes();
  const actions = all.filter((r) => r.action);

  beforeAll(async () => {
    const app = cluster.fleet.app();
    // Hundreds of wrong logins below: the failed-login limit (test/security/brute-force) is raised here.
    const auth = { basicAuth: ['admin:s3cret', 'viv:look'], viewers: ['viv'], apiTokens: ['tok-admin-123', 'tok-view-456:viewer'], unauthenticatedApi: false, loginFreeFailures: 100_000 };
    dash = await cluster.dashboard({ app, ...auth });
    readOnly = await cluster.dashboard({ app, ...auth, readOnly: true });
    open = await cluster.dashboard({ app, unauthenticatedApi: undefined as unknown as boolean });
  }, 60_000);

  afterAll(() => cluster.close(), 60_000);

  it('has routes to check', () => {
    expect(all.length).toBeGreaterThan(30);
    expect(actions.length).toBeGreaterThan(15);
  });

  it('every route without credentials: 401 (pages ask for basic auth), except health and metrics', async () => {
    for (const r of all) {
      const res = await call(dash.url, r.method, r.path);
      if (PUBLIC.has(r.path)) expect(res.status, `${r.method} ${r.path}`).not.toBe(401);
      else expect(res.status, `${r.method} ${r.path}`).toBe(401);
    }
    const page = await call(dash.url, 'GET', '/');
    expect(page.status).toBe(401);
    expect(page.headers.get('www-authenticate')).toBe('Basic realm="flower", charset="UTF-8"');
  });

  it('every route with wrong credentials: 401', async () => {
    for (const auth of [basic('admin', 'nope'), basic('nobody', 's3cret'), 'Bearer tok-wrong', 'Bearer ', 'Digest abc', basic('admin', 's3cret').slice(0, 10)]) {
      for (const r of all.filter((x) => !PUBLIC.has(x.path))) {
        expect((await call(dash.url, r.method, r.path, { authorization: auth })).status, `${auth} ${r.method} ${r.path}`).toBe(401);
      }
    }
  });

  it('a viewer reads but every action is 403 (basic and bearer)', async () => {
    for (const auth of [basic('viv', 'look'), 'Bearer tok-view-456']) {
      for (const r of actions) {
        const res = await call(dash.url, r.method, r.path, { authorization: auth });
        expect(res.status, `${r.method} ${r.path}`).toBe(403);
        expect(res.text).toMatch(/viewer/);
      }
      expect((await call(dash.url, 'GET', '/api/workers', { authorization: auth })).status).toBe(200);
      expect((await call(dash.url, 'GET', '/api/audit', { authorization: auth })).status).toBe(403);
    }
  });

  it('an admin acts with basic auth from a script or a bearer token, no CSRF token needed', async () => {
    const a = await call(dash.url, 'POST', '/api/task/revoke/aaaa-1', { authorization: basic('admin', 's3cret') });
    expect(a).toMatchObject({ status: 200, text: JSON.stringify({ message: "Revoked 'aaaa-1'" }) });
    expect((await call(dash.url, 'POST', '/api/task/revoke/aaaa-2', { authorization: 'Bearer tok-admin-123' })).status).toBe(200);
  });

  it('a browser action needs the CSRF token from /api/config, and comes from this site', async () => {
    const auth = { authorization: basic('admin', 's3cret'), origin: new URL(dash.url).origin };
    expect((await call(dash.url, 'POST', '/api/task/revoke/aaaa-3', auth)).status).toBe(403);
    const config = JSON.parse((await call(dash.url, 'GET', '/api/config', { authorization: basic('admin', 's3cret') })).text) as { csrfToken: string; csrfHeader: string; role: string; user: string };
    expect(config).toMatchObject({ role: 'admin', user: 'admin', csrfHeader: 'x-csrf-token' });
    expect((await call(dash.url, 'POST', '/api/task/revoke/aaaa-3', { ...auth, 'x-csrf-token': 'forged' })).status).toBe(403);
    expect((await call(dash.url, 'POST', '/api/task/revoke/aaaa-3', { ...auth, 'x-csrf-token': config.csrfToken })).status).toBe(200);
    // A foreign page holding a valid token is still refused.
    const foreign = await call(dash.url, 'POST', '/api/task/revoke/aaaa-3', { ...auth, origin: 'http://evil.example', 'x-csrf-token': config.csrfToken });
    expect(foreign).toMatchObject({ status: 403, text: expect.stringMatching(/Cross-site/) as unknown as string });
    expect((await call(dash.url, 'POST', '/api/task/revoke/aaaa-3', { ...auth, 'sec-fetch-site': 'cross-site', 'x-csrf-token': config.csrfToken })).status).toBe(403);
  });

  it('the UI page sets a session cookie; the API accepts it, actions with it need CSRF', async () => {
    const page = await call(dash.url, 'GET', '/', { authorization: basic('admin', 's3cret') });
    expect(page.status).toBe(200);
    const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0] as string;
    expect(cookie).toMatch(/^celeriac_dashboard=/);
    expect(page.text).toContain('<meta name="celeriac-dashboard"');
    const token = /csrfToken&quot;:&quot;([^&]+)&quot;/.exec(page.text)?.[1] as string;
    expect((await call(dash.url, 'GET', '/api/workers', { cookie })).status).toBe(200);
    expect((await call(dash.url, 'POST', '/api/task/revoke/bbbb-1', { cookie })).status).toBe(403);
    expect((await call(dash.url, 'POST', '/api/task/revoke/bbbb-1', { cookie, 'x-csrf-token': token })).status).toBe(200);
    const tampered = cookie.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    expect((await call(dash.url, 'GET', '/api/workers', { cookie: tampered })).status).toBe(401);
  });

  it("read-only mode: every action 403 'Read only mode is enabled', even for an admin", async () => {
    for (const r of actions) {
      const res = await call(readOnly.url, r.method, r.path, { authorization: 'Bearer tok-admin-123' });
      expect(res, `${r.method} ${r.path}`).toMatchObject({ status: 403, text: 'Read only mode is enabled' });
    }
  });

  it("without auth, Flower 2's gate: the API needs FLOWER_UNAUTHENTICATED_API (read per request) or the page's read-only cookie", async () => {
    const saved = process.env['FLOWER_UNAUTHENTICATED_API'];
    try {
      delete process.env['FLOWER_UNAUTHENTICATED_API'];
      const refused = await call(open.url, 'GET', '/api/workers');
      expect(refused).toMatchObject({ status: 401, text: 'FLOWER_UNAUTHENTICATED_API environment variable is required to enable API without authentication' });
      expect((await call(open.url, 'GET', '/healthcheck')).text).toBe('OK');
      expect((await call(open.url, 'GET', '/workers?json=1')).status).toBe(200);
      const page = await call(open.url, 'GET', '/');
      const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0] as string;
      expect((await call(open.url, 'GET', '/api/workers', { cookie })).status).toBe(200);
      // The page only reads: an action with its cookie and token is 401, as without it.
      const token = /csrfToken&quot;:&quot;([^&]+)&quot;/.exec(page.text)?.[1] as string;
      expect(page.text).toContain('role&quot;:&quot;viewer');
      const act = await call(open.url, 'POST', '/api/task/revoke/dddd-1', { cookie, 'x-csrf-token': token, origin: new URL(open.url).origin });
      expect(act).toMatchObject({ status: 401, text: expect.stringMatching(/anonymous control is off/) as unknown as string });
      expect((await call(open.url, 'POST', '/api/task/revoke/dddd-1')).status).toBe(401);
      process.env['FLOWER_UNAUTHENTICATED_API'] = 'yes';
      expect((await call(open.url, 'GET', '/api/workers')).status).toBe(200);
      // An anonymous session is worthless against a dashboard with auth.
      expect((await call(dash.url, 'GET', '/api/workers', { cookie })).status).toBe(401);
    } finally {
      if (saved === undefined) delete process.env['FLOWER_UNAUTHENTICATED_API'];
      else process.env['FLOWER_UNAUTHENTICATED_API'] = saved;
    }
  });

  it('actions are audited with who, what and the answer', async () => {
    await call(dash.url, 'POST', '/api/task/revoke/cccc-1', { authorization: 'Bearer tok-admin-123' });
    await call(dash.url, 'POST', '/api/task/revoke/cccc-2', { authorization: basic('viv', 'look') });
    const log = JSON.parse((await call(dash.url, 'GET', '/api/audit', { authorization: basic('admin', 's3cret') })).text) as { entries: Record<string, unknown>[] };
    expect(log.entries[0]).toMatchObject({ role: 'viewer', user: 'viv', method: 'POST', path: '/api/task/revoke/cccc-2', status: 403 });
    expect(log.entries[1]).toMatchObject({ role: 'admin', via: 'token', path: '/api/task/revoke/cccc-1', status: 200 });
  });
});
