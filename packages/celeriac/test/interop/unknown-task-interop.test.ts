/**
 * An unknown task name, sent to a Python Celery 5.2.6 worker and to a Celeriac worker: both
 * send the same events (no task-received; one task-failed whose exception is
 * `NotRegistered('name')`) and store the same FAILURE, as Celery's Consumer.on_unknown_task does.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { App } from '../../src/index.js';
import { EventReceiver } from '../../src/exports/monitor.js';
import { waitFor } from '../../src/testing/index.js';
import { describeOracles } from '../support/oracles.js';
import { MixedFleet, mixedFleetReady } from './mixed-fleet.js';

const ready = await mixedFleetReady('unknown task interop');

type Seen = { type: string; uuid?: string; exception?: unknown; hostname?: string };

describeOracles('an unregistered task on a Python worker and on a Celeriac worker', (oracle) => {
  const fleet = new MixedFleet('xunknown', 9, oracle);
  let app: App;

  beforeAll(async () => {
    app = fleet.app();
    await fleet.worker(app, { queues: ['xunknown-ts'], concurrency: 1, hostname: 'ts-xunknown@%h', sendTaskEvents: true });
    await fleet.python({ queues: ['xunknown-py'], name: 'py-xunknown@%h', events: true });
  }, 60_000);

  afterAll(() => fleet.close(), 30_000);

  it('no task-received, one task-failed NotRegistered(\'name\'), FAILURE stored: the same from both', async () => {
    const seen: Seen[] = [];
    const receiver = new EventReceiver(app.broker, (event) => seen.push(event as Seen));
    await receiver.start();
    try {
      const sent = await Promise.all(['xunknown-py', 'xunknown-ts'].map((queue) => app.sendTask('no.such.task', [1], {}, { queue })));
      for (const r of sent) fleet.taskIds.push(r.id);
      const views = [];
      for (const r of sent) {
        await waitFor(() => seen.some((e) => e.uuid === r.id && e.type === 'task-failed'), `task-failed of ${r.id}`, 30_000);
        const meta = await r.meta();
        // A stray task-received would come before the task-failed (one worker, one event channel, in order).
        const events = seen.filter((e) => e.uuid === r.id);
        const failed = events.find((e) => e.type === 'task-failed') as Record<string, unknown> | undefined;
        views.push({
          types: events.map((e) => e.type),
          fields: Object.keys(failed ?? {}).sort(),
          exception: events.find((e) => e.type === 'task-failed')?.exception,
          status: meta?.status,
          result: meta?.result,
        });
      }
      expect(views[0]).toEqual({
        types: ['task-failed'], exception: "NotRegistered('no.such.task')", status: 'FAILURE',
        fields: ['clock', 'exception', 'hostname', 'local_received', 'pid', 'timestamp', 'type', 'utcoffset', 'uuid'],
        result: { exc_type: 'NotRegistered', exc_message: ['no.such.task'], exc_module: 'celery.exceptions' },
      });
      expect(views[1]).toEqual(views[0]);
    } finally {
      await receiver.close();
    }
  }, 90_000);
}, ready);
