/**
 * OIDC login in a real browser against the local provider: opening the dashboard goes to the
 * provider and back, and the app then runs as the logged-in user (the session cookie is
 * `SameSite=Strict`, so the way back must end in a same-site navigation for it to be sent).
 */
import { type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../celeriac/test/support/redis.js';
import type { RunningDashboard } from '../../src/dashboard.js';
import { OidcProvider } from './oidc-provider.js';
import { SecurityFixture, postgresReady } from './support.js';
import { chromiumThere, launchChromium } from '../../../celeriac/test/support/chromium.js';


const ready = chromiumThere('OIDC browser test') && (await postgresReady('dashboard security: OIDC in a browser'));
const fx = new SecurityFixture();

describe.runIf(ready)('dashboard security: OIDC login in Chromium', () => {
  const provider = new OidcProvider();
  let dash: RunningDashboard;
  let browser: Browser;

  beforeAll(async () => {
    const launching = launchChromium();
    await provider.start();
    const port = await freePort();
    dash = await fx.dashboard({ port, auth: '.*@example\\.com', oidc: { issuer: provider.issuer, clientId: provider.clientId, clientSecret: provider.clientSecret, redirectUri: `http://127.0.0.1:${port}/login/callback` } });
    browser = await launching;
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await fx.close();
    await provider.close();
  }, 30_000);

  it('opening the dashboard logs in through the provider; the app runs as that user, and logs out', async () => {
    provider.email = 'ann@example.com';
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(err.message));
    const visited: string[] = [];
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) visited.push(new URL(f.url()).origin === provider.issuer ? 'provider' : new URL(f.url()).pathname);
    });
    await page.goto(`${dash.url}/`);
    await page.locator('header .user').getByText('ann@example.com').waitFor({ timeout: 15_000 });
    expect(visited).toContain('/login/callback');
    expect(visited.at(-1)).toBe('/');
    await page.locator('#logout').click();
    await page.getByText('Logged out').waitFor({ timeout: 10_000 });
    // A reload asks the provider again (which signs the same user in at once).
    await page.reload();
    await page.locator('header .user').getByText('ann@example.com').waitFor({ timeout: 15_000 });
    expect(problems).toEqual([]);
  }, 60_000);

  it('Log out clicked while the first page still loads: the page that comes after draws nothing over the message', async () => {
    provider.email = 'ann@example.com';
    const context = await browser.newContext();
    const page = await context.newPage();
    // The overview's data is held until the logout is done, as on a slow link.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    await page.route('**/api/overview*', async (route) => {
      await held;
      await route.continue();
    });
    await page.goto(`${dash.url}/`);
    await page.locator('header .user').getByText('ann@example.com').waitFor({ timeout: 15_000 });
    await page.locator('#logout').click();
    await page.getByText('Logged out').waitFor({ timeout: 10_000 });
    const answered = page.waitForResponse((r) => r.url().includes('/api/overview'));
    release();
    await (await answered).finished();
    // The page's turns after the response (its JSON read, then its drawing): two frames drawn.
    await page.evaluate('new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))');
    expect(await page.getByText('Logged out').count()).toBe(1);
    expect(await page.locator('#main .cards').count()).toBe(0);
    expect(await page.getByText('Could not load this page').count()).toBe(0);
    await context.close();
  }, 60_000);

  it('an email outside the pattern ends on a refusal page, without a session', async () => {
    provider.email = 'eve@evil.example';
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${dash.url}/`);
    await page.getByText('Login refused').waitFor({ timeout: 15_000 });
    expect(await page.getByText('eve@evil.example is not allowed in.').count()).toBe(1);
    expect((await context.cookies()).map((c) => c.name)).not.toContain('celeriac_dashboard');
  }, 60_000);
});
