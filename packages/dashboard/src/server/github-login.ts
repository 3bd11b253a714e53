/**
 * @module server/github-login
 * Login with GitHub (Flower's `--auth-provider github`, `GithubLoginHandler`). GitHub speaks
 * OAuth2, not OpenID Connect: there is no ID token to verify, so the proof of who logged in is
 * GitHub's own answer, over TLS, to `GET /user/emails` with the access token the code was
 * traded for. The flow has a state, and sends PKCE (S256) along; the email must be one
 * GitHub marks verified and match the allowed pattern whole (the primary email first, as
 * Flower takes it). GitHub Enterprise Server: `FLOWER_GITHUB_OAUTH_DOMAIN` names its host,
 * whose API is under `/api/v3`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { LoginError, type LoginState, type ProviderLogin } from './oidc.js';

/** GitHub login settings, resolved. */
export interface GithubConfig {
  /** `https://github.com`, or a GitHub Enterprise Server's `https://<host>`. */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly redirectUri: string;
  readonly allowedEmail: RegExp;
  /** Timeout of each request to GitHub, ms. @default 5000 */
  readonly timeoutMs?: number;
}

/** One email of `GET /user/emails`. */
interface GithubEmail {
  email?: unknown;
  verified?: unknown;
  primary?: unknown;
}

const b64url = (buf: Buffer): string => buf.toString('base64url');

/** The base URL of GitHub's REST API for `issuer`. */
export function githubApi(issuer: string): string {
  const base = issuer.replace(/\/+$/, '');
  return base === 'https://github.com' ? 'https://api.github.com' : `${base}/api/v3`;
}

/** The GitHub login of one OAuth app. */
export class GithubLogin implements ProviderLogin {
  constructor(readonly config: GithubConfig) {}

  newState(): LoginState {
    return { state: b64url(randomBytes(18)), nonce: '', verifier: b64url(randomBytes(32)) };
  }

  authorizeUrl(s: LoginState): Promise<string> {
    const url = new URL(`${this.config.issuer.replace(/\/+$/, '')}/login/oauth/authorize`);
    const q = url.searchParams;
    q.set('client_id', this.config.clientId);
    q.set('redirect_uri', this.config.redirectUri);
    q.set('scope', 'user:email');
    q.set('state', s.state);
    q.set('allow_signup', 'false');
    q.set('code_challenge', b64url(createHash('sha256').update(s.verifier).digest()));
    q.set('code_challenge_method', 'S256');
    return Promise.resolve(url.toString());
  }

  async complete(code: string, s: LoginState): Promise<string> {
    const base = this.config.issuer.replace(/\/+$/, '');
    const body = new URLSearchParams({ client_id: this.config.clientId, client_secret: this.config.clientSecret, code, redirect_uri: this.config.redirectUri, code_verifier: s.verifier });
    const res = await this.#fetch(`${base}/login/oauth/access_token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body });
    // GitHub answers a refused code with 200 and {"error": ...}.
    const tokens = (await res.json().catch(() => null)) as { access_token?: unknown; error?: unknown } | null;
    if (!res.ok || tokens === null || typeof tokens.access_token !== 'string' || tokens.access_token === '') {
      throw new LoginError(`GitHub refused the code (${typeof tokens?.error === 'string' ? tokens.error.slice(0, 100) : `HTTP ${res.status}`})`);
    }
    const emails = await this.#fetch(`${githubApi(base)}/user/emails`, { headers: { authorization: `Bearer ${tokens.access_token}`, accept: 'application/vnd.github+json', 'user-agent': 'celeriac-dashboard' } });
    const list = (await emails.json().catch(() => null)) as unknown;
    if (!emails.ok || !Array.isArray(list)) throw new LoginError(`GitHub gave no email list (HTTP ${emails.status})`);
    const verified = (list as GithubEmail[]).filter((e) => typeof e?.email === 'string' && e.verified === true).sort((a, b) => Number(b.primary === true) - Number(a.primary === true));
    if (verified.length === 0) throw new LoginError('GitHub gave no verified email');
    const allowed = verified.find((e) => this.config.allowedEmail.test(e.email as string));
    if (allowed === undefined) throw new LoginError(`${String(verified[0]?.email)} is not allowed in`);
    return allowed.email as string;
  }

  async #fetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(this.config.timeoutMs ?? 5000) });
    } catch (error) {
      throw new LoginError(`GitHub is unreachable: ${(error as Error).message}`);
    }
  }
}
