/**
 * A small OpenID Connect provider for the tests (no real one is reachable): discovery, an
 * authorize endpoint that signs in its current user at once (no consent page) and sends the
 * browser back with a code, a token endpoint that checks the client, the redirect URI and the
 * PKCE verifier and answers with an RS256 ID token, and its keys. `misbehave` makes the ID
 * token wrong in one way, for the tests that the dashboard refuses it.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';

/** One way for the provider to hand out a bad ID token. */
export type Misbehaviour = 'none' | 'other-audience' | 'other-issuer' | 'expired' | 'bad-signature' | 'alg-none' | 'other-nonce' | 'unverified-email' | 'unknown-key' | 'hs256';

interface Grant {
  clientId: string;
  redirectUri: string;
  nonce: string;
  challenge: string;
  email: string;
}

async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return text;
}

/** The provider. */
export class OidcProvider {
  readonly clientId = 'dashboard-client';
  readonly clientSecret = `secret-${randomBytes(6).toString('hex')}`;
  /** Who signs in next. */
  email = 'ann@example.com';
  misbehave: Misbehaviour = 'none';
  /** The issuer its discovery document names, when not its own (a mix-up). */
  discoveryIssuer: string | null = null;
  /** Token requests answered, for the tests. */
  tokenRequests = 0;
  readonly #server: Server;
  readonly #key: KeyObject;
  readonly #other: KeyObject;
  readonly #grants = new Map<string, Grant>();
  #issuer = '';

  constructor() {
    this.#key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    this.#other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    this.#server = createServer((req, res) => {
      this.#handle(req).then(
        ({ status, headers, body }) => res.writeHead(status, headers).end(body),
        (error: unknown) => res.writeHead(500).end(String(error)),
      );
    });
  }

  get issuer(): string {
    return this.#issuer;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.#issuer = `http://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
    return this;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage): Promise<{ status: number; headers: Record<string, string>; body: string }> {
    const url = new URL(req.url ?? '/', this.#issuer);
    const json = (status: number, v: unknown) => ({ status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(v) });
    if (url.pathname === '/.well-known/openid-configuration') {
      return json(200, { issuer: this.discoveryIssuer ?? this.#issuer, authorization_endpoint: `${this.#issuer}/authorize`, token_endpoint: `${this.#issuer}/token`, jwks_uri: `${this.#issuer}/jwks` });
    }
    if (url.pathname === '/jwks') return json(200, { keys: [{ ...this.#key.export({ format: 'jwk' }), d: undefined, p: undefined, q: undefined, dp: undefined, dq: undefined, qi: undefined, kid: 'k1', alg: 'RS256', use: 'sig' }] });
    if (url.pathname === '/authorize') {
      const q = url.searchParams;
      if (q.get('response_type') !== 'code' || q.get('client_id') !== this.clientId || q.get('code_challenge_method') !== 'S256' || !(q.get('scope') ?? '').split(' ').includes('openid')) return json(400, { error: 'invalid_request' });
      const code = randomBytes(12).toString('hex');
      this.#grants.set(code, { clientId: this.clientId, redirectUri: q.get('redirect_uri') ?? '', nonce: q.get('nonce') ?? '', challenge: q.get('code_challenge') ?? '', email: this.email });
      const back = new URL(q.get('redirect_uri') ?? '');
      back.searchParams.set('code', code);
      back.searchParams.set('state', q.get('state') ?? '');
      return { status: 302, headers: { location: back.toString() }, body: '' };
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      this.tokenRequests++;
      const form = new URLSearchParams(await readBody(req));
      const grant = this.#grants.get(form.get('code') ?? '');
      this.#grants.delete(form.get('code') ?? '');
      const verifier = form.get('code_verifier') ?? '';
      if (grant === undefined || form.get('client_id') !== this.clientId || form.get('client_secret') !== this.clientSecret || form.get('redirect_uri') !== grant.redirectUri || createHash('sha256').update(verifier).digest('base64url') !== grant.challenge) return json(400, { error: 'invalid_grant' });
      return json(200, { access_token: 'at', token_type: 'Bearer', id_token: this.#idToken(grant) });
    }
    return json(404, { error: 'not found' });
  }

  #idToken(g: Grant): string {
    const m = this.misbehave;
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: m === 'alg-none' ? 'none' : m === 'hs256' ? 'HS256' : 'RS256', kid: m === 'unknown-key' ? 'k2' : 'k1', typ: 'JWT' };
    const claims = {
      iss: m === 'other-issuer' ? 'https://evil.example' : this.#issuer,
      aud: m === 'other-audience' ? 'someone-else' : g.clientId,
      sub: `sub-${g.email}`,
      email: g.email,
      email_verified: m !== 'unverified-email',
      nonce: m === 'other-nonce' ? 'not-the-nonce' : g.nonce,
      iat: now,
      exp: m === 'expired' ? now - 3600 : now + 300,
    };
    const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const input = `${enc(header)}.${enc(claims)}`;
    if (m === 'alg-none') return `${input}.`;
    const signature = sign('sha256', Buffer.from(input), m === 'bad-signature' || m === 'unknown-key' ? this.#other : this.#key).toString('base64url');
    return `${input}.${signature}`;
  }
}
