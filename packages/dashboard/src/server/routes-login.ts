/**
 * @module server/routes-login
 * The login routes of an OIDC provider (server/oidc.ts) or GitHub (server/github-login.ts),
 * present only when one is configured:
 * `GET /login` sends the browser to the provider with a fresh state, nonce and PKCE verifier
 * kept in a short-lived signed cookie; `GET /login/callback` checks them, trades the code for
 * the user's email and starts a session. Both are public (they are how one gets in); a failed
 * login is a 403 page that says why, is counted by the failed-login limit and is logged.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RouteFlags, ServerContext } from './context.js';
import { LoginError, type LoginState, type ProviderLogin } from './oidc.js';
import { safeEqual, sign } from './session.js';

const PUBLIC: RouteFlags = { public: true };
const LOGIN_COOKIE = 'celeriac_login';
/** A login must come back from the provider within this long, ms. */
const LOGIN_TTL_MS = 10 * 60_000;

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A tiny page; `refresh`: where to go next (a same-site navigation, so the Strict session cookie goes along). */
function page(reply: FastifyReply, status: number, title: string, text: string, refresh?: string): FastifyReply {
  const meta = refresh === undefined ? '' : `<meta http-equiv="refresh" content="0;url=${escapeHtml(refresh)}">`;
  return reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(`<!doctype html><html><head><meta charset="utf-8">${meta}<title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>`);
}

function readLoginCookie(ctx: ServerContext, req: FastifyRequest): (LoginState & { exp: number }) | null {
  const raw = /(?:^|;\s*)celeriac_login=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
  if (raw === undefined) return null;
  const dot = raw.lastIndexOf('.');
  if (dot <= 0 || !safeEqual(raw.slice(dot + 1), sign(ctx.auth.config.cookieSecret, `login:${raw.slice(0, dot)}`))) return null;
  try {
    const v = JSON.parse(Buffer.from(raw.slice(0, dot), 'base64url').toString('utf8')) as LoginState & { exp: number };
    return typeof v.state === 'string' && typeof v.nonce === 'string' && typeof v.verifier === 'string' && typeof v.exp === 'number' ? v : null;
  } catch {
    return null;
  }
}

/** Registers the routes when a provider is configured. */
export function registerLoginRoutes(server: FastifyInstance, ctx: ServerContext, oidc: ProviderLogin | null): void {
  if (oidc === null) return;
  const prefix = ctx.settings.urlPrefix;
  const cookiePath = `${prefix}/login`;

  server.get('/login', { config: PUBLIC }, async (_req, reply) => {
    const s = oidc.newState();
    let target: string;
    try {
      target = await oidc.authorizeUrl(s);
    } catch (error) {
      return page(reply, 503, 'Login unavailable', (error as Error).message);
    }
    const text = Buffer.from(JSON.stringify({ ...s, exp: ctx.app.clock.now() + LOGIN_TTL_MS })).toString('base64url');
    // Lax, not Strict: the provider's redirect back is a cross-site navigation that must carry it.
    reply.header('set-cookie', `${LOGIN_COOKIE}=${text}.${sign(ctx.auth.config.cookieSecret, `login:${text}`)}; Path=${cookiePath}; Max-Age=${LOGIN_TTL_MS / 1000}; HttpOnly; SameSite=Lax`);
    return reply.header('cache-control', 'no-store').redirect(target);
  });

  server.get('/login/callback', { config: PUBLIC }, async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const saved = readLoginCookie(ctx, req);
    reply.header('set-cookie', `${LOGIN_COOKIE}=; Path=${cookiePath}; Max-Age=0; HttpOnly; SameSite=Lax`);
    const wait = ctx.limiter.lockedFor(req.ip, null);
    if (wait > 0) return page(reply.header('retry-after', String(Math.ceil(wait / 1000))), 429, 'Too many failed logins', 'Try again later.');
    try {
      if (saved === null || saved.exp < ctx.app.clock.now()) throw new LoginError('this login expired or was not started here: start again');
      if (typeof q['state'] !== 'string' || !safeEqual(q['state'], saved.state)) throw new LoginError('the answer does not belong to this login');
      if (typeof q['error'] === 'string') throw new LoginError(`the provider refused: ${q['error'].slice(0, 200)}`);
      if (typeof q['code'] !== 'string' || q['code'] === '' || q['code'].length > 4096) throw new LoginError('the provider sent no code');
      const email = await oidc.complete(q['code'], saved);
      ctx.limiter.succeed(req.ip, email);
      const role = ctx.auth.config.viewers.includes(email) ? 'viewer' : 'admin';
      reply.header('set-cookie', ctx.auth.cookieHeader(ctx.auth.sessionCookie({ user: email, role, via: 'session' }), prefix));
      return page(reply, 200, 'Logged in', `Welcome, ${email}.`, `${prefix}/`);
    } catch (error) {
      if (!(error instanceof LoginError)) throw error;
      const failure = ctx.limiter.fail(req.ip, null);
      ctx.app.log.warn({ ip: failure.ip, failures: failure.failures, lockedForMs: failure.lockedForMs, reason: error.message }, 'dashboard: failed login');
      return page(reply, 403, 'Login refused', `${error.message}.`);
    }
  });
}
