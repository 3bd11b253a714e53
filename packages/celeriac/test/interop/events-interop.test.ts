/**
 * Python's `celery events --dump` prints a Celeriac worker's heartbeats and task events
 * (docs/protocol.md §4, recipe §9 (d)). Keys and channels are isolated by a kombu
 * global_keyprefix.
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { createApp, Worker, type App } from 'celeriac';
import { shouldRunPythonTests } from '../support/python.js';
import { deleteKeys, deleteResults, shouldRunRedisTests } from '../support/redis.js';
import { describeOracles } from '../support/oracles.js';
import { CeleryCli } from './celery-cli.js';

const DB = 11;
const prefix = `evt-${randomUUID().slice(0, 8)}:`;
const BROKER = `redis://127.0.0.1:6379/${DB}`;
const ready = (await shouldRunRedisTests('events interop')) && shouldRunPythonTests('events interop');
const NODE = `ts-ev-${process.pid}@interop`;
const taskIds: string[] = [];

describeOracles('celery events --dump sees a Celeriac worker', (oracle) => {
  let app: App;
  let worker: Worker;
  let cli: CeleryCli;

  beforeAll(async () => {
    app = createApp({ broker: `${BROKER}?global_keyprefix=${prefix}`, backend: BROKER }, { env: {}, logger: pino({ level: 'silent' }) });
    app.task('interop.add', (x: number, y: number) => x + y);
    app.task('interop.fail', (msg: string) => {
      throw new TypeError(msg);
    });
    worker = new Worker(app, { hostname: NODE, concurrency: 2, sendTaskEvents: true });
    await worker.start();
    cli = new CeleryCli({ broker: BROKER, backend: BROKER, keyPrefix: prefix, oracle });
  }, 30_000);

  afterAll(async () => {
    await worker?.close({ deadlineMs: 2000 });
    await app?.close();
    cli?.dispose();
    await deleteKeys(prefix, BROKER);
    await deleteResults(taskIds, BROKER);
  }, 30_000);

  it('prints heartbeats and the task events of a success and a failure', async () => {
    const dump = cli.spawn(['events', '--dump']);
    try {
      const out = dump.output;
      // `celery events` broadcasts a heartbeat request on start; the worker answers at once.
      await waitFor(() => out().includes(`${NODE} [`) && /heartbeat: .*freq=2/.test(out()), () => `a heartbeat; celery events printed:\n${out()}`, 30_000);
      const ok = await app.sendTask('interop.add', [2, 3]);
      const bad = await app.sendTask('interop.fail', ['boom']);
      taskIds.push(ok.id, bad.id);
      await waitFor(() => out().includes(`task succeeded: interop.add(${ok.id})`) && out().includes(`task failed: interop.fail(${bad.id})`), () => `task events; celery events printed:\n${out()}`, 30_000);
      const lines = out().split('\n').filter((l) => l.startsWith(`${NODE} [`));
      const about = (id: string) => lines.filter((l) => l.includes(id)).map((l) => l.replace(/^.*?\] /, ''));
      expect(about(ok.id)[0]).toMatch(new RegExp(`^task received: interop\\.add\\(${ok.id}\\) args=\\(2, 3\\) kwargs=\\{\\}`));
      expect(about(ok.id).some((l) => l.startsWith(`task started: interop.add(${ok.id})`))).toBe(true);
      expect(about(ok.id).find((l) => l.startsWith('task succeeded'))).toMatch(/result=5/);
      expect(about(bad.id).find((l) => l.startsWith('task failed'))).toMatch(/exception=TypeError\('boom'\)/);
    } finally {
      dump.child.kill('SIGINT');
    }
  }, 90_000);
}, ready);
