import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createApp } from '../create-app.js';
import { encodeEnvelope } from '../protocol/envelope.js';
import { makeMessage } from '../testing/broker-harness.js';
import { LostTaskReporter } from './lost-tasks.js';
import type { TaskEvent } from './task-events.js';

describe('LostTaskReporter', () => {
  const lost = (id: string) => ({ tag: `tag-${id}`, holder: 'dead-broker', queue: 'celery', raw: encodeEnvelope(makeMessage(id), { deliveryTag: `tag-${id}`, exchange: '', routingKey: 'celery' }) });

  it('stores FAILURE WorkerLostError for a task with no end stored, and leaves one whose end is stored', async () => {
    const app = createApp();
    const events: TaskEvent[] = [];
    const reporter = new LostTaskReporter({ app, hostname: 'w@h', log: pino({ level: 'silent' }), emit: (e) => events.push(e) });
    // Ended just before its worker died, its record's removal not sent yet.
    await app.backend.store({ status: 'SUCCESS', result: 7, traceback: null, children: [], date_done: '2026-11-25T00:00:00', task_id: 'ended' }, { expiresSec: null });
    await reporter.report([lost('ended'), lost('running')]);
    expect((await app.backend.get('ended'))?.status).toBe('SUCCESS');
    expect(await app.backend.get('running')).toMatchObject({ status: 'FAILURE', result: { exc_type: 'WorkerLostError' } });
    expect(events.map((e) => [e.type, e.message.headers.id])).toEqual([['task-failed', 'running']]);
    await app.close();
  });
});
