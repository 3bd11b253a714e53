/**
 * The reference app on RabbitMQ with rpc:// results, as a Celery project configures it
 * (`CELERY_BROKER_URL=amqp://... CELERY_RESULT_BACKEND=rpc://`): `main.ts all` starts, runs a
 * task sent through the API and reads its result; beat runs too, its store in a RabbitMQ queue
 * (no Redis). A vhost of its own and a Postgres database of its own, deleted afterwards: the
 * embedded PGlite costs a process 5-6 CPU-seconds to open, and main.test.ts covers it (and the
 * start through tsx: this runs the app compiled to JavaScript, support/compiled-app.ts).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { amqpAvailable, createVhost, deleteVhost, listQueues, vhostUrl } from '../../../packages/celeriac/test/support/amqp-env.js';
import { buildDistIfStale } from '../../../packages/celeriac/test/support/node-script.js';
import { compileApp, type CompiledApp } from './support/compiled-app.js';
import { createTestDatabase, shouldRunPostgresTests, type TestDatabase } from './support/postgres.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const ready = (await amqpAvailable()) && (await shouldRunPostgresTests('apps/api main on amqp://'));

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(CELERY_|CELERIAC_|API_|REDIS_URL|DATABASE_URL|DATA_DIR|FLOWER_|TASK_ALLOW|APP_TIMEZONE|LOG_LEVEL)/.test(k)) env[k] = v;
  return { ...env, ...extra };
}

describe.runIf(ready)('apps/api main on amqp:// + rpc://', () => {
  // The app and the bin load the dashboard (and celeriac) from dist/.
  beforeAll(() => buildDistIfStale(), 300_000);
  let vhost = '';
  let dir = '';
  let db: TestDatabase | undefined;
  let app: CompiledApp | undefined;
  beforeAll(async () => {
    vhost = await createVhost('api');
    dir = mkdtempSync(join(tmpdir(), 'celeriac-app-amqp-'));
    db = await createTestDatabase();
    app = compileApp();
  }, 120_000);
  afterAll(async () => {
    await deleteVhost(vhost);
    await db?.drop();
    app?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('all: a task sent through the API runs and its rpc result is served', async () => {
    const env = cleanEnv({ DATA_DIR: dir, DATABASE_URL: db?.url ?? '', API_PORT: '0', FLOWER_PORT: '0', LOG_LEVEL: 'warn', CELERY_BROKER_URL: vhostUrl(vhost), CELERY_RESULT_BACKEND: 'rpc://' });
    const child = spawn(process.execPath, [...(app?.mainArgs ?? []), 'all'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const base = await waitFor(() => /Live page\s+(http:\/\/\S+)\//.exec(out)?.[1], `the banner (output: ${out})`, 90_000);
      expect(out).toContain('results    rpc://');
      expect(out).not.toContain('beat not started');
      // Beat's store document sits in its queue of the app's vhost.
      await waitFor(async () => (await listQueues(vhost, [])).includes('celeriac.beat.store'), 'beat store queue', 30_000);
      const sent = (await (await fetch(`${base}/tasks/demo.add`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"args":[40,2]}' })).json()) as { taskId: string };
      const result = await waitFor(async () => {
        const s = (await (await fetch(`${base}/tasks/${sent.taskId}`)).json()) as { state: string; result?: number };
        return s.state === 'SUCCESS' ? s.result : undefined;
      }, 'demo.add over RabbitMQ', 20_000);
      expect(result).toBe(42);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 150_000);
});
