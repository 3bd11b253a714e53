/**
 * The live page in a real browser (the system Chromium through playwright-core): send ten
 * tasks with one click and watch every row reach SUCCESS without a reload, each showing the
 * worker that ran it, with two workers sharing the load.
 */
import { Worker } from 'celeriac';
import { type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './support/harness.js';
import { chromiumThere, launchChromium } from '../../../packages/celeriac/test/support/chromium.js';


describe.runIf(chromiumThere('live page browser test'))('the live page in Chromium', () => {
  let t: TestApi;
  let second: Worker;
  let browser: Browser;
  let base: string;
  /** Chromium starts while the rest of the fixture is set up; afterAll waits for it, so it is always closed. */
  let launching: Promise<unknown> | undefined;

  beforeAll(async () => {
    launching = launchChromium().then((b) => (browser = b));
    t = await startTestApi({ database: 'pglite', workerConcurrency: 2 });
    second = new Worker(t.rt.celery, { concurrency: 2, hostname: 'second@%h' });
    await second.start();
    await t.server.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(t.server.server.address() as { port: number }).port}`;
    await launching;
  }, 120_000);

  afterAll(async () => {
    await launching?.catch(() => undefined);
    await browser?.close();
    await second?.close({ deadlineMs: 5000 });
    await t?.close();
  }, 60_000);

  it('sends ten; all reach SUCCESS without a reload; two workers ran them', async () => {
    const page = await browser.newPage();
    let navigations = 0;
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) navigations += 1;
    });
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(msg.text());
    });
    await page.goto(`${base}/`);
    await page.getByText('Connected: updates arrive as tasks change.').waitFor();
    await page.getByLabel('Seconds per task').fill('2');
    await page.getByRole('button', { name: 'Send ten' }).click();

    const rows = page.locator('#tasks tbody tr');
    await expect.poll(() => rows.count(), { timeout: 20_000 }).toBe(10);
    // Progress is pushed while the tasks run (task-progress events).
    await page.locator('#tasks progress').first().waitFor({ timeout: 20_000 });
    await expect.poll(() => page.locator('#tasks tbody tr[data-state="SUCCESS"]').count(), { timeout: 60_000 }).toBe(10);
    await page.getByText('10 of 10 tasks finished.').waitFor();

    const workers = await rows.evaluateAll((trs) => trs.map((tr) => (tr as unknown as { dataset: { worker: string } }).dataset.worker));
    expect(new Set(workers).size).toBe(2);
    expect([...new Set(workers)].sort().map((w) => w.split('@')[0])).toEqual(['second', 'test']);
    const nums = await rows.evaluateAll((trs) => trs.map((tr) => Number((tr as unknown as { children: { textContent: string }[] }).children[0]?.textContent)));
    expect(nums.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(await page.locator('#workers li').allTextContents()).toHaveLength(2);
    expect(navigations).toBe(1);
    expect(problems).toEqual([]);
    await page.close();
  }, 120_000);
});
