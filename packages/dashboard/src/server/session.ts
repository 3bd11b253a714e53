/**
 * @module server/session
 * The dashboard's browser sessions: a signed cookie that carries who the user is, when the
 * session began and when it was last used, and a fingerprint of the credential and role the
 * user had when it was issued. A session is good only while
 * - it is younger than the absolute lifetime and was used within the idle time;
 * - the user still exists with the same credential and role (the fingerprint is recomputed
 *   from the current configuration on every request, so a password change, a removed user or
 *   a new role ends every session of that user at once);
 * - it was not logged out (logged-out session ids are kept until they would expire anyway);
 * - it was signed with this process's secret (a fresh random one unless the operator pins one,
 *   so a restart ends every session).
 * The cookie is re-issued at most once a minute to move its idle deadline.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from 'celeriac/spi';

/** The roles of the dashboard. */
export type Role = 'admin' | 'viewer';

/** What a session names: the user (null for an anonymous page session) and its role. */
export interface SessionUser {
  readonly user: string | null;
  readonly role: Role;
}

/** A verified session. */
export interface Session extends SessionUser {
  /** Random id (logout revokes it). */
  readonly sid: string;
  /** Issued at, ms since the epoch. */
  readonly iat: number;
  /** A fresh cookie value to send back (the idle deadline moved), or null. */
  readonly refresh: string | null;
}

/** Session settings. */
export interface SessionOptions {
  readonly secret: string;
  readonly clock: Clock;
  /** Ends a session unused this long, ms. */
  readonly idleMs: number;
  /** Ends any session this old, ms. */
  readonly absoluteMs: number;
  /**
   * The current credential and role of a user (null: no such user now). Its text is only
   * hashed into the fingerprint, never stored in the cookie.
   */
  readonly credentialOf: (user: string | null) => { role: Role; credential: string } | null;
}

/** Most logged-out session ids remembered (oldest forgotten first). */
const MAX_REVOKED = 100_000;
/** The idle deadline is moved when the cookie's last use is older than this. */
const REFRESH_MS = 60_000;

interface Body {
  u: string | null;
  r: Role;
  s: string;
  i: number;
  l: number;
  f: string;
}

/** Compares in constant time for equal lengths (a length mismatch is not secret here). */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  if (ab.length !== bb.length) {
    timingSafeEqual(ab, ab);
    return false;
  }
  return timingSafeEqual(ab, bb);
}

/** HMAC-SHA256 of `text`, base64url. */
export function sign(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text).digest('base64url');
}

function isBody(v: unknown): v is Body {
  if (typeof v !== 'object' || v === null) return false;
  const b = v as Record<string, unknown>;
  return (b['u'] === null || typeof b['u'] === 'string') && (b['r'] === 'admin' || b['r'] === 'viewer') && typeof b['s'] === 'string' && typeof b['i'] === 'number' && typeof b['l'] === 'number' && typeof b['f'] === 'string';
}

/** Issues and verifies session cookies. */
export class Sessions {
  /** Logged-out session id -> when it would have expired anyway. */
  readonly #revoked = new Map<string, number>();

  constructor(private readonly options: SessionOptions) {}

  /** The fingerprint of a user's current credential and role ('' when the user is gone). */
  fingerprint(user: string | null): string {
    const current = this.options.credentialOf(user);
    if (current === null) return '';
    return sign(this.options.secret, `fp\0${user ?? ''}\0${current.role}\0${current.credential}`).slice(0, 22);
  }

  /** A new session cookie value for a user as configured now. */
  issue(who: SessionUser): string {
    const now = this.options.clock.now();
    return this.#encode({ u: who.user, r: who.role, s: randomBytes(12).toString('base64url'), i: now, l: now, f: this.fingerprint(who.user) });
  }

  /** The session of a cookie value, or null when it is forged, expired, revoked or stale. */
  verify(raw: string): Session | null {
    const dot = raw.lastIndexOf('.');
    if (dot <= 0) return null;
    const text = raw.slice(0, dot);
    if (!safeEqual(raw.slice(dot + 1), sign(this.options.secret, `session:${text}`))) return null;
    let body: unknown;
    try {
      body = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    } catch {
      return null;
    }
    if (!isBody(body)) return null;
    const now = this.options.clock.now();
    if (now - body.i >= this.options.absoluteMs || now - body.l >= this.options.idleMs || body.i > now + REFRESH_MS) return null;
    if (this.#revoked.has(body.s)) return null;
    const current = this.options.credentialOf(body.u);
    // The role is part of the fingerprint, but a cookie that claims another role is refused outright too.
    if (current === null || current.role !== body.r || !safeEqual(body.f, this.fingerprint(body.u))) return null;
    const refresh = now - body.l > REFRESH_MS ? this.#encode({ ...body, l: now }) : null;
    return { user: body.u, role: body.r, sid: body.s, iat: body.i, refresh };
  }

  /** Ends a session (logout) for good, even if its cookie is replayed. */
  revoke(session: Session): void {
    this.#revoked.set(session.sid, session.iat + this.options.absoluteMs);
    const now = this.options.clock.now();
    for (const [sid, until] of this.#revoked) {
      if (until >= now && this.#revoked.size <= MAX_REVOKED) break;
      this.#revoked.delete(sid);
    }
  }

  /** The cookie's Max-Age, seconds (the absolute lifetime). */
  get maxAgeSec(): number {
    return Math.floor(this.options.absoluteMs / 1000);
  }

  #encode(body: Body): string {
    const text = Buffer.from(JSON.stringify(body)).toString('base64url');
    return `${text}.${sign(this.options.secret, `session:${text}`)}`;
  }
}
