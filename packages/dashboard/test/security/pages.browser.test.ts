/**
 * The dashboard's pages in Chromium under their Content-Security-Policy: no page breaks the
 * policy (it allows no inline style and no script but the page's own by nonce, so a violation
 * means the UI drew an inline style or something tried to run), and a task whose every field
 * is an XSS payload (name, args, kwargs, result, exception, traceback, worker, queue, ids)
 * runs nothing on any page that draws it. Also: the page cannot be framed, and logging out
 * ends the session.
 */
import type { EventDict } from 'celeriac/monitor';
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningDashboard } from '../../src/dashboard.js';
import { SecurityFixture, basic, call, postgresReady } from './support.js';
import { chromiumThere, launchChromium } from '../../../celeriac/test/support/chromium.js';


// What the page-side callbacks touch (the test compiles without the DOM library).
declare const window: { __xss?: number; __csp: string[] };
declare const document: { addEventListener(type: 'securitypolicyviolation', fn: (e: { violatedDirective: string; blockedURI: string; sample: string }) => void): void; querySelector(s: string): unknown };

const ready = chromiumThere('dashboard security browser test') && (await postgresReady('dashboard security: pages'));
const fx = new SecurityFixture();

/** Each sets `window.__xss` if it ever runs. */
const PAYLOADS = [
  '<img src=x onerror="window.__xss=1">',
  '"><script>window.__xss=2</script>',
  "'><svg onload=window.__xss=3>",
  'javascript:window.__xss=4',
  '<style>body{display:none}</style><a href="javascript:window.__xss=5">x</a>',
];
const P = PAYLOADS.join(' ');
const ID = `xss-${'<b>'}-${Date.now()}`;
const WORKER = `<img src=x onerror=window.__xss=6>@host`;

function hostileEvents(): EventDict[] {
  const t = Date.now() / 1000 - 5;
  const common = { uuid: ID, hostname: WORKER };
  return [
    { ...common, type: 'task-received', timestamp: t, name: `proj.${P}`, args: `(${JSON.stringify(P)},)`, kwargs: `{'k': ${JSON.stringify(P)}, ${JSON.stringify(P)}: 1}`, routing_key: P, eta: P, expires: P, root_id: ID, parent_id: P },
    { ...common, type: 'task-started', timestamp: t + 1 },
    { ...common, type: 'task-failed', timestamp: t + 2, exception: `ValueError(${JSON.stringify(P)})`, traceback: `Traceback:\n  ${P}` },
  ] as unknown as EventDict[];
}

describe.runIf(ready)('dashboard security: pages under their CSP, with hostile task data', () => {
  let dash: RunningDashboard;
  let browser: Browser;
  const problems: string[] = [];

  beforeAll(async () => {
    const launching = launchChromium();
    dash = await fx.dashboard({ basicAuth: ['admin:pw'] });
    await dash.store.writeEvents(hostileEvents());
    browser = await launching;
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await fx.close();
  }, 30_000);

  async function open(): Promise<Page> {
    const context = await browser.newContext({ httpCredentials: { username: 'admin', password: 'pw' } });
    // Collects every CSP violation the page reports, from the first script on.
    await context.addInitScript(() => {
      window.__csp = [];
      document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`));
    });
    const page = await context.newPage();
    page.on('pageerror', (err) => problems.push(err.message));
    page.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    return page;
  }

  it('every page: no CSP violation, no payload runs, the payload is shown as text', async () => {
    const page = await open();
    const routes: [string, string | null][] = [
      ['#/', null],
      ['#/workers', null],
      [`#/tasks`, 'proj.<img'],
      [`#/tasks?search=${encodeURIComponent('state:FAILURE')}`, 'proj.<img'],
      [`#/task/${encodeURIComponent(ID)}`, 'window.__xss=2'],
      [`#/worker/${encodeURIComponent(WORKER)}`, null],
      ['#/broker', null],
      ['#/beat', null],
    ];
    for (const [hash, text] of routes) {
      await page.goto(`${dash.url}/${hash}`);
      await page.locator('main h1, main h2').first().waitFor({ timeout: 10_000 });
      if (text !== null) await page.getByText(text, { exact: false }).first().waitFor({ timeout: 10_000 });
      const state = await page.evaluate(() => ({ xss: window.__xss ?? null, csp: window.__csp }));
      expect(state, hash).toEqual({ xss: null, csp: [] });
    }
    expect(problems).toEqual([]);
  }, 90_000);

  it('cannot be framed by another page', async () => {
    // A dashboard without auth, so the frame would load the page if framing were allowed.
    const anonymous = await fx.dashboard({ unauthenticatedApi: false });
    const page = await open();
    // setContent waits for the load event, which waits for the frame's own load (or its refusal).
    await page.setContent(`<iframe id="f" src="${anonymous.url}/"></iframe>`);
    const frame = page.frames().find((f) => f !== page.mainFrame());
    expect(frame).toBeDefined();
    // The frame's navigation is blocked: it never gets the dashboard's document.
    expect(await frame?.evaluate(() => document.querySelector('meta[name="celeriac-dashboard"]') !== null).catch(() => false)).toBe(false);
  });

  it('logging out from the page ends the session: its cookie is refused afterwards', async () => {
    const page = await open();
    await page.goto(`${dash.url}/`);
    await page.locator('#logout').waitFor({ timeout: 10_000 });
    const cookie = (await page.context().cookies()).find((c) => c.name === 'celeriac_dashboard');
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.sameSite).toBe('Strict');
    await page.locator('#logout').click();
    await page.getByText('Logged out').waitFor({ timeout: 10_000 });
    expect((await call(dash.url, 'GET', '/api/workers', { cookie: `celeriac_dashboard=${cookie?.value ?? ''}` })).status).toBe(401);
    expect((await call(dash.url, 'GET', '/api/workers', { authorization: basic('admin', 'pw') })).status).toBe(200);
  });
});
