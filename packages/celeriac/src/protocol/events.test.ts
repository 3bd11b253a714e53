import { describe, expect, it } from 'vitest';
import { encodeEnvelope } from './envelope.js';
import { buildEvent, decodeEventEnvelope, encodeEventEnvelope, eventGroup, eventRoutingKey, utcOffsetHours } from './events.js';
import { LamportClock } from './lamport-clock.js';
import { pyJsonStringify } from './py-json.js';

describe('events', () => {
  it('builds the dict in Python key order (captured worker-online, docs/protocol.md §4.3)', () => {
    const event = buildEvent(
      'worker-online',
      { hostname: 'w1@testhost', utcoffset: 0, pid: 5255, clock: 1, timestamp: 1795269934.1335905 },
      { freq: 2, active: 0, processed: 0, loadavg: [0.66, 0.24, 0.09], sw_ident: 'py-celery', sw_ver: '5.2.6', sw_sys: 'Linux' },
    );
    expect(pyJsonStringify(event)).toBe(
      '{"hostname": "w1@testhost", "utcoffset": 0, "pid": 5255, "clock": 1, "freq": 2, "active": 0, "processed": 0, "loadavg": [0.66, 0.24, 0.09], "sw_ident": "py-celery", "sw_ver": "5.2.6", "sw_sys": "Linux", "timestamp": 1795269934.1335905, "type": "worker-online"}',
    );
  });

  it('names routing keys and groups', () => {
    expect(eventRoutingKey('task-sent')).toBe('task.sent');
    expect(eventRoutingKey('worker-heartbeat')).toBe('worker.heartbeat');
    expect(eventGroup('task-succeeded')).toBe('task');
    expect(eventGroup('worker-offline')).toBe('worker');
  });

  it('utcoffset is hours west of UTC, floor-divided (same sign as getTimezoneOffset)', () => {
    expect(utcOffsetHours(0)).toBe(0);
    expect(utcOffsetHours(-60)).toBe(-1); // UTC+1 (Paris winter)
    expect(utcOffsetHours(300)).toBe(5); // UTC-5 (New York winter)
    expect(utcOffsetHours(-330)).toBe(-6); // UTC+5:30, floor as Python's //
  });

  it('round-trips a single event and a task.multi batch through the envelope', () => {
    const common = { hostname: 'w@h', utcoffset: 0, pid: 1, clock: 3, timestamp: 1.5 };
    const one = buildEvent('task-started', common, { uuid: 'u1' });
    const two = buildEvent('task-succeeded', { ...common, clock: 4 }, { uuid: 'u1', result: '5', runtime: 0.25 });
    const single = encodeEventEnvelope(one, { hostname: 'w@h', routingKey: 'task.started', deliveryTag: 't1' });
    const parsed = JSON.parse(single);
    expect(parsed.headers).toEqual({ hostname: 'w@h' });
    expect(parsed.properties).toMatchObject({ delivery_mode: 1, delivery_info: { exchange: 'celeryev', routing_key: 'task.started' }, delivery_tag: 't1' });
    expect(decodeEventEnvelope(single)).toEqual([one]);
    const multi = encodeEventEnvelope([one, two], { hostname: 'w@h', routingKey: 'task.multi', deliveryTag: 't2' });
    expect(decodeEventEnvelope(multi)).toEqual([one, two]);
  });

  it('skips batch elements that are not events', () => {
    const raw = encodeEnvelope(
      { headers: {}, properties: { correlation_id: '', reply_to: '', delivery_mode: 1, priority: 0 }, contentType: 'application/json', contentEncoding: 'utf-8', body: '[{"type": "task-started"}, 3, {"no": "type"}]' },
      { deliveryTag: 't', exchange: 'celeryev', routingKey: 'task.multi' },
    );
    expect(decodeEventEnvelope(raw)).toEqual([{ type: 'task-started' }]);
  });
});

describe('LamportClock', () => {
  it('forwards and adjusts as Celery does', () => {
    const c = new LamportClock();
    expect(c.forward()).toBe(1);
    expect(c.adjust(10)).toBe(11);
    expect(c.adjust(3)).toBe(12);
    expect(c.adjust(undefined)).toBe(13);
    expect(c.value).toBe(13);
  });
});
