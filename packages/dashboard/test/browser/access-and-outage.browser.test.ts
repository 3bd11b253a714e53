/**
 * The dashboard in Chromium (playwright-core, Debian's chromium) for what the main browser
 * test does not cover: who sees the control buttons (an admin does; a viewer and a read-only
 * dashboard do not, and the server refuses their actions), per-row selection in the task list
 * with revoke and terminate of the selected rows, the banner for a worker whose task events are
 * off, and the banner for a broker that went down (and its going away once the broker is back).
 *
 * Runs on its own redis-server (on a free port, so it can be stopped) with two Celeriac workers:
 * `loud` with task events, `quiet` without; history in Postgres under a random schema.
 */
import { randomUUID } from 'node:crypto';
import { createApp, Worker, type App } from 'celeriac';
import { waitFor } from 'celeriac/testing';
import pg from 'pg';
import { pino } from 'pino';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, RedisServerProcess } from '../../../celeriac/test/support/redis.js';
import { startDashboard, type DashboardOptions, type RunningDashboard } from '../../src/index.js';
import { PG_URL, postgresReady } from '../support/cluster.js';
import { chromiumThere, launchChromium } from '../../../celeriac/test/support/chromium.js';

const REDIS_PORT = await freePort();

const ready = chromiumThere('dashboard access browser test') && (await postgresReady('dashboard access browser test'));

describe.runIf(ready)('the dashboard in Chromium: roles, bulk selection, events-off and broker-down banners', () => {
  const redis = new RedisServerProcess(REDIS_PORT);
  const schema = `dash_acc_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  let app: App;
  const workers: Worker[] = [];
  const dashboards: RunningDashboard[] = [];
  let browser: Browser;
  /** Chromium starts while the rest of the fixture is set up; afterAll waits for it, so it is always closed. */
  let launching: Promise<unknown> | undefined;
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const problems: string[] = [];

  const dashboard = async (options: Partial<DashboardOptions> = {}) => {
    const d = await startDashboard({
      app, port: 0, address: '127.0.0.1', dataDir: null, databaseUrl: PG_URL, storeOptions: { schema }, backfill: 0,
      ingest: { inspectIntervalMs: 2000, queuePollMs: 1000, enableEventsMs: 60_000, flushMs: 50 },
      ...options,
    });
    dashboards.push(d);
    return d;
  };
  const pageFor = async (credentials?: { username: string; password: string }): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, ...(credentials ? { httpCredentials: credentials } : {}) });
    const page = await context.newPage();
    page.on('pageerror', (err) => problems.push(err.message));
    page.on('dialog', (d) => {
      problems.push(`a native dialog opened: ${d.message()}`);
      void d.dismiss();
    });
    return { context, page };
  };
  /** Confirms the dashboard's own confirmation dialog. */
  const confirm = async (page: Page, label: string) => {
    await page.locator('dialog[open]').getByRole('button', { name: label, exact: true }).click();
    await page.locator('dialog[open]').waitFor({ state: 'detached', timeout: 15_000 });
  };

  beforeAll(async () => {
    launching = launchChromium().then((b) => (browser = b));
    await redis.start();
    app = createApp({ broker: redis.url, backend: redis.url }, { env: {}, logger: pino({ level: 'silent' }) });
    app.task('acc.block', async () => {
      await gate;
      return 'released';
    });
    app.task('acc.add', (x: number, y: number) => x + y);
    // The quiet worker processes a task before any dashboard runs: its heartbeats then count
    // processed tasks that no task event ever announced.
    const quiet = new Worker(app, { hostname: `quiet-${process.pid}@%h`, queues: ['quiet'], sendTaskEvents: false, concurrency: 1 });
    workers.push(quiet);
    await quiet.start();
    expect(await (await app.sendTask('acc.add', [1, 1], {}, { queue: 'quiet' })).get({ timeoutMs: 20_000 })).toBe(2);
    const loud = new Worker(app, { hostname: `loud-${process.pid}@%h`, queues: ['loud'], sendTaskEvents: true, concurrency: 1 });
    workers.push(loud);
    await loud.start();
    await launching;
  }, 120_000);

  afterAll(async () => {
    release();
    await launching?.catch(() => undefined);
    await browser?.close();
    for (const d of dashboards) await d.close().catch(() => {});
    for (const w of workers) await w.close().catch(() => {});
    await app?.close().catch(() => {});
    await redis.kill();
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await client.end();
    }
  }, 60_000);

  it('says which worker has task events off', async () => {
    const d = await dashboard({ unauthenticatedApi: true });
    const { context, page } = await pageFor();
    try {
      await page.goto(`${d.url}/#/workers`);
      const banner = page.locator('p.banner', { hasText: `quiet-${process.pid}@` });
      await banner.waitFor({ timeout: 30_000 });
      expect(await banner.textContent()).toMatch(/task events seem off/);
      // The worker with events on gets no such banner.
      await page.locator(`#workers-table tr[data-worker^="loud-${process.pid}@"][data-status="online"]`).waitFor({ timeout: 30_000 });
      expect(await page.locator('p.banner', { hasText: `loud-${process.pid}@` }).count()).toBe(0);
    } finally {
      await context.close();
    }
  }, 90_000);

  it('revokes and terminates the selected rows of the task list, and only those', async () => {
    const d = await dashboard({ unauthenticatedApi: true, anonymousControl: true });
    const { context, page } = await pageFor();
    try {
      const blocker = await app.sendTask('acc.block', [], {}, { queue: 'loud' });
      const queued: Awaited<ReturnType<App['sendTask']>>[] = [];
      for (let i = 0; i < 4; i++) queued.push(await app.sendTask('acc.add', [i, 100], {}, { queue: 'loud' }));
      await page.goto(`${d.url}/#/tasks`);
      for (const r of [blocker, ...queued]) await page.locator(`#tasks-table tr[data-uuid="${r.id}"]`).waitFor({ timeout: 30_000 });
      await expect.poll(() => page.locator('#revoke-selected').isDisabled()).toBe(true);
      const tick = (id: string) => page.locator(`#tasks-table tr[data-uuid="${id}"] input.row-select`).check();
      await tick(queued[0]!.id);
      await tick(queued[1]!.id);
      await expect.poll(() => page.locator('#selected-count').textContent()).toBe('2 selected');
      await page.locator('#revoke-selected').click();
      await confirm(page, 'Revoke');
      await expect.poll(() => page.locator('#selected-count').textContent(), { timeout: 15_000 }).toBe('');
      await tick(queued[2]!.id);
      await page.locator('#terminate-selected').click();
      await confirm(page, 'Terminate');
      // The selection clears once the request answered; then wait until the worker holds the
      // three revokes before it may take the queued tasks.
      await expect.poll(() => page.locator('#selected-count').textContent(), { timeout: 15_000 }).toBe('');
      const loudName = workers[1]!.hostname;
      await waitFor(async () => {
        const doc = (await (await fetch(`${d.url}/api/workers?refresh=1&workername=${encodeURIComponent(loudName)}`)).json()) as Record<string, { revoked?: string[] }>;
        const revoked = doc[loudName]?.revoked ?? [];
        return queued.slice(0, 3).every((r) => revoked.includes(r.id));
      }, 'the worker to hold the revokes', { timeoutMs: 20_000, maxIntervalMs: 500 });
      release();
      for (const r of queued.slice(0, 3)) await page.locator(`#tasks-table tr[data-uuid="${r.id}"][data-state="REVOKED"]`).waitFor({ timeout: 30_000 });
      await page.locator(`#tasks-table tr[data-uuid="${queued[3]!.id}"][data-state="SUCCESS"]`).waitFor({ timeout: 30_000 });
      await page.locator(`#tasks-table tr[data-uuid="${blocker.id}"][data-state="SUCCESS"]`).waitFor({ timeout: 30_000 });
      const audit = (await (await fetch(`${d.url}/api/audit`)).json()) as { entries?: { action?: string; path?: string }[] } | { action?: string; path?: string }[];
      expect(JSON.stringify(audit)).toContain('/api/tasks/revoke');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120_000);

  it('shows control buttons to an admin only: a viewer and a read-only dashboard see none, and the server refuses them', async () => {
    const auth = { basicAuth: ['boss:bosspw', 'eve:evepw'], viewers: ['eve'] };
    const d = await dashboard(auth);
    const ro = await dashboard({ ...auth, readOnly: true });
    const sent = await app.sendTask('acc.add', [2, 2], {}, { queue: 'loud' });
    const loudName = workers[1]!.hostname;
    const views = async (url: string, who: { username: string; password: string }) => {
      const { context, page } = await pageFor(who);
      try {
        await page.goto(`${url}/#/tasks`);
        await page.locator(`#tasks-table tr[data-uuid="${sent.id}"]`).waitFor({ timeout: 30_000 });
        const tasks = { select: await page.locator('input.row-select').count(), bulk: await page.locator('#revoke-selected, #terminate-selected').count() };
        await page.evaluate((id) => (location.hash = `/task/${id}`), sent.id);
        await page.locator('#main p.mono', { hasText: sent.id }).waitFor({ timeout: 20_000 });
        const task = await page.locator('[aria-label="Task actions"] button').count();
        await page.evaluate((name) => (location.hash = `/worker/${encodeURIComponent(name)}`), loudName);
        await page.locator('#main h1').filter({ hasText: loudName }).waitFor({ timeout: 20_000 });
        const worker = await page.locator('[aria-label="Worker actions"] button').count();
        await page.evaluate(() => (location.hash = '/broker'));
        await page.locator('#queues-table tbody tr').first().waitFor({ timeout: 30_000 });
        const broker = await page.locator('#main button', { hasText: 'Purge' }).count();
        return { ...tasks, task, worker, broker };
      } finally {
        await context.close();
      }
    };
    const boss = { username: 'boss', password: 'bosspw' };
    const eve = { username: 'eve', password: 'evepw' };
    const admin = await views(d.url, boss);
    expect(admin.select).toBeGreaterThan(0);
    expect(admin.bulk).toBe(2);
    expect(admin.task).toBeGreaterThan(0);
    expect(admin.worker).toBeGreaterThan(0);
    expect(admin.broker).toBeGreaterThan(0);
    const none = { select: 0, bulk: 0, task: 0, worker: 0, broker: 0 };
    expect(await views(d.url, eve)).toEqual(none);
    expect(await views(ro.url, boss)).toEqual(none);
    const basic = (who: { username: string; password: string }) => `Basic ${Buffer.from(`${who.username}:${who.password}`).toString('base64')}`;
    for (const [url, who] of [[d.url, eve], [ro.url, boss]] as const) {
      const res = await fetch(`${url}/api/tasks/revoke`, { method: 'POST', headers: { authorization: basic(who), 'content-type': 'application/json' }, body: JSON.stringify({ ids: [sent.id] }) });
      expect(res.status).toBe(403);
    }
    expect(problems).toEqual([]);
  }, 150_000);

  it('says on every page when the broker is down, and stops saying it once it is back', async () => {
    const d = await dashboard({ unauthenticatedApi: true });
    const { context, page } = await pageFor();
    try {
      await page.goto(`${d.url}/#/tasks`);
      await page.locator('#tasks-table').waitFor();
      await waitFor(async () => (await fetch(`${d.url}/readyz`)).status === 200, 'ready with the broker up', { timeoutMs: 20_000, maxIntervalMs: 200 });
      expect(await page.locator('#broker-down').count()).toBe(0);
      await redis.kill();
      await page.locator('#broker-down').waitFor({ timeout: 30_000 });
      expect(await page.locator('#broker-down').textContent()).toMatch(/^Broker unreachable: /);
      // The history still answers while the broker is away.
      await page.evaluate(() => (location.hash = '/tasks?state=SUCCESS'));
      await page.locator('#tasks-table tbody tr[data-uuid]').first().waitFor({ timeout: 20_000 });
      await redis.start();
      await page.locator('#broker-down').waitFor({ state: 'detached', timeout: 60_000 });
    } finally {
      await context.close();
    }
  }, 150_000);
});

// The few browser globals the page callbacks above touch (this file compiles without the DOM lib).
declare const location: { hash: string };
