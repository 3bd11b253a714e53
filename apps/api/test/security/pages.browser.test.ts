/**
 * The reference app's pages in Chromium under its Content-Security-Policy: `/docs` (Swagger UI,
 * served from the package) and the live page break no directive (before, /docs broke its own
 * policy with inline style and showed the framework's logo in a top bar), /docs draws the API's
 * operations without any logo, and neither page can be framed.
 */
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/harness.js';
import { chromiumThere, launchChromium } from '../../../../packages/celeriac/test/support/chromium.js';


// What the page-side callbacks touch (the test compiles without the DOM library).
declare const window: { __csp: string[] };
declare const document: {
  addEventListener(type: 'securitypolicyviolation', fn: (e: { violatedDirective: string; blockedURI: string; sample: string }) => void): void;
  querySelectorAll(s: string): { length: number };
  querySelector(s: string): unknown;
};

describe.runIf(chromiumThere('reference app pages browser test'))('reference app pages under their CSP', () => {
  let t: TestApi;
  let browser: Browser;
  let base: string;
  let launching: Promise<unknown> | undefined;

  beforeAll(async () => {
    launching = launchChromium().then((b) => (browser = b));
    t = await startTestApi({ database: 'pglite', workerConcurrency: 1 });
    await t.server.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(t.server.server.address() as { port: number }).port}`;
    await launching;
  }, 120_000);

  afterAll(async () => {
    await launching?.catch(() => undefined);
    await browser?.close();
    await t?.close();
  }, 60_000);

  async function open(): Promise<{ page: Page; problems: string[] }> {
    const context = await browser.newContext();
    await context.addInitScript(() => {
      window.__csp = [];
      document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`));
    });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(err.message));
    return { page, problems };
  }

  it('/docs: the operations drawn, no logo or top bar, no CSP violation', async () => {
    const { page, problems } = await open();
    await page.goto(`${base}/docs`);
    await page.getByText('/tasks/{name}').first().waitFor({ timeout: 20_000 });
    const seen = await page.evaluate(() => ({ csp: window.__csp, topbar: document.querySelectorAll('.topbar').length, images: document.querySelectorAll('img').length }));
    expect(seen).toEqual({ csp: [], topbar: 0, images: 0 });
    expect(problems).toEqual([]);
  }, 60_000);

  it('the live page: no CSP violation', async () => {
    const { page, problems } = await open();
    await page.goto(`${base}/`);
    await page.getByText('Connected: updates arrive as tasks change.').waitFor({ timeout: 20_000 });
    expect(await page.evaluate(() => window.__csp)).toEqual([]);
    expect(problems).toEqual([]);
  }, 60_000);

  it('cannot be framed', async () => {
    const { page } = await open();
    await page.setContent(`<iframe src="${base}/docs"></iframe><iframe src="${base}/"></iframe>`);
    const frames = page.frames().filter((f) => f !== page.mainFrame());
    expect(frames).toHaveLength(2);
    for (const f of frames) expect(await f.evaluate(() => document.querySelector('link[rel="stylesheet"]') !== null).catch(() => false), f.url()).toBe(false);
  }, 30_000);
});
