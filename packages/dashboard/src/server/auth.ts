/**
 * @module server/auth
 * Who is calling, and may they do this (flower-spec.md §2 and §6.8):
 * - Flower's basic auth (`--basic-auth user:pass,...`, `FLOWER_BASIC_AUTH`): the whole
 *   `user:pass` must equal a configured pair, compared in constant time;
 * - bearer tokens for scripts (`--api-tokens tok[:viewer],...`), which Flower lacks (#987);
 * - roles: `admin` acts, `viewer` only reads (basic-auth users listed in `--viewers`);
 * - a signed session cookie set when the UI page loads, so the browser app can call the
 *   API even when no auth is configured (Flower 2's anonymous-API gate still applies to
 *   scripts: `FLOWER_UNAUTHENTICATED_API`);
 * - CSRF: an action authenticated by cookie, or coming from a browser (it sends `Origin` or
 *   `Sec-Fetch-Site`), must carry the `x-csrf-token` the page was given. Bearer requests and
 *   plain scripts (curl with basic auth) need none, so Flower clients keep working.
 * Tokens and the cookie are signed with the stable cookie secret (HMAC-SHA256).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

export type Role = 'admin' | 'viewer';

/** The caller. */
export interface Principal {
  readonly user: string | null;
  readonly role: Role;
  readonly via: 'basic' | 'token' | 'session' | 'anonymous';
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
}

export const SESSION_COOKIE = 'celeriac_dashboard';
export const CSRF_HEADER = 'x-csrf-token';

const TRUTHY = new Set(['y', 'yes', 't', 'true', 'on', '1']);

/** Python's strtobool truthiness, as Flower reads its env flags. */
export function truthy(value: string | undefined): boolean {
  return value !== undefined && TRUTHY.has(value.trim().toLowerCase());
}

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  if (ab.length !== bb.length) {
    // Same work either way, so timing says little about the length.
    timingSafeEqual(ab, ab);
    return false;
  }
  return timingSafeEqual(ab, bb);
}

function sign(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text).digest('base64url');
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

/** Authentication and authorization decisions. */
export class Auth {
  constructor(readonly config: AuthConfig) {}

  /** True when any credential is configured (basic auth or tokens). */
  get enabled(): boolean {
    return this.config.basicAuth.length > 0 || this.config.apiTokens.length > 0;
  }

  /** Flower 2's gate: anonymous API calls allowed? */
  anonymousApiAllowed(): boolean {
    return this.config.unauthenticatedApi ?? truthy(process.env['FLOWER_UNAUTHENTICATED_API']);
  }

  /** The caller from the Authorization header; null = none sent; 'invalid' = wrong. */
  fromHeader(req: FastifyRequest): Principal | 'invalid' | null {
    const header = req.headers.authorization;
    if (typeof header !== 'string' || header === '') return null;
    const space = header.indexOf(' ');
    const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
    const value = space < 0 ? '' : header.slice(space + 1).trim();
    if (scheme === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      let match = false;
      for (const pair of this.config.basicAuth) if (safeEqual(pair, decoded)) match = true;
      if (!match) return 'invalid';
      const user = decoded.slice(0, decoded.indexOf(':'));
      return { user, role: this.config.viewers.includes(user) ? 'viewer' : 'admin', via: 'basic' };
    }
    if (scheme === 'bearer' && value !== '') {
      let found: Principal | null = null;
      for (const entry of this.config.apiTokens) {
        const { token, role } = parseToken(entry);
        if (safeEqual(token, value)) found = { user: `token:${token.slice(0, 4)}…`, role, via: 'token' };
      }
      return found ?? 'invalid';
    }
    return 'invalid';
  }

  /** The session cookie value for a principal. */
  sessionCookie(p: Principal): string {
    const body = Buffer.from(JSON.stringify({ u: p.user, r: p.role, a: p.via === 'anonymous' })).toString('base64url');
    return `${body}.${sign(this.config.cookieSecret, `session:${body}`)}`;
  }

  /** The caller from a valid session cookie, else null. */
  fromSession(req: FastifyRequest): Principal | null {
    const raw = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
    if (raw === undefined) return null;
    const dot = raw.lastIndexOf('.');
    if (dot <= 0) return null;
    const body = raw.slice(0, dot);
    if (!safeEqual(raw.slice(dot + 1), sign(this.config.cookieSecret, `session:${body}`))) return null;
    try {
      const v = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as { u: string | null; r: Role; a: boolean };
      // An anonymous session is only good while no auth is configured.
      if (v.a && this.enabled) return null;
      return { user: v.u, role: v.r === 'viewer' ? 'viewer' : 'admin', via: 'session' };
    } catch {
      return null;
    }
  }

  /** The CSRF token of a principal (stable for a user across restarts with a stable secret). */
  csrfToken(p: Principal): string {
    return sign(this.config.cookieSecret, `csrf:${p.user ?? ''}:${p.role}`);
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
}
