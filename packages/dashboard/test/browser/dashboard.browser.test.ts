/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core) against a real
 * cluster on Redis: a Celeriac worker and a Python Celery worker, both with events on.
 * Checks what issue 22 asks of the pages: both workers appear; tasks appear live without a
 * reload; search finds a task by a kwarg; re-run and terminate work; a worker action takes
 * effect; the history is still there after the dashboard restarts. Hostile values (markup
 * in args) are shown, never run.
 *
 * With CELERIAC_DOCS_SCREENSHOTS=1 the screenshots go to docs/img/ (the ones
 * docs/dashboard.md shows); otherwise to a temporary directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chain, type App, type Task } from 'celeriac';
import { BeatEntries } from 'celeriac/beat';
import { sleep, waitFor } from 'celeriac/testing';
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MixedFleet, mixedFleetReady } from '../../../celeriac/test/interop/mixed-fleet.js';
import { startDashboard, type RunningDashboard } from '../../src/index.js';
import { chromiumThere, launchChromium } from '../../../celeriac/test/support/chromium.js';

// The few browser globals the page callbacks below touch (this file compiles without the DOM lib).
declare const document: { getElementById(id: string): { replaceChildren(): void } | null };
declare const location: { hash: string };
declare const window: { __pwned?: number };

const DOCS_IMG = fileURLToPath(new URL('../../../../docs/img/', import.meta.url));
const EVIL = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>`;

const ready = chromiumThere('dashboard browser test') && (await mixedFleetReady('dashboard browser'));

describe.runIf(ready)('the dashboard in Chromium, watching a Celeriac and a Python worker', () => {
  const fleet = new MixedFleet('dashui', 9);
  const dataDir = mkdtempSync(join(tmpdir(), 'celeriac-dash-ui-'));
  const shots = process.env['CELERIAC_DOCS_SCREENSHOTS'] === '1' ? DOCS_IMG : join(dataDir, 'shots');
  let app: App;
  let add: Task<[number, number], number>;
  let dash: RunningDashboard;
  let browser: Browser;
  /** Chromium starts while the rest of the fixture is set up; afterAll waits for it, so it is always closed. */
  let launching: Promise<unknown> | undefined;
  let page: Page;
  let tsNode = '';
  let pyNode = '';
  const problems: string[] = [];
  let navigations = 0;

  // No backfill: the fleet's Redis db holds results of every other suite (and of other runs of
  // this one), which a first start would read in; the page must show this run's tasks only.
  const start = (port = 0) => startDashboard({ app, port, address: '127.0.0.1', dataDir, backfill: 0, unauthenticatedApi: true, anonymousControl: true, ingest: { inspectIntervalMs: 2000 } });
  const shoot = async (name: string, fullPage = false) => {
    await page.evaluate(() => document.getElementById('toasts')?.replaceChildren());
    await page.screenshot({ path: join(shots, `dashboard-${name}.png`), fullPage });
  };
  // Moves inside the app without reloading it (reloads are counted by `navigations`).
  const goto = async (route: string) => {
    if (!page.url().startsWith(dash.url)) await page.goto(`${dash.url}/#${route}`);
    else await page.evaluate((r) => (location.hash = r), route);
  };

  beforeAll(async () => {
    launching = launchChromium().then((b) => (browser = b));
    app = fleet.app({ resultExtended: true, timezone: 'Europe/Paris' });
    add = app.task('shop.add', (x: number, y: number) => x + y);
    app.task('shop.email', (to: string, opts: { user_id: number }) => `sent to ${to} for ${opts.user_id}`);
    app.task('shop.sleep', async (s: number) => {
      await sleep(s * 1000); // the task's work: real time
      return s;
    });
    const worker = await fleet.worker(app, { concurrency: 2, hostname: `ts-${process.pid}@%h`, sendTaskEvents: true, queues: ['celery'] });
    tsNode = worker.hostname;
    const py = await fleet.python({ name: `py-${process.pid}@%h`, events: true, queues: ['py'], concurrency: 2 });
    void py;
    await new BeatEntries(app).set('nightly-report', { task: 'shop.add', schedule: '0 4 * * *', args: [1, 2] });
    await new BeatEntries(app).set('heartbeat-ping', { task: 'shop.add', schedule: 30, args: [0, 0] });
    dash = await start();
    await launching;
    // A browser zone that is neither UTC nor the app's, so pages show offsets.
    page = await browser.newPage({ viewport: { width: 1280, height: 860 }, timezoneId: 'America/New_York' });
    page.on('pageerror', (err) => problems.push(err.message));
    page.on('console', (msg) => {
      // Network errors are expected (a 404 for a task not stored yet, the live stream cut
      // when the dashboard restarts); script errors are not.
      if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) problems.push(msg.text());
    });
    page.on('dialog', (d) => {
      problems.push(`a native dialog opened: ${d.message()}`);
      void d.dismiss();
    });
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) navigations += 1;
    });
  }, 120_000);

  afterAll(async () => {
    await launching?.catch(() => undefined);
    await browser?.close();
    await dash?.close();
    await new BeatEntries(app).remove('nightly-report').catch(() => {});
    await new BeatEntries(app).remove('heartbeat-ping').catch(() => {});
    await fleet.close();
    rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('shows both workers, the Celeriac one and the Python one, online', async () => {
    await page.goto(`${dash.url}/#/workers`);
    const rows = page.locator('#workers-table tbody tr[data-status="online"]');
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(2);
    const names = await rows.evaluateAll((trs) => trs.map((tr) => (tr as unknown as { dataset: Record<string, string> }).dataset['worker']));
    pyNode = names.find((n) => n?.startsWith('py-')) ?? '';
    expect(names.sort()).toEqual([pyNode, tsNode].sort());
    expect(pyNode).toMatch(/^py-\d+@/);
    await expect.poll(() => page.locator('#workers-table').textContent()).toContain('py-celery');
  }, 60_000);

  it('adds tasks to the table live, without a reload, and escapes markup in their values', async () => {
    await goto('/tasks');
    await page.locator('#tasks-table').waitFor();
    const before = navigations;
    const sent = [
      await app.sendTask('shop.add', [2, 3]),
      await app.sendTask('shop.email', [EVIL, { user_id: 4242 }]),
      await app.sendTask('py.add', [40, 2], {}, { queue: 'py' }),
      await app.sendTask('py.echo', [EVIL], { user_id: 777 }, { queue: 'py' }),
    ];
    fleet.taskIds.push(...sent.map((r) => r.id));
    for (const r of sent) {
      await page.locator(`#tasks-table tr[data-uuid="${r.id}"][data-state="SUCCESS"]`).waitFor({ timeout: 30_000 });
    }
    expect(navigations).toBe(before);
    await expect.poll(() => page.locator('#tasks-table').textContent()).toContain('<script>');
    expect(await page.evaluate(() => window.__pwned)).toBeUndefined();
    await shoot('tasks');
  }, 60_000);

  it('shows a huge value as a folded preview, and fetches the full result on demand', async () => {
    const blob = 'x'.repeat(200_000);
    const r = await app.sendTask('py.echo', ['big'], { blob, deep: { a: { b: { c: [1, 2, 3] } } } }, { queue: 'py' });
    fleet.taskIds.push(r.id);
    await r.get({ timeoutMs: 20_000 });
    // The result is stored before the task's events reach the dashboard: the page is about the
    // stored task, not about how soon a page opened before it was stored picks it up.
    await waitFor(async () => (await dash.store.getTask(r.id))?.task.state === 'SUCCESS', 'the task stored', 20_000);
    await goto(`/task/${r.id}`);
    await page.locator('h1 .badge', { hasText: 'SUCCESS' }).waitFor({ timeout: 20_000 });
    // Celery shortens reprs in its events; the page says so and offers the result backend's copy.
    await page.getByRole('region', { name: 'Keyword arguments' }).getByRole('note').waitFor({ timeout: 20_000 });
    await page.getByRole('button', { name: 'Fetch the full result from the result backend' }).click();
    await page.getByRole('region', { name: 'Result' }).getByText('(200000 chars)').waitFor({ timeout: 20_000 });
  }, 60_000);

  it('finds a task by a kwarg with the search language', async () => {
    // A user id of this run's own: another run of this suite may share the Redis db.
    const userId = 100_000 + Math.floor(Math.random() * 900_000);
    const r = await app.sendTask('py.echo', ['needle'], { user_id: userId, note: 'find me' }, { queue: 'py' });
    fleet.taskIds.push(r.id);
    // This test is about search: the task is in the store before the page asks for the list.
    await waitFor(async () => (await dash.store.getTask(r.id)) !== null, 'the task stored', 30_000);
    await goto('/tasks');
    await page.locator(`#tasks-table tr[data-uuid="${r.id}"]`).waitFor({ timeout: 30_000 });
    await page.getByLabel('Search tasks').fill(`kwargs.user_id:${userId}`);
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await expect.poll(() => page.locator('#tasks-table tbody tr[data-uuid]').count(), { timeout: 15_000 }).toBe(1);
    expect(await page.locator('#tasks-table tbody tr[data-uuid]').getAttribute('data-uuid')).toBe(r.id);
    // A bad query is explained under the box, not thrown.
    await page.getByLabel('Search tasks').fill('state:FAILURE AND (');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await expect.poll(() => page.locator('#search-error').textContent()).toMatch(/Search: .+/);
    await page.getByLabel('Search tasks').fill(`kwargs.user_id:${userId}`);
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await expect.poll(() => page.locator('#search-error').textContent()).toBe('');
    await shoot('search');
  }, 60_000);

  it('re-runs a task with the same arguments, and terminates a running one', async () => {
    const first = await add.applyAsync([20, 22]);
    fleet.taskIds.push(first.id);
    await first.get({ timeoutMs: 20_000 });
    await goto(`/task/${first.id}`);
    await page.getByRole('button', { name: 'Re-run' }).waitFor({ timeout: 20_000 });
    await page.getByRole('button', { name: 'Re-run' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Re-run' }).click();
    await waitFor(() => !page.url().includes(first.id), 'the re-run task page', 20_000);
    const rerunId = decodeURIComponent(page.url().split('#/task/')[1] ?? '');
    fleet.taskIds.push(rerunId);
    expect(rerunId).not.toBe(first.id);
    await page.locator('h1 .badge', { hasText: 'SUCCESS' }).waitFor({ timeout: 30_000 });
    expect(await app.asyncResult(rerunId).get({ timeoutMs: 10_000 })).toBe(42);

    const long = await app.sendTask('py.sleep', [120], {}, { queue: 'py' });
    fleet.taskIds.push(long.id);
    await goto(`/task/${long.id}`);
    await page.getByRole('button', { name: 'Terminate' }).waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Terminate' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Terminate' }).click();
    await page.locator('h1 .badge', { hasText: 'REVOKED' }).waitFor({ timeout: 30_000 });
  }, 90_000);

  it('draws a workflow as a tree', async () => {
    const r = await chain(add.s(1, 1), add.s(10), add.s(100)).applyAsync();
    fleet.taskIds.push(r.id);
    expect(await r.get({ timeoutMs: 20_000 })).toBe(112);
    // The page is drawn from what the dashboard has ingested: wait for every step's end there.
    const stored = await waitFor(async () => {
      const d = await dash.store.getTask(r.id);
      if (!d?.task.rootId || d.task.state !== 'SUCCESS') return undefined;
      const steps = (await dash.store.getWorkflow(d.task.rootId)).tasks;
      return steps.length === 3 && steps.every((t) => t.state === 'SUCCESS') ? d : undefined;
    }, 'the chain stored, every step SUCCESS', 30_000);
    fleet.taskIds.push(...(await dash.store.getWorkflow(stored.task.rootId as string)).tasks.map((t) => t.uuid));
    await goto(`/task/${r.id}`);
    const tree = page.getByRole('list', { name: 'Workflow tree' });
    await expect.poll(async () => (await tree.count()) > 0 && tree.locator('li').count(), { timeout: 20_000 }).toBe(3);
    await page.locator('h1 .badge', { hasText: 'SUCCESS' }).waitFor();
    await page.getByRole('list', { name: 'Event timeline' }).getByText('task-succeeded').waitFor({ timeout: 20_000 });
    await expect.poll(() => tree.locator('.badge', { hasText: 'SUCCESS' }).count(), { timeout: 20_000 }).toBe(3);
    // A finished workflow offers no red action: the button is there, disabled, saying why.
    const revokeAll = page.getByRole('button', { name: 'Revoke workflow' });
    await expect.poll(() => revokeAll.isDisabled(), { timeout: 20_000 }).toBe(true);
    expect(await revokeAll.getAttribute('class')).toBeNull();
    expect(await revokeAll.getAttribute('title')).toBe('All 3 tasks of this workflow have finished: nothing to revoke');
    await shoot('task', true);
  }, 60_000);

  it('makes a worker consume another queue (a worker action, confirmed)', async () => {
    await goto(`/worker/${encodeURIComponent(tsNode)}?tab=Queues`);
    await page.getByRole('button', { name: 'Add consumer…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Queue').fill('reports');
    await dialog.getByRole('button', { name: 'Add' }).click();
    await page.locator('#queues-table tbody tr', { hasText: 'reports' }).waitFor({ timeout: 20_000 });
    const r = await app.sendTask('shop.add', [5, 5], {}, { queue: 'reports' });
    fleet.taskIds.push(r.id);
    expect(await r.get({ timeoutMs: 20_000 })).toBe(10);
    await shoot('worker');
  }, 60_000);

  it('shows the broker, beat and overview pages', async () => {
    // A countdown task waits in the broker: listed on the broker page and the tasks page.
    const later = await app.sendTask('shop.add', [{ id: 1, updated: true }, 2], {}, { countdown: 3600 });
    fleet.taskIds.push(later.id);
    await goto('/broker');
    await page.locator('#queues-table tr[data-queue="py"]').waitFor({ timeout: 20_000 });
    const row = page.locator(`#delayed-table tr[data-uuid="${later.id}"]`);
    await row.waitFor({ timeout: 20_000 });
    expect(await row.textContent()).toContain("({'id': 1, 'updated': True}, 2)");
    expect(await row.textContent()).toContain('in 59 min');
    expect(await page.locator('#queues-table tr[data-queue="celery"] td.delayed').textContent()).toBe('1');
    await shoot('broker');
    await goto('/tasks');
    await expect.poll(() => page.locator('#delayed-tasks summary').textContent(), { timeout: 20_000 }).toMatch(/^Delayed in the broker \(\d+\)$/);
    await page.locator('#delayed-tasks summary').click();
    await page.locator(`#delayed-tasks tr[data-uuid="${later.id}"]`).waitFor({ timeout: 5000 });
    await goto('/beat');
    await page.locator('#beat-table tr[data-entry="nightly-report"]').waitFor({ timeout: 20_000 });
    await expect.poll(() => page.locator('#beat-table').textContent()).toContain('crontab 0 4 * * *');
    await shoot('beat');
    const ping = page.locator('#beat-table tr[data-entry="heartbeat-ping"]');
    await ping.getByRole('button', { name: 'Pause' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Pause' }).click();
    await ping.locator('.badge', { hasText: 'PAUSED' }).waitFor({ timeout: 20_000 });
    expect((await new BeatEntries(app).list()).find((e) => e.name === 'heartbeat-ping')?.paused).toBe(true);
    for (let i = 0; i < 20; i++) fleet.taskIds.push((await app.sendTask('shop.add', [i, i])).id);
    await goto('/?window=60');
    await page.getByRole('img', { name: /Tasks finished per second/ }).waitFor({ timeout: 20_000 });
    await shoot('overview');
    await goto('/workers');
    await page.locator('#workers-table tbody tr[data-status="online"]').first().waitFor();
    await shoot('workers');
  }, 60_000);

  it('keeps the history when the dashboard restarts, and the open page reconnects by itself', async () => {
    const r = await app.sendTask('shop.email', ['restart@example.com', { user_id: 31337 }]);
    fleet.taskIds.push(r.id);
    await r.get({ timeoutMs: 20_000 });
    await waitFor(async () => (await dash.store.getTask(r.id))?.task.state === 'SUCCESS', 'the task stored', 20_000);
    await goto('/tasks?q=31337');
    await page.locator(`#tasks-table tr[data-uuid="${r.id}"]`).waitFor({ timeout: 20_000 });
    const before = navigations;
    const port = dash.port;
    await dash.close();
    await expect.poll(() => page.locator('#live-status').textContent(), { timeout: 20_000 }).toContain('reconnecting');
    dash = await start(port);
    // The same page, never reloaded: the live stream comes back and the page refetches.
    await expect.poll(() => page.locator('#live-status').textContent(), { timeout: 30_000 }).toBe('Live');
    const after = await app.sendTask('shop.email', ['after@example.com', { user_id: 31337 }]);
    fleet.taskIds.push(after.id);
    await page.locator(`#tasks-table tr[data-uuid="${after.id}"][data-state="SUCCESS"]`).waitFor({ timeout: 30_000 });
    await page.locator(`#tasks-table tr[data-uuid="${r.id}"]`).waitFor();
    expect(navigations).toBe(before);
    await goto(`/task/${r.id}`);
    await page.getByText('restart@example.com').first().waitFor({ timeout: 20_000 });
    expect(problems).toEqual([]);
  }, 120_000);

  it('works under a URL prefix, as behind a proxy', async () => {
    // A second dashboard with its own in-memory database: its start is seconds of CPU, and
    // over 30 s at load 20, hence the wide bounds (they only end early).
    const prefixed = await startDashboard({ app, port: 0, address: '127.0.0.1', dataDir: null, backfill: 0, urlPrefix: '/flower', unauthenticatedApi: true, anonymousControl: true, ingest: { inspectIntervalMs: 2000 } });
    try {
      expect(prefixed.url).toMatch(/\/flower$/);
      await page.goto(prefixed.url);
      await page.evaluate(() => (location.hash = '/workers'));
      await expect.poll(() => page.locator('#workers-table tbody tr[data-status="online"]').count(), { timeout: 60_000 }).toBe(2);
      expect(new URL(page.url()).pathname).toBe('/flower/');
      await expect.poll(() => page.locator('#live-status').textContent(), { timeout: 30_000 }).toBe('Live');
    } finally {
      await prefixed.close();
    }
  }, 120_000);

  it('works when opened with credentials in the URL (http://user:pass@host/): tasks load, the live stream connects', async () => {
    // Chromium refused every fetch: "Request cannot be constructed from a URL that includes credentials".
    const withCredentials = new URL(`${dash.url}/`);
    withCredentials.username = 'user';
    withCredentials.password = 'pass';
    const before = problems.length;
    await page.goto(`${withCredentials.href}#/tasks`);
    await expect.poll(() => page.locator('#tasks-table tbody tr[data-uuid]').count(), { timeout: 60_000 }).toBeGreaterThan(0);
    await expect.poll(() => page.locator('#live-status').textContent(), { timeout: 30_000 }).toBe('Live');
    expect(problems.slice(before).filter((p) => /credentials/i.test(p))).toEqual([]);
  }, 120_000);
});
