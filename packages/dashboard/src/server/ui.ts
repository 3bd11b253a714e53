/**
 * @module server/ui
 * Serves the browser app (packages/dashboard/ui, owned by the UI) at the URL prefix root,
 * and hands it its config: `index.html` gets a `<meta name="celeriac-dashboard">` with the
 * URL prefix, read-only flag, role and CSRF token (also at `/api/config`), and the response
 * sets the signed session cookie the app's API calls carry. Files are read from the UI
 * directory only (no path escapes it); Flower's page paths redirect to the app's routes.
 */
import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CSRF_HEADER, type Principal } from './auth.js';
import type { ServerContext } from './context.js';
import { bool } from './params.js';
import { contentSecurityPolicy } from './security-headers.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json',
  '.map': 'application/json', '.woff2': 'font/woff2', '.txt': 'text/plain; charset=utf-8',
};

function escapeAttr(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const FALLBACK = `<!doctype html><html><head><meta charset="utf-8"><title>Celeriac dashboard</title></head><body>
<h1>Celeriac dashboard</h1><p>The browser app is not installed here. The API works:
<a href="api/workers">api/workers</a>, <a href="api/tasks?limit=20">api/tasks</a>, <a href="api/openapi.json">api/openapi.json</a>, <a href="metrics">metrics</a>.</p></body></html>`;

/** Registers the routes. */
export function registerUi(server: FastifyInstance, ctx: ServerContext): void {
  const root = resolve(ctx.settings.uiDir);
  const prefix = ctx.settings.urlPrefix;

  const index = async (req: FastifyRequest, reply: FastifyReply) => {
    const caller: Principal = req.principal ?? { user: null, role: ctx.auth.anonymousPageRole(), via: 'anonymous' };
    // An anonymous page gets the page role of the mode (read-only unless anonymous control is on).
    const p: Principal = caller.via === 'anonymous' ? { user: null, role: ctx.auth.anonymousPageRole(), via: 'anonymous' } : caller;
    const html = await readFile(resolve(root, 'index.html'), 'utf8').catch(() => FALLBACK);
    const config = { urlPrefix: prefix, readOnly: ctx.settings.readOnly, role: p.role, user: p.user, csrfToken: ctx.auth.csrfToken(p), csrfHeader: CSRF_HEADER, timezone: ctx.settings.timezone, traceUrl: ctx.settings.traceUrl, version: ctx.settings.version, auth: ctx.auth.mode, session: p.via !== 'token' };
    const meta = `<meta name="celeriac-dashboard" content="${escapeAttr(JSON.stringify(config))}">`;
    // The page's inline script (it must run before any relative URL is fetched) runs by a nonce of this response.
    const nonce = randomBytes(16).toString('base64');
    const page = (html.includes('<head>') ? html.replace('<head>', `<head>\n  ${meta}`) : meta + html).replace(/<script>/g, `<script nonce="${nonce}">`);
    reply.header('content-security-policy', contentSecurityPolicy(nonce));
    // A session for users who proved who they are by password, or anyone when no auth is
    // configured (with the mode's page role); tokens are for scripts and get none.
    if (p.via === 'basic' || p.via === 'anonymous') reply.header('set-cookie', ctx.auth.cookieHeader(ctx.auth.sessionCookie(p), prefix));
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page);
  };

  server.get('/', async (req, reply) => {
    // Flower's `/?json=1` is the workers table.
    if (bool(req, 'json', false)) {
      const now = Date.now();
      return { data: ctx.ingest.workers().map((w) => ctx.ingest.workerSummary(w, now)) };
    }
    return index(req, reply);
  });
  server.get('/index.html', index);

  // Flower's page URLs, for bookmarks and links from alerts.
  server.get('/tasks', async (_req, reply) => reply.redirect(`${prefix}/#/tasks`));
  server.get('/broker', async (_req, reply) => reply.redirect(`${prefix}/#/broker`));
  server.get('/task/:id', async (req, reply) => reply.redirect(`${prefix}/#/task/${encodeURIComponent((req.params as { id: string }).id)}`));
  server.get('/worker/:name', async (req, reply) => reply.redirect(`${prefix}/#/worker/${encodeURIComponent((req.params as { name: string }).name)}`));

  server.get('/*', async (req, reply) => {
    const rel = (req.params as { '*': string })['*'];
    if (rel.includes('\0')) return reply.code(404).send();
    const file = resolve(root, `.${sep}${rel}`);
    if (!file.startsWith(root + sep)) return reply.code(404).send();
    const info = await stat(file).catch(() => null);
    if (info === null || !info.isFile()) return reply.code(404).type('text/plain').send('Not Found');
    if (file === resolve(root, 'index.html')) return index(req, reply);
    const body = await readFile(file);
    return reply.type(TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream').header('cache-control', 'no-cache').send(body);
  });
}
