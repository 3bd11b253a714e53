/**
 * `celeriac events` in-process on the memory broker: --dump lines and the live view, fed by
 * events published the way workers publish them (single events and task.multi batches).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runEvents, type EventsRunOptions } from '../../src/cli/events-watch.js';
import { MemoryBroker } from '../../src/exports/memory.js';
import { encodeEventEnvelope, type EventDict } from '../../src/protocol/events.js';
import { CONTROL_EXCHANGE, decodeControlRequest } from '../../src/protocol/pidbox.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { RedisBroker } from '../../src/brokers/redis/redis-broker.js';
import { systemClock } from '../../src/core/clock.js';
import { freePort } from '../support/redis.js';

const brokers: MemoryBroker[] = [];
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});

const T0 = Date.UTC(2026, 10, 21, 14, 0, 0);
const ev = (type: string, fields: Record<string, unknown> = {}) => ({ hostname: 'w1@h', utcoffset: 0, pid: 9, clock: 3, timestamp: T0 / 1000, type, ...fields }) as EventDict;
const tick = () => new Promise((r) => setTimeout(r, 20));

function setup(dump: boolean) {
  const broker = new MemoryBroker();
  brokers.push(broker);
  const clock = new FakeClock(T0);
  const out: string[] = [];
  let stop!: () => void;
  const options: EventsRunOptions = {
    broker, clock, dump, refreshMs: 1000, maxTasks: 100, title: 'celeriac events: memory://',
    out: (s) => void out.push(s),
    screen: () => ({ width: 160, height: 30, color: false }),
    stop: new Promise<void>((resolve) => (stop = resolve)),
  };
  const publish = (body: EventDict | EventDict[], routingKey: string) =>
    broker.publishFanout('celeryev', routingKey, encodeEventEnvelope(body, { hostname: 'w1@h', routingKey, deliveryTag: `t-${routingKey}` }));
  return { broker, clock, out, options, stop: () => stop(), publish };
}

describe('celeriac events --dump', () => {
  it('prints the start line, then one line per event, batches included; wakes workers first', async () => {
    const { broker, out, options, stop, publish } = setup(true);
    const woken: string[] = [];
    await broker.subscribeFanout(CONTROL_EXCHANGE, '#', (raw) => woken.push(decodeControlRequest(raw).request.method));
    const running = runEvents(options);
    await tick();
    await publish(ev('worker-online', { freq: 2 }), 'worker.online');
    await publish([ev('task-received', { uuid: 'u1', name: 't.add', args: '(2, 3)', kwargs: '{}' }), ev('task-succeeded', { uuid: 'u1', result: '5' })], 'task.multi');
    await tick();
    stop();
    await running;
    expect(woken).toEqual(['heartbeat']);
    const lines = out.join('').split('\n');
    expect(lines[0]).toBe('-> evdump: starting capture...');
    expect(lines[1]).toMatch(/^w1@h \[2026-11-21 14:00:00\] started: clock=3, freq=2, local_received=\d+(\.\d+)?, pid=9, utcoffset=0$/);
    expect(lines[2]).toMatch(/^w1@h \[2026-11-21 14:00:00\] task received: t\.add\(u1\) args=\(2, 3\) kwargs=\{\} clock=3, /);
    expect(lines[3]).toMatch(/^w1@h \[2026-11-21 14:00:00\] task succeeded: t\.add\(u1\) args=\(2, 3\) kwargs=\{\} clock=3, .*result=5/);
  });
});

describe('celeriac events (live view)', () => {
  it('redraws every refresh period from the cluster state, and once more on stop', async () => {
    const { clock, out, options, stop, publish } = setup(false);
    const running = runEvents(options);
    await tick();
    expect(out.join('')).toContain('Workers: 0 online, 0 known');
    await publish(ev('worker-heartbeat', { freq: 2, active: 1, processed: 4 }), 'worker.heartbeat');
    await publish(ev('task-received', { uuid: 'u1', name: 't.add', args: '(2, 3)', kwargs: '{}' }), 'task.received');
    await tick();
    out.length = 0;
    clock.advance(1000);
    const frame = out.join('');
    expect(frame.startsWith('\x1b[H\x1b[2J')).toBe(true);
    expect(frame).toContain('Workers: 1 online, 1 known');
    expect(frame).toMatch(/u1\s+t\.add\s+RECEIVED\s+w1@h/);
    out.length = 0;
    clock.advance(5000); // no heartbeat for 5 s with freq 2: offline
    expect(out.join('')).toContain('Workers: 0 online, 1 known');
    out.length = 0;
    stop();
    await running;
    expect(out.join('')).toContain('events: 2');
  });
});

describe('celeriac events stopped while it subscribes', () => {
  // A signal while the broker is down used to wait out the connection's 10 s, then exit 1.
  it.each([true, false])('ends quietly on stop, the broker unreachable (dump %s)', async (dump) => {
    const { options } = setup(dump);
    const broker = new RedisBroker(`redis://127.0.0.1:${await freePort()}/0`, { connectTimeoutMs: 30_000 });
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    try {
      const running = runEvents({ ...options, broker, clock: systemClock, stop: stopped });
      stop();
      await expect(running).resolves.toBeUndefined();
    } finally {
      await broker.close();
    }
  });
});
