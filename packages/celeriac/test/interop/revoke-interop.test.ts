/**
 * AsyncResult.revoke() from TypeScript reaches a Python Celery worker: the revoke is broadcast
 * as Celery's pidbox `revoke`, so the Python worker discards the task (stored REVOKED), as it
 * would after `celery control revoke`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskRevokedError, type App } from 'celeriac';
import { MixedFleet, mixedFleetReady } from './mixed-fleet.js';

const fleet = new MixedFleet('xrevoke');
const ready = await mixedFleetReady('revoke interop');

describe.runIf(ready)('revoke from TypeScript, honoured by a Python worker', () => {
  let app: App;
  beforeAll(async () => {
    app = fleet.app();
    await fleet.python({ queues: ['xrevoke-py'], name: 'py-xrevoke@%h' });
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
});
