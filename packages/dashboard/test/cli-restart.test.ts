/**
 * `celeriac -b <broker> flower` as a user runs it (the real bin, no -A): it watches a worker,
 * keeps its history in the embedded database of `--db` (owner-only), and after a restart still
 * has every task, while its sessions and CSRF tokens are new (no secret was pinned).
 */
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from 'celeriac';
import { waitFor } from 'celeriac/testing';
import { runFlowerCli } from '../src/cli.js';
import { freePort } from '../../celeriac/test/support/redis.js';
import { DashboardCluster, clusterReady } from './support/cluster.js';
import { buildDistIfStale } from '../../celeriac/test/support/node-script.js';

const ready = await clusterReady('celeriac flower CLI restart');
const cluster = new DashboardCluster('dashcli');
const { fleet } = cluster;
const BIN = resolve(import.meta.dirname, '../../celeriac/bin/celeriac.js');
const dir = mkdtempSync(join(tmpdir(), 'celeriac-flower-cli-'));

function flower(port: number) {
  const child = spawn(process.execPath, [BIN, '-b', fleet.brokerUrl, '--result-backend', fleet.py.backend, 'flower', `--port=${port}`, '--address', '127.0.0.1', '--db', dir, '--inspect_interval', '1000'], {
    env: { ...process.env, FLOWER_UNAUTHENTICATED_API: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, exited, out: () => out };
}

describe.runIf(ready)('celeriac flower (CLI): history across restarts', () => {
  // The app and the bin load the dashboard (and celeriac) from dist/.
  beforeAll(() => buildDistIfStale(), 300_000);
  let port = 0;

  beforeAll(async () => {
    const app = fleet.app();
    app.task('ts.add', (x: number, y: number) => x + y);
    await fleet.worker(app, { queues: ['celery'], hostname: `tscli-${process.pid}@%h`, sendTaskEvents: true });
    port = await freePort();
  }, 30_000);

  afterAll(async () => {
    await cluster.close();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('sees a task, stops on SIGTERM, and still has it after a restart', async () => {
    const base = `http://127.0.0.1:${port}`;
    const first = flower(port);
    let csrf = '';
    let id = '';
    try {
      await waitFor(() => first.out().includes(`celeriac flower http://127.0.0.1:${port}`) || (first.child.exitCode !== null && Promise.reject(new Error(first.out()))), 'the banner', { timeoutMs: 120_000, maxIntervalMs: 200 });
      expect(first.out()).toContain(`history  embedded, ${dir}`);
      const r = await fleet.app().sendTask('ts.add', [20, 22]);
      id = r.id;
      fleet.taskIds.push(id);
      await waitFor(async () => {
        const res = await fetch(`${base}/api/task/info/${id}`);
        return res.status === 200 && ((await res.json()) as { state: string }).state === 'SUCCESS';
      }, 'the task in the dashboard', { timeoutMs: 20_000, maxIntervalMs: 100 });
      csrf = ((await (await fetch(`${base}/api/config`)).json()) as { csrfToken: string }).csrfToken;
    } finally {
      first.child.kill('SIGTERM');
    }
    expect(await first.exited).toBe(0);

    const second = flower(port);
    try {
      await waitFor(() => second.out().includes('celeriac flower http://') || (second.child.exitCode !== null && Promise.reject(new Error(second.out()))), 'the banner again', { timeoutMs: 120_000, maxIntervalMs: 200 });
      const info = (await (await fetch(`${base}/api/task/info/${id}`)).json()) as { state: string; result: string; name: string };
      expect(info).toMatchObject({ state: 'SUCCESS', result: '42', name: 'ts.add' });
      // A fresh cookie secret on each start: tokens (and sessions) of the first run are worthless.
      expect(((await (await fetch(`${base}/api/config`)).json()) as { csrfToken: string }).csrfToken).not.toBe(csrf);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(statSync(join(dir, 'db')).mode & 0o777).toBe(0o700);
    } finally {
      second.child.kill('SIGTERM');
    }
    expect(await second.exited).toBe(0);
  }, 300_000);
});

describe('celeriac flower (CLI): a port it cannot take', () => {
  it('a port another process holds is one line and exit 1, not a stack', async () => {
    const app = createApp({}, { env: {} });
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const err: string[] = [];
      const code = await runFlowerCli(['--port', String(port), '--address', '127.0.0.1', '--persistent=false'], { app, out: () => {}, err: (t) => void err.push(t), env: {}, stop: () => Promise.reject(new Error('a run that could not listen must not wait')) });
      expect(code).toBe(1);
      expect(err.join('')).toMatch(new RegExp(`^error: cannot listen on 127\\.0\\.0\\.1:${port}: listen EADDRINUSE: address already in use 127\\.0\\.0\\.1:${port}\\n$`, 'm'));
    } finally {
      taken.close();
      await app.close();
    }
  });
});

describe('celeriac flower (CLI): a signal while it starts', () => {
  it('asks for its stop before it starts, so a SIGTERM while it starts stops it once started instead of killing it', async () => {
    const app = createApp({}, { env: {} });
    const port = await freePort();
    const events: string[] = [];
    try {
      const stop = () => {
        events.push('stop asked');
        return Promise.resolve(); // the signal came at once
      };
      const code = await runFlowerCli(['--port', String(port), '--address', '127.0.0.1', '--persistent=false'], { app, out: () => {}, err: () => {}, env: {}, onStarted: () => void events.push('listening'), stop });
      expect(code).toBe(0);
      expect(events).toEqual(['stop asked', 'listening']);
      // It closed what it started: the port is free again.
      const again = createServer();
      await new Promise<void>((resolve, reject) => again.once('error', reject).listen(port, '127.0.0.1', resolve));
      again.close();
    } finally {
      await app.close();
    }
  });
});
