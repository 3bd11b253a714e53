/**
 * @module server/oidc
 * Login with an OpenID Connect provider (Flower's `--auth` with `--auth-provider`): the
 * authorization-code flow with PKCE, a state and a nonce; the ID token's signature checked
 * against the provider's published keys (RS256 or ES256), and its issuer, audience, expiry
 * and nonce checked; then the email (verified by the provider) must match the allowed pattern
 * (`--auth`, matched whole, unlike Flower's prefix match: `.*@example\.com` does not admit
 * `eve@example.com.evil.org`). Google and GitLab are OIDC providers with discovery, so they are
 * this same code with their issuer; GitHub speaks only OAuth2 (server/github-login.ts).
 */
import { createHash, createPublicKey, randomBytes, verify as verifySignature, type JsonWebKey } from 'node:crypto';

/** OIDC login settings, resolved. */
export interface OidcConfig {
  /** The issuer URL; its `/.well-known/openid-configuration` is read at the first login. */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Where the provider sends the browser back: `<public URL of the dashboard>/login/callback`. */
  readonly redirectUri: string;
  /** Emails allowed in (matched whole). */
  readonly allowedEmail: RegExp;
  /** ms since the epoch. */
  readonly now: () => number;
  /** Timeout of each request to the provider, ms. @default 5000 */
  readonly timeoutMs?: number;
}

/** What one login needs to remember between the redirect and the callback. */
export interface LoginState {
  readonly state: string;
  readonly nonce: string;
  readonly verifier: string;
}

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
}

/** A provider's login, as the login routes use it (routes-login.ts): OIDC here, GitHub in github-login.ts. */
export interface ProviderLogin {
  /** `issuer` names the provider (a session is bound to it); `allowedEmail` is the pattern. */
  readonly config: { readonly issuer: string; readonly allowedEmail: RegExp };
  /** A fresh state (and nonce and PKCE verifier) for one login. */
  newState(): LoginState;
  /** The provider URL to send the browser to. */
  authorizeUrl(s: LoginState): Promise<string>;
  /** Trades the code for the user's allowed, verified email; LoginError when refused. */
  complete(code: string, s: LoginState): Promise<string>;
}

/** A refused login: the message is safe to show. */
export class LoginError extends Error {
  override readonly name = 'LoginError';
}

/** Known providers' issuers. */
export const PROVIDER_ISSUERS: Readonly<Record<string, string>> = Object.freeze({ google: 'https://accounts.google.com', gitlab: 'https://gitlab.com' });

const b64url = (buf: Buffer): string => buf.toString('base64url');

function decodePart(part: string | undefined): Record<string, unknown> {
  if (part === undefined) throw new LoginError('malformed ID token');
  try {
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch {
    throw new LoginError('malformed ID token');
  }
}

/** The OIDC login of one provider. */
export class OidcLogin implements ProviderLogin {
  #discovery: Promise<Discovery> | undefined;
  #keys: { at: number; keys: JsonWebKey[] } | undefined;

  constructor(readonly config: OidcConfig) {}

  /** A fresh state, nonce and PKCE verifier. */
  newState(): LoginState {
    return { state: b64url(randomBytes(18)), nonce: b64url(randomBytes(18)), verifier: b64url(randomBytes(32)) };
  }

  /** The provider URL to send the browser to. */
  async authorizeUrl(s: LoginState): Promise<string> {
    const d = await this.#discover();
    const url = new URL(d.authorization_endpoint);
    const q = url.searchParams;
    q.set('response_type', 'code');
    q.set('client_id', this.config.clientId);
    q.set('redirect_uri', this.config.redirectUri);
    q.set('scope', 'openid email');
    q.set('state', s.state);
    q.set('nonce', s.nonce);
    q.set('code_challenge', b64url(createHash('sha256').update(s.verifier).digest()));
    q.set('code_challenge_method', 'S256');
    return url.toString();
  }

  /** Trades the code for an ID token and returns the allowed, verified email. */
  async complete(code: string, s: LoginState): Promise<string> {
    const d = await this.#discover();
    const body = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: this.config.redirectUri, client_id: this.config.clientId, client_secret: this.config.clientSecret, code_verifier: s.verifier });
    const res = await this.#fetch(d.token_endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body });
    const tokens = (await res.json().catch(() => null)) as { id_token?: unknown } | null;
    if (!res.ok || tokens === null || typeof tokens.id_token !== 'string') throw new LoginError(`the provider refused the code (HTTP ${res.status})`);
    const claims = await this.verifyIdToken(tokens.id_token, s.nonce, d.issuer);
    const email = claims['email'];
    if (typeof email !== 'string' || claims['email_verified'] === false) throw new LoginError('the provider gave no verified email');
    if (!this.config.allowedEmail.test(email)) throw new LoginError(`${email} is not allowed in`);
    return email;
  }

  /** Checks an ID token's signature and claims; returns its claims. */
  async verifyIdToken(jwt: string, nonce: string, issuer: string): Promise<Record<string, unknown>> {
    const parts = jwt.split('.');
    if (parts.length !== 3) throw new LoginError('malformed ID token');
    const header = decodePart(parts[0]);
    const claims = decodePart(parts[1]);
    const alg = header['alg'];
    if (alg !== 'RS256' && alg !== 'ES256') throw new LoginError(`ID token signed with ${String(alg)}: only RS256 and ES256 are accepted`);
    const key = await this.#key(typeof header['kid'] === 'string' ? header['kid'] : undefined, alg);
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
    const signature = Buffer.from(parts[2] as string, 'base64url');
    const ok = verifySignature('sha256', signed, alg === 'ES256' ? { key: createPublicKey({ key, format: 'jwk' }), dsaEncoding: 'ieee-p1363' } : createPublicKey({ key, format: 'jwk' }), signature);
    if (!ok) throw new LoginError('the ID token signature does not verify');
    const now = this.config.now() / 1000;
    const aud = claims['aud'];
    if (claims['iss'] !== issuer) throw new LoginError('the ID token names another issuer');
    if (!(aud === this.config.clientId || (Array.isArray(aud) && aud.includes(this.config.clientId)))) throw new LoginError('the ID token is for another client');
    if (typeof claims['exp'] !== 'number' || claims['exp'] < now - 60) throw new LoginError('the ID token has expired');
    if (claims['nonce'] !== nonce) throw new LoginError('the ID token answers another login');
    return claims;
  }

  async #key(kid: string | undefined, alg: 'RS256' | 'ES256'): Promise<JsonWebKey> {
    const pick = (keys: JsonWebKey[]) => keys.find((k) => (kid === undefined || k['kid'] === kid) && k.kty === (alg === 'RS256' ? 'RSA' : 'EC'));
    const now = this.config.now();
    let found = this.#keys === undefined ? undefined : pick(this.#keys.keys);
    // An unknown key id: the provider may have rotated its keys (refetched at most once a minute).
    if (found === undefined && (this.#keys === undefined || now - this.#keys.at > 60_000)) {
      const d = await this.#discover();
      const res = await this.#fetch(d.jwks_uri, { headers: { accept: 'application/json' } });
      const doc = (await res.json().catch(() => null)) as { keys?: unknown } | null;
      if (!res.ok || doc === null || !Array.isArray(doc.keys)) throw new LoginError('the provider published no keys');
      this.#keys = { at: now, keys: doc.keys as JsonWebKey[] };
      found = pick(this.#keys.keys);
    }
    if (found === undefined) throw new LoginError('the ID token is signed with a key the provider does not publish');
    return found;
  }

  #discover(): Promise<Discovery> {
    this.#discovery ??= (async () => {
      const base = this.config.issuer.replace(/\/+$/, '');
      const res = await this.#fetch(`${base}/.well-known/openid-configuration`, { headers: { accept: 'application/json' } });
      const d = (await res.json().catch(() => null)) as Partial<Discovery> | null;
      if (!res.ok || d === null || typeof d.authorization_endpoint !== 'string' || typeof d.token_endpoint !== 'string' || typeof d.jwks_uri !== 'string' || typeof d.issuer !== 'string') throw new LoginError('the provider has no usable discovery document');
      // OpenID Connect Discovery 1.0 §4.3: the document must name the issuer it was read from.
      if (d.issuer.replace(/\/+$/, '') !== base) throw new LoginError(`the discovery document names another issuer (${d.issuer})`);
      return d as Discovery;
    })().catch((error: unknown) => {
      this.#discovery = undefined;
      throw error instanceof LoginError ? error : new LoginError(`the provider is unreachable: ${(error as Error).message}`);
    });
    return this.#discovery;
  }

  async #fetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(this.config.timeoutMs ?? 5000) });
    } catch (error) {
      throw new LoginError(`the provider is unreachable: ${(error as Error).message}`);
    }
  }
}
