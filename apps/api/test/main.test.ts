/**
 * The entry point as `npm start` runs it: with nothing configured it starts API, worker, beat
 * and the dashboard on the embedded broker and database, seeds demo data, prints the URLs and stops
 * cleanly on SIGTERM; bad settings stop it with a clear message and exit code 2. The start runs
 * src/main.ts through tsx, as `npm start` does; the refusals run the app compiled to
 * JavaScript (support/compiled-app.ts), half the CPU of a start through tsx.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { buildDistIfStale } from '../../../packages/celeriac/test/support/node-script.js';
import { compileApp, type CompiledApp } from './support/compiled-app.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const dirs: string[] = [];
/** `npm start`'s way: src/main.ts through tsx. */
const fromSource = ['--import', 'tsx', 'apps/api/src/main.ts'];
let compiled: CompiledApp | undefined;

/** The environment with every setting of the app removed, plus `extra`. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(CELERY_|CELERIAC_|API_|REDIS_URL|DATABASE_URL|DATA_DIR|FLOWER_|TASK_ALLOW|APP_TIMEZONE|LOG_LEVEL)/.test(k)) env[k] = v;
  return { ...env, ...extra };
}

function run(args: string[], env: NodeJS.ProcessEnv, main: readonly string[] = compiled?.mainArgs ?? fromSource) {
  const child = spawn(process.execPath, [...main, ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

afterAll(() => {
  compiled?.dispose();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('apps/api main', () => {
  // The app and the bin load the dashboard (and celeriac) from dist/.
  beforeAll(() => {
    buildDistIfStale();
    compiled = compileApp();
  }, 300_000);
  it('all: serves API, docs and live page on the embedded stack, with demo data, and stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-app-main-'));
    dirs.push(dir);
    const p = run(['all'], cleanEnv({ DATA_DIR: dir, API_PORT: '0', FLOWER_PORT: '0', LOG_LEVEL: 'warn' }), fromSource);
    try {
      const base = await waitFor(() => /Live page\s+(http:\/\/\S+)\//.exec(p.out())?.[1], `the banner (stderr: ${p.err()})`, 150_000);
      expect(p.out()).toMatch(/API docs\s+http:\/\/\S+\/docs/);
      expect(p.out()).toContain('broker     memory://');
      const health = await fetch(`${base}/health`);
      expect(health.status).toBe(200);
      const users = (await (await fetch(`${base}/users`)).json()) as { total: number };
      expect(users.total).toBe(2);
      const sent = (await (await fetch(`${base}/tasks/demo.add`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"args":[40,2]}' })).json()) as { taskId: string };
      const result = await waitFor(async () => {
        const s = (await (await fetch(`${base}/tasks/${sent.taskId}`)).json()) as { state: string; result?: number };
        return s.state === 'SUCCESS' ? s.result : undefined;
      }, 'demo.add', 15_000);
      expect(result).toBe(42);
      expect((await fetch(`${base}/docs/`)).status).toBe(200);
      // The dashboard runs in the same process and sees the embedded worker.
      const dashboard = /Dashboard\s+(http:\/\/\S+)/.exec(p.out())?.[1] as string;
      expect(dashboard).toBeDefined();
      const workers = (await (await fetch(`${dashboard}/workers?json=1`)).json()) as { data: { hostname: string; status: boolean }[] };
      expect(workers.data).toEqual([expect.objectContaining({ hostname: expect.stringMatching(/^embedded@/), status: true })]);
      expect((await fetch(`${dashboard}/healthcheck`)).status).toBe(200);
    } finally {
      p.child.kill('SIGTERM');
    }
    expect(await p.exited).toBe(0);
  }, 240_000);

  it('refuses bad settings with every problem named, exit code 2', async () => {
    const p = run(['all'], cleanEnv({ API_PORT: 'eighty', APP_TIMEZONE: 'Nowhere/City' }));
    expect(await p.exited).toBe(2);
    expect(p.err()).toContain('API_PORT: expected an integer from 0 to 65535, got "eighty"');
    expect(p.err()).toContain('APP_TIMEZONE: expected an IANA time zone');
    expect(p.err()).not.toMatch(/\bat .*\.[jt]s:\d+/);
  }, 60_000);

  it('refuses a split role without shared services, and an unknown role', async () => {
    const worker = run(['worker'], cleanEnv({}));
    expect(await worker.exited).toBe(2);
    expect(worker.err()).toContain('DATABASE_URL: must be set when roles run as separate processes');
    const unknown = run(['gardener'], cleanEnv({}));
    expect(await unknown.exited).toBe(2);
    expect(unknown.err()).toContain('usage: main.ts [all|api|worker|beat|flower]');
  }, 60_000);
});
