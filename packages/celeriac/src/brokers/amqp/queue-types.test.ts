import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../errors.js';
import { existingTypeOf, taskQueueSpecOf, typeMismatchError } from './queue-types.js';

/** RabbitMQ 3.10's 406 texts, as captured (amqp-quorum.test.ts makes them for real). */
const err406 = (tail: string) => ({ code: 406, message: `Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'q' in vhost 'v': ${tail}"` });

describe('queue types', () => {
  it("reads the existing type from RabbitMQ's 406", () => {
    expect(existingTypeOf(err406("received the value 'quorum' of type 'longstr' but current is none"))).toBe('classic');
    expect(existingTypeOf(err406("received none but current is the value 'quorum' of type 'longstr'"))).toBe('quorum');
    expect(existingTypeOf(err406("received 'classic' but current is 'quorum'"))).toBe('quorum');
    expect(existingTypeOf(err406("received 'quorum' but current is 'stream'"))).toBe(null);
    expect(existingTypeOf({ code: 406, message: "inequivalent arg 'x-max-priority' ..." })).toBe(null);
    expect(existingTypeOf({ code: 404, message: 'NOT_FOUND' })).toBe(null);
    expect(existingTypeOf(null)).toBe(null);
  });

  it('gives x-max-priority to classic queues only (RabbitMQ 3.x refuses it on quorum queues)', () => {
    expect(taskQueueSpecOf({ type: 'classic', exchangeType: 'direct', arguments: {}, deliveryLimit: null }, 10).arguments).toEqual({ 'x-max-priority': 10 });
    expect(taskQueueSpecOf({ type: 'quorum', exchangeType: 'direct', arguments: { 'x-queue-type': 'quorum' }, deliveryLimit: null }, 10).arguments).toEqual({ 'x-queue-type': 'quorum' });
  });

  it('names the queue, both types and a way out', () => {
    const e = typeMismatchError('jobs', 'quorum', 'classic', new Error('406'));
    expect(e.code).toBe(ErrorCodes.CONFIG);
    expect(e.message).toMatch(/"jobs" exists as a classic queue but is configured quorum.*delete_queue jobs/);
    expect(typeMismatchError('jobs', 'classic', 'quorum', null).message).toMatch(/workerDetectQuorumQueues/);
  });
});
