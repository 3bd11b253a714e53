/**
 * GitHub login (Flower's `--auth-provider github`, OAuth2) against a local stand-in for GitHub
 * the test starts (its authorize, token and `/user/emails` endpoints, at GitHub Enterprise
 * Server's paths): the code is traded with the PKCE verifier, and a verified email matching the
 * pattern whole (the primary first) gets a session; an unverified or unmatched email, a refused
 * code, a forged state and an email API that fails are each refused with 403.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningDashboard } from '../../src/dashboard.js';
import { freePort } from '../../../celeriac/test/support/redis.js';
import { SecurityFixture, call, postgresReady, providerLogin } from './support.js';

const ready = await postgresReady('dashboard security: GitHub login');

/** What the stand-in's `/user/emails` answers. */
type Email = { email: string; verified: boolean; primary: boolean };

/** A small GitHub: authorize redirects back with a code; the token endpoint checks the PKCE verifier. */
class FakeGithub {
  readonly clientId = 'gh-client';
  readonly clientSecret = 'gh-secret';
  emails: Email[] = [];
  emailsStatus = 200;
  readonly #codes = new Map<string, string>();
  readonly #tokens = new Set<string>();
  #server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.#server = createServer((req, res) => void this.#handle(req.method ?? '', new URL(req.url ?? '/', this.url), req, res));
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server!.address() as AddressInfo).port}`;
  }

  async #handle(method: string, url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (method === 'GET' && url.pathname === '/login/oauth/authorize') {
      const q = url.searchParams;
      if (q.get('client_id') !== this.clientId || q.get('scope') !== 'user:email' || q.get('code_challenge_method') !== 'S256') return void json(400, { error: 'bad request' });
      const code = randomBytes(8).toString('hex');
      this.#codes.set(code, q.get('code_challenge') ?? '');
      const back = new URL(q.get('redirect_uri') ?? '');
      back.searchParams.set('code', code);
      back.searchParams.set('state', q.get('state') ?? '');
      return void res.writeHead(302, { location: back.toString() }).end();
    }
    if (method === 'POST' && url.pathname === '/login/oauth/access_token') {
      let text = '';
      for await (const chunk of req) text += String(chunk);
      const f = new URLSearchParams(text);
      const challenge = this.#codes.get(f.get('code') ?? '');
      this.#codes.delete(f.get('code') ?? '');
      const verifies = challenge !== undefined && createHash('sha256').update(f.get('code_verifier') ?? '').digest('base64url') === challenge;
      // GitHub answers a refused code with 200 and an error member.
      if (f.get('client_id') !== this.clientId || f.get('client_secret') !== this.clientSecret || !verifies) return void json(200, { error: 'bad_verification_code' });
      const token = randomBytes(8).toString('hex');
      this.#tokens.add(token);
      return void json(200, { access_token: token, token_type: 'bearer', scope: 'user:email' });
    }
    if (method === 'GET' && url.pathname === '/api/v3/user/emails') {
      if (!this.#tokens.has((req.headers.authorization ?? '').replace(/^Bearer /, ''))) return void json(401, { message: 'Bad credentials' });
      return void json(this.emailsStatus, this.emailsStatus === 200 ? this.emails : { message: 'Server Error' });
    }
    json(404, { message: 'Not Found' });
  }

  async close(): Promise<void> {
    await new Promise((resolve) => this.#server?.close(resolve));
  }
}

const login = providerLogin;

describe.runIf(ready)('dashboard security: GitHub login', () => {
  const github = new FakeGithub();
  const fx = new SecurityFixture();
  let dash: RunningDashboard;

  beforeAll(async () => {
    await github.start();
    const port = await freePort();
    dash = await fx.dashboard({
      port,
      auth: '.*@example\\.com',
      oidc: { provider: 'github', issuer: github.url, clientId: github.clientId, clientSecret: github.clientSecret, redirectUri: `http://127.0.0.1:${port}/login/callback` },
      loginFreeFailures: 1000,
    });
  }, 30_000);

  afterAll(async () => {
    await fx.close();
    await github.close();
  }, 30_000);

  it('a verified email that matches logs in, the primary first, and the session is that user\'s', async () => {
    github.emails = [
      { email: 'ann@other.org', verified: true, primary: false },
      { email: 'ann@example.com', verified: true, primary: true },
      { email: 'ann2@example.com', verified: true, primary: false },
    ];
    const r = await login(dash);
    expect(r.status).toBe(200);
    expect(r.session).toMatch(/^celeriac_dashboard=/);
    expect(JSON.parse((await call(dash.url, 'GET', '/api/config', { cookie: r.session as string })).text)).toMatchObject({ user: 'ann@example.com', auth: 'authenticated' });
    // Not primary, but the only verified one that matches.
    github.emails = [
      { email: 'bob@other.org', verified: true, primary: true },
      { email: 'bob@example.com', verified: true, primary: false },
    ];
    const bob = await login(dash);
    expect(JSON.parse((await call(dash.url, 'GET', '/api/config', { cookie: bob.session as string })).text)).toMatchObject({ user: 'bob@example.com' });
  });

  it('an unverified or unmatched email, a forged state, a refused code and a failing email API are refused', async () => {
    const refused = async (why: RegExp, tamper?: (u: URL) => void) => {
      const r = await login(dash, tamper);
      expect([r.status, r.session]).toEqual([403, null]);
      expect(r.text).toMatch(why);
    };
    github.emails = [{ email: 'eve@example.com', verified: false, primary: true }];
    await refused(/GitHub gave no verified email/);
    github.emails = [{ email: 'eve@example.com.evil.org', verified: true, primary: true }];
    await refused(/eve@example\.com\.evil\.org is not allowed in/);
    github.emails = [{ email: 'ann@example.com', verified: true, primary: true }];
    await refused(/does not belong to this login/, (u) => u.searchParams.set('state', 'forged'));
    await refused(/GitHub refused the code \(bad_verification_code\)/, (u) => u.searchParams.set('code', 'not-a-code'));
    github.emailsStatus = 500;
    try {
      await refused(/GitHub gave no email list \(HTTP 500\)/);
    } finally {
      github.emailsStatus = 200;
    }
  });
});
