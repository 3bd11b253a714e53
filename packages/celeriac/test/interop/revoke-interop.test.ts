/**
 * AsyncResult.revoke() from TypeScript reaches a Python Celery worker: the revoke is broadcast
 * as Celery's pidbox `revoke`, so the Python worker discards the task (stored REVOKED), as it
 * would after `celery control revoke`; with `terminate`, a task the Python worker is running
 * is killed with the signal given.
 */
import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TaskRevokedError, type App } from 'celeriac';
import { ControlClient } from '../../src/exports/monitor.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { describeOracles } from '../support/oracles.js';
import { MixedFleet, mixedFleetReady } from './mixed-fleet.js';

const ready = await mixedFleetReady('revoke interop');

describeOracles('revoke from TypeScript, honoured by a Python worker', (oracle) => {
  const fleet = new MixedFleet('xrevoke', 9, oracle);
  let app: App;
  beforeAll(async () => {
    app = fleet.app();
    // One prefork child, the pool Celery can terminate a running task in.
    await fleet.python({ queues: ['xrevoke-py'], name: 'py-xrevoke@%h', concurrency: 1 });
    // The worker logs "ready" before its pidbox has subscribed (a broadcast on Redis is a
    // PUBLISH, lost on a channel nobody has subscribed yet): a revoke sent in that gap is
    // never seen, and the task runs. Once it answers a ping, it hears broadcasts.
    const control = new ControlClient(app.broker);
    try {
      await waitFor(async () => Object.keys(await control.ping({ timeoutMs: 1000 })).some((node) => node.startsWith('py-xrevoke@')), 'the Python worker to answer a ping', { timeoutMs: 30_000 });
    } finally {
      await control.close();
    }
  }, 60_000);
  afterAll(() => fleet.close(), 30_000);

  it('a task held by a Python worker until its countdown is discarded after revoke(): REVOKED', async () => {
    const r = await app.sendTask('py.add', [1, 2], {}, { queue: 'xrevoke-py', countdown: 3 });
    fleet.taskIds.push(r.id);
    // Python takes ETA messages at once and holds them until due: revoke while it holds it.
    await r.revoke();
    const err = await r.get({ timeoutMs: 30_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskRevokedError);
    expect(await r.state()).toBe('REVOKED');
  }, 40_000);

  it('revoke({ terminate, signal }) kills the task a Python worker is running: REVOKED, run once', async () => {
    const redis = createClient({ url: fleet.py.backend });
    await redis.connect();
    try {
      // py.count counts its runs in Redis, then sleeps: 120 s, far past this test's wait.
      const key = `${fleet.prefix}runs:${randomUUID()}`;
      const r = await app.sendTask('py.count', [key, 120], {}, { queue: 'xrevoke-py' });
      fleet.taskIds.push(r.id);
      await waitFor(async () => (await redis.get(key)) === '1', 'the Python worker to start the task', { timeoutMs: 30_000 });
      await r.revoke({ terminate: true, signal: 'SIGKILL' });
      const err = await r.get({ timeoutMs: 30_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TaskRevokedError);
      expect(await r.state()).toBe('REVOKED');
      expect(await redis.get(key)).toBe('1');
    } finally {
      await redis.quit();
    }
  }, 60_000);
}, ready);
