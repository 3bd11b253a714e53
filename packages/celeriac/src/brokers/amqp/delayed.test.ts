import { describe, expect, it } from 'vitest';
import { CELERIAC_LADDER, KOMBU_LADDER, delayRoutingKey, deliverBinding } from './delayed.js';

describe('delay ladder keys', () => {
  it("refuses a delayed message's routing key past 255 bytes: the ladder's bits come before the queue's name", () => {
    expect(delayRoutingKey(CELERIAC_LADDER, 1000, 'q'.repeat(191))).toHaveLength(255);
    expect(() => delayRoutingKey(CELERIAC_LADDER, 1000, 'q'.repeat(192))).toThrow(/^routing key of a message delayed for queue "q{40}" \(64 bytes of delay and the queue's name\) ".*" is 256 bytes/);
    expect(delayRoutingKey(KOMBU_LADDER, 1000, 'q'.repeat(199))).toHaveLength(255);
    expect(() => delayRoutingKey(KOMBU_LADDER, 1000, 'q'.repeat(200))).toThrow(/\(56 bytes of delay/);
  });

  it("binds a queue with as many bytes as a delayed message's key has", () => {
    expect(deliverBinding(CELERIAC_LADDER, 'celery')).toHaveLength(delayRoutingKey(CELERIAC_LADDER, 5_000, 'celery').length);
    expect(deliverBinding(KOMBU_LADDER, 'celery')).toHaveLength(delayRoutingKey(KOMBU_LADDER, 5_000, 'celery').length);
  });
});
