/**
 * @module server/auth
 * Who is calling, and may they do this (docs/security.md):
 * - Flower's basic auth (`--basic-auth user:pass,...`, `FLOWER_BASIC_AUTH`): the whole
 *   `user:pass` must equal a configured pair, compared in constant time against every pair;
 * - bearer tokens for scripts (`--api-tokens tok[:viewer],...`), which Flower lacks (#987);
 * - roles: `admin` acts, `viewer` only reads (basic-auth users listed in `--viewers`);
 * - browser sessions (server/session.ts) issued when the UI page loads: bound to the user's
 *   current credential and role, with idle and absolute expiry, ended by logout;
 * - without any auth configured: scripts reach the API only with Flower's
 *   `FLOWER_UNAUTHENTICATED_API` (or `unauthenticatedApi`), and the page's anonymous session
 *   only reads unless `anonymousControl` is set;
 * - CSRF: an action authenticated by cookie, or coming from a browser (it sends `Origin` or
 *   `Sec-Fetch-Site`), must come from this site and carry the `x-csrf-token` the page was
 *   given. Bearer requests and plain scripts (curl with basic auth) need none.
 * Tokens and cookies are signed with the cookie secret (HMAC-SHA256): a fresh random one on
 * each start unless the operator pins one.
 */
import type { FastifyRequest } from 'fastify';
import type { Clock } from 'celeriac/spi';
import { Sessions, safeEqual, sign, type Role, type Session } from './session.js';

export type { Role } from './session.js';

/** The caller. */
export interface Principal {
  readonly user: string | null;
  readonly role: Role;
  readonly via: 'basic' | 'token' | 'session' | 'anonymous';
  /** The session, when the caller came with one. */
  readonly session?: Session;
}

/** Auth settings, resolved. */
export interface AuthConfig {
  /** `user:pass` pairs. */
  readonly basicAuth: readonly string[];
  /** Basic-auth user names with the viewer role. */
  readonly viewers: readonly string[];
  /** `token`, `token:viewer` or `token:admin`. */
  readonly apiTokens: readonly string[];
  readonly cookieSecret: string;
  /** True/false forces the anonymous-API gate; undefined reads `FLOWER_UNAUTHENTICATED_API` per request. */
  readonly unauthenticatedApi: boolean | undefined;
  /** Without auth configured, the page's anonymous session may act (else it only reads). */
  readonly anonymousControl: boolean;
  /** A session unused this long ends, ms. */
  readonly sessionIdleMs: number;
  /** Any session ends this long after login, ms. */
  readonly sessionMaxAgeMs: number;
  readonly clock: Clock;
  /** OIDC login (server/oidc.ts): its issuer and the emails allowed in; absent: none. */
  readonly oidc?: { readonly issuer: string; readonly allowedEmail: RegExp } | undefined;
}

export const SESSION_COOKIE = 'celeriac_dashboard';
export const CSRF_HEADER = 'x-csrf-token';

const TRUTHY = new Set(['y', 'yes', 't', 'true', 'on', '1']);

/** Python's strtobool truthiness, as Flower reads its env flags. */
export function truthy(value: string | undefined): boolean {
  return value !== undefined && TRUTHY.has(value.trim().toLowerCase());
}

function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (header === undefined) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

/** Splits `token[:role]`. */
function parseToken(entry: string): { token: string; role: Role } {
  const colon = entry.lastIndexOf(':');
  const suffix = colon > 0 ? entry.slice(colon + 1) : '';
  if (suffix === 'viewer' || suffix === 'admin') return { token: entry.slice(0, colon), role: suffix };
  return { token: entry, role: 'admin' };
}

/** A refused Authorization header: the user name it tried (for the login limiter), if any. */
export interface InvalidCredentials {
  readonly invalid: true;
  readonly user: string | null;
}

/** Which mode the dashboard runs in, for the banner and /api/config. */
export type AuthMode = 'authenticated' | 'anonymous-read-only' | 'anonymous-control';

/** Authentication and authorization decisions. */
export class Auth {
  readonly sessions: Sessions;

  constructor(readonly config: AuthConfig) {
    this.sessions = new Sessions({
      secret: config.cookieSecret,
      clock: config.clock,
      idleMs: config.sessionIdleMs,
      absoluteMs: config.sessionMaxAgeMs,
      credentialOf: (user) => this.#credentialOf(user),
    });
  }

  /** True when any credential is configured (basic auth, tokens or an OIDC login). */
  get enabled(): boolean {
    return this.config.basicAuth.length > 0 || this.config.apiTokens.length > 0 || this.config.oidc !== undefined;
  }

  /** The mode, as the banner states it. */
  get mode(): AuthMode {
    if (this.enabled) return 'authenticated';
    return this.config.anonymousControl ? 'anonymous-control' : 'anonymous-read-only';
  }

  /** Flower 2's gate: anonymous API calls allowed? */
  anonymousApiAllowed(): boolean {
    return this.config.unauthenticatedApi ?? truthy(process.env['FLOWER_UNAUTHENTICATED_API']);
  }

  /** The user name a basic-auth header claims, unchecked (null for any other header). */
  claimedUser(req: FastifyRequest): string | null {
    const header = req.headers.authorization;
    if (typeof header !== 'string' || !/^basic /i.test(header)) return null;
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon < 0 ? null : decoded.slice(0, colon);
  }

  /** The caller from the Authorization header; null = none sent. */
  fromHeader(req: FastifyRequest): Principal | InvalidCredentials | null {
    const header = req.headers.authorization;
    if (typeof header !== 'string' || header === '') return null;
    const space = header.indexOf(' ');
    const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
    const value = space < 0 ? '' : header.slice(space + 1).trim();
    if (scheme === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const user = colon < 0 ? null : decoded.slice(0, colon);
      // Every pair is compared, found or not: the time taken says nothing about which users exist.
      let match = false;
      for (const pair of this.config.basicAuth) if (safeEqual(pair, decoded)) match = true;
      if (!match || user === null) return { invalid: true, user };
      return { user, role: this.config.viewers.includes(user) ? 'viewer' : 'admin', via: 'basic' };
    }
    if (scheme === 'bearer' && value !== '') {
      let found: Principal | null = null;
      for (const entry of this.config.apiTokens) {
        const { token, role } = parseToken(entry);
        if (safeEqual(token, value)) found = { user: `token:${token.slice(0, 4)}…`, role, via: 'token' };
      }
      return found ?? { invalid: true, user: null };
    }
    return { invalid: true, user: null };
  }

  /** A new session cookie value for a principal. */
  sessionCookie(p: Principal): string {
    return this.sessions.issue({ user: p.via === 'anonymous' ? null : p.user, role: p.role });
  }

  /** The Set-Cookie value of a session cookie (Max-Age 0 deletes it). */
  cookieHeader(value: string, urlPrefix: string, maxAgeSec = this.sessions.maxAgeSec): string {
    return `${SESSION_COOKIE}=${value}; Path=${urlPrefix === '' ? '/' : `${urlPrefix}/`}; Max-Age=${maxAgeSec}; HttpOnly; SameSite=Strict`;
  }

  /** The caller from a valid session cookie, else null (no cookie, forged, expired, revoked, stale). */
  fromSession(req: FastifyRequest): Principal | null {
    const raw = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
    if (raw === undefined) return null;
    const session = this.sessions.verify(raw);
    if (session === null) return null;
    return { user: session.user, role: session.role, via: 'session', session };
  }

  /** The role of the anonymous page session in this mode. */
  anonymousPageRole(): Role {
    return this.config.anonymousControl ? 'admin' : 'viewer';
  }

  /**
   * The CSRF token of a principal: bound to the user, its role and its current credential
   * (so it changes with the password) and to this process's secret.
   */
  csrfToken(p: Principal): string {
    const user = p.via === 'anonymous' ? null : p.user;
    return sign(this.config.cookieSecret, `csrf:${user ?? ''}:${p.role}:${this.sessions.fingerprint(user)}`);
  }

  /** True when an action by `p` needs a CSRF token: cookie-authenticated, or sent by a browser. */
  needsCsrf(req: FastifyRequest, p: Principal): boolean {
    if (p.via === 'token') return false;
    if (p.via === 'session') return true;
    return req.headers['origin'] !== undefined || req.headers['sec-fetch-site'] !== undefined;
  }

  csrfValid(req: FastifyRequest, p: Principal): boolean {
    const sent = req.headers[CSRF_HEADER];
    return typeof sent === 'string' && safeEqual(sent, this.csrfToken(p));
  }

  /**
   * True when a browser says the request comes from another site: `Sec-Fetch-Site` other
   * than same-origin/none, or an `Origin` whose host is not the request's `Host`.
   */
  crossSite(req: FastifyRequest): boolean {
    const site = req.headers['sec-fetch-site'];
    if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') return true;
    const origin = req.headers['origin'];
    if (origin === undefined) return false;
    try {
      return new URL(String(origin)).host !== req.headers.host;
    } catch {
      return true;
    }
  }

  /** The credential text and role of a user now; null when there is no such user. */
  #credentialOf(user: string | null): { role: Role; credential: string } | null {
    if (user === null) return this.enabled ? null : { role: this.anonymousPageRole(), credential: 'anonymous' };
    const role: Role = this.config.viewers.includes(user) ? 'viewer' : 'admin';
    const pair = this.config.basicAuth.find((p) => p.slice(0, p.indexOf(':')) === user);
    if (pair !== undefined) return { role, credential: pair };
    // An OIDC user holds while the provider and the pattern that let them in stay the same.
    const oidc = this.config.oidc;
    if (oidc !== undefined && oidc.allowedEmail.test(user)) return { role, credential: `oidc\0${oidc.issuer}\0${oidc.allowedEmail.source}` };
    return null;
  }
}
