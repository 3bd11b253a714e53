import { describe, expect, it } from 'vitest';
import { resolveSettings } from './settings.js';
import { CLASSIC_TOPOLOGY, planTaskQueue, queueTopologyOf, taskQueuesProblem, usesQuorumQueues } from './queue-topology.js';

describe('queue topology (Celery 5.5+ queue types)', () => {
  it('classic by default, with no x-queue-type (what a Celery 5.2 fleet declares)', () => {
    expect(planTaskQueue(CLASSIC_TOPOLOGY, 'celery')).toEqual({ type: 'classic', exchangeType: 'direct', arguments: {}, deliveryLimit: null });
    expect(usesQuorumQueues(CLASSIC_TOPOLOGY)).toBe(false);
  });

  it('taskDefaultQueueType applies to the default queue, taskCreateMissingQueueType to the others, taskQueues over both', () => {
    const t = queueTopologyOf(
      resolveSettings(
        {
          taskDefaultQueue: 'main',
          taskDefaultQueueType: 'quorum',
          taskDefaultExchangeType: 'topic',
          taskQueues: { slow: { queueArguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 4 } }, legacy: { queueArguments: { 'x-queue-type': 'classic', 'x-max-length': 10 } } },
        },
        {},
      ),
    );
    expect(planTaskQueue(t, 'main')).toEqual({ type: 'quorum', exchangeType: 'topic', arguments: { 'x-queue-type': 'quorum' }, deliveryLimit: null });
    expect(planTaskQueue(t, 'other')).toMatchObject({ type: 'classic', exchangeType: 'direct', arguments: {} });
    expect(planTaskQueue(t, 'slow')).toMatchObject({ type: 'quorum', deliveryLimit: 4 });
    // Celery writes no x-queue-type for a classic queue.
    expect(planTaskQueue(t, 'legacy').arguments).toEqual({ 'x-max-length': 10 });
    expect(usesQuorumQueues(t)).toBe(true);
    expect(usesQuorumQueues({ ...CLASSIC_TOPOLOGY, queues: { q: { queueArguments: { 'x-queue-type': 'quorum' } } } })).toBe(true);
  });

  it('reads the settings from the environment as Celery names them', () => {
    const s = resolveSettings({}, { CELERY_TASK_DEFAULT_QUEUE_TYPE: 'quorum', CELERY_TASK_QUEUES: '{"q":{"queueArguments":{"x-delivery-limit":3}}}' });
    expect(s.taskDefaultQueueType).toBe('quorum');
    expect(planTaskQueue(queueTopologyOf(s), 'q').deliveryLimit).toBe(null);
  });

  it('refuses unknown types and malformed taskQueues with the place named', () => {
    expect(() => resolveSettings({ taskDefaultQueueType: 'stream' as never }, {})).toThrow(/taskDefaultQueueType.*'classic' or 'quorum'/);
    expect(() => resolveSettings({ taskDefaultExchangeType: 'headers' as never }, {})).toThrow(/taskDefaultExchangeType/);
    expect(taskQueuesProblem([])).toMatch(/object/);
    expect(taskQueuesProblem({ q: { queueArguments: { 'x-queue-type': 'stream' } } })).toMatch(/queue "q": x-queue-type/);
    expect(taskQueuesProblem({ q: { queueArguments: { 'x-delivery-limit': -1 } } })).toMatch(/x-delivery-limit/);
    expect(taskQueuesProblem({ q: { exchange: 'x' } })).toMatch(/unknown name exchange/);
    expect(taskQueuesProblem({ q: { exchangeType: 'headers' } })).toMatch(/exchangeType/);
    expect(taskQueuesProblem({ q: {} })).toBe(null);
  });
});
