import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBroker } from '../brokers/memory/memory-broker.js';
import { encodeEventEnvelope, type EventDict } from '../protocol/events.js';
import { LamportClock } from '../protocol/lamport-clock.js';
import { CONTROL_EXCHANGE, decodeControlRequest } from '../protocol/pidbox.js';
import { FakeClock } from '../testing/fake-clock.js';
import { flush, waitFor } from '../testing/wait-for.js';
import { EventReceiver, prepareEvent } from './event-receiver.js';

const brokers: MemoryBroker[] = [];
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});

const base = (type: string, extra: Record<string, unknown> = {}): EventDict =>
  ({ hostname: 'w1@h', utcoffset: 0, pid: 1, clock: 10, timestamp: 1000, type, ...extra }) as EventDict;

describe('prepareEvent', () => {
  it('adjusts the timestamp by the difference of utcoffsets and stamps local_received', () => {
    // Sender one hour west of us (utcoffset 1 vs our 0): its timestamps are already UTC
    // epoch seconds, Celery still shifts by the offset difference, so we do too.
    const e = prepareEvent(base('worker-heartbeat', { utcoffset: 1 }), new LamportClock(), 0, 5_000);
    expect(e['timestamp']).toBe(1000 - 3600);
    expect(e['local_received']).toBe(5);
  });

  it('merges the sender clock, gives task-sent a clock of ours, and numbers clockless events', () => {
    const lamport = new LamportClock();
    prepareEvent(base('task-started', { clock: 41 }), lamport, 0, 0);
    expect(lamport.value).toBe(42);
    const sent = prepareEvent(base('task-sent', { clock: 3 }), lamport, 0, 0);
    expect(sent['clock']).toBe(41);
    const bare = base('custom-event');
    delete bare['clock'];
    expect(prepareEvent(bare, lamport, 0, 0)['clock']).toBe(lamport.value);
  });
});

describe('EventReceiver', () => {
  it('hands on single events and task.multi batches, wakes workers, and stops on close', async () => {
    const broker = new MemoryBroker();
    brokers.push(broker);
    const clock = new FakeClock(1_000_000);
    const woken: string[] = [];
    await broker.subscribeFanout(CONTROL_EXCHANGE, '#', (raw) => woken.push(decodeControlRequest(raw).request.method));
    const got: [string, number][] = [];
    const errors: Error[] = [];
    const receiver = new EventReceiver(broker, (e, at) => got.push([e.type, at]), { clock, utcoffset: 0, onError: (e) => errors.push(e) });
    await receiver.start();
    await broker.publishFanout('celeryev', 'worker.online', encodeEventEnvelope(base('worker-online'), { hostname: 'w1@h', routingKey: 'worker.online', deliveryTag: 'tag-1' }));
    const batch = [base('task-received', { uuid: 'u' }), base('task-started', { uuid: 'u' })];
    await broker.publishFanout('celeryev', 'task.multi', encodeEventEnvelope(batch, { hostname: 'w1@h', routingKey: 'task.multi', deliveryTag: 'tag-2' }));
    await broker.publishFanout('celeryev', 'task.bad', 'not an envelope');
    await flush(); // fanout delivery is asynchronous
    expect(got).toEqual([['worker-online', 1_000_000], ['task-received', 1_000_000], ['task-started', 1_000_000]]);
    expect(errors).toHaveLength(1);
    expect(woken).toEqual(['heartbeat']);
    await receiver.close();
    await broker.publishFanout('celeryev', 'worker.online', encodeEventEnvelope(base('worker-online'), { hostname: 'w1@h', routingKey: 'worker.online', deliveryTag: 'tag-1' }));
    await flush(); // fanout delivery is asynchronous
    expect(got).toHaveLength(3);
  });
});

describe('EventReceiver with maxPendingBytes (a bounded queue)', () => {
  /** A broker, numbered task-received envelopes of one size, and the held drains and handed-on uuids. */
  const boundedQueueSetup = () => {
    const broker = new MemoryBroker();
    brokers.push(broker);
    const envelope = (i: number) => encodeEventEnvelope(base('task-received', { uuid: `u${String(i).padStart(4, '0')}` }), { hostname: 'w1@h', routingKey: 'task.received', deliveryTag: `tag-${String(i).padStart(4, '0')}` });
    return { broker, envelope, size: envelope(0).length, drains: [] as (() => void)[], got: [] as string[] };
  };

  it('sheds and counts what arrives while the listener is held up, never holding more than the bound', async () => {
    const { broker, envelope, size, drains, got } = boundedQueueSetup();
    // The listener's turns are held: nothing is handed on until the test runs a scheduled drain.
    const receiver = new EventReceiver(broker, (e) => got.push(e['uuid'] as string), { wakeup: false, utcoffset: 0, maxPendingBytes: 5 * size, drainBatch: 2, schedule: (drain) => drains.push(drain) });
    await receiver.start();
    for (let i = 0; i < 1000; i++) await broker.publishFanout('celeryev', 'task.received', envelope(i));
    await flush(); // fanout delivery is asynchronous
    expect(got).toEqual([]);
    expect(receiver.pending).toBe(5);
    expect(receiver.pendingBytes).toBe(5 * size);
    expect(receiver.shedMessages).toBe(995);
    expect(receiver.shedBytes).toBe(995 * size);
    expect(drains).toHaveLength(1); // one drain scheduled, however many arrived

    // Released, it hands on drainBatch per turn, oldest first, and then takes new messages again.
    drains.shift()?.();
    expect(got).toEqual(['u0000', 'u0001']);
    while (drains.length > 0) drains.shift()?.();
    expect(got).toEqual(['u0000', 'u0001', 'u0002', 'u0003', 'u0004']);
    expect(receiver.pending).toBe(0);
    expect(receiver.pendingBytes).toBe(0);
    await broker.publishFanout('celeryev', 'task.received', envelope(1000));
    await flush();
    while (drains.length > 0) drains.shift()?.();
    expect(got.at(-1)).toBe('u1000');
    expect(receiver.shedMessages).toBe(995);
    await receiver.close();
  });

  it('paused, holds messages undecoded until resumed; paused and full, hands the oldest on instead of shedding', async () => {
    const { broker, envelope, size, drains, got } = boundedQueueSetup();
    // The listener pauses the receiver at the third event (as the dashboard does when its write buffer fills).
    const receiver: EventReceiver = new EventReceiver(broker, (e) => {
      got.push(e['uuid'] as string);
      if (got.length === 3) receiver.pause();
    }, { wakeup: false, utcoffset: 0, maxPendingBytes: 5 * size, drainBatch: 100, schedule: (drain) => drains.push(drain) });
    await receiver.start();
    for (let i = 0; i < 5; i++) await broker.publishFanout('celeryev', 'task.received', envelope(i));
    await flush();
    drains.shift()?.();
    // Paused by the listener: the rest of the turn's messages wait, and no drain is scheduled.
    expect(got).toEqual(['u0000', 'u0001', 'u0002']);
    expect(receiver.paused).toBe(true);
    expect(receiver.pending).toBe(2);
    expect(drains).toHaveLength(0);
    for (let i = 5; i < 8; i++) await broker.publishFanout('celeryev', 'task.received', envelope(i));
    await flush();
    expect(got).toHaveLength(3);
    expect(receiver.pending).toBe(5);
    // Full while paused: each new message hands the oldest on, nothing is shed.
    for (let i = 8; i < 10; i++) await broker.publishFanout('celeryev', 'task.received', envelope(i));
    await flush();
    expect(got).toEqual(['u0000', 'u0001', 'u0002', 'u0003', 'u0004']);
    expect(receiver.overflowMessages).toBe(2);
    expect(receiver.shedMessages).toBe(0);
    expect(receiver.pendingBytes).toBe(5 * size);
    receiver.resume();
    expect(drains).toHaveLength(1);
    drains.shift()?.();
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => `u000${i}`));
    expect(receiver.pending).toBe(0);
    expect(receiver.shedMessages).toBe(0);
    await receiver.close();
  });

  // A dashboard whose database was full held every event while paused, heartbeats too: each
  // live worker went offline on its page until the database took writes again.
  it('paused, still hands heartbeats on at once; task and worker-offline events wait in order', async () => {
    const { broker, envelope, size, drains, got } = boundedQueueSetup();
    const receiver = new EventReceiver(broker, (e) => void got.push(String(e['uuid'] ?? e.type)), { wakeup: false, utcoffset: 0, maxPendingBytes: 5 * size, drainBatch: 100, schedule: (drain) => drains.push(drain) });
    await receiver.start();
    receiver.pause();
    const worker = (type: string, routingKey: string) => encodeEventEnvelope(base(type), { hostname: 'w1@h', routingKey, deliveryTag: `t-${type}` });
    await broker.publishFanout('celeryev', 'task.received', envelope(1));
    await broker.publishFanout('celeryev', 'worker.heartbeat', worker('worker-heartbeat', 'worker.heartbeat'));
    await broker.publishFanout('celeryev', 'worker.offline', worker('worker-offline', 'worker.offline'));
    await flush();
    expect(got).toEqual(['worker-heartbeat']);
    expect(receiver.pending).toBe(2);
    receiver.resume();
    drains.shift()?.();
    expect(got).toEqual(['worker-heartbeat', 'u0001', 'worker-offline']);
    await receiver.close();
  });

  it('drains on its own (setImmediate by default) and drops what waits when closed', async () => {
    const broker = new MemoryBroker();
    brokers.push(broker);
    const got: string[] = [];
    const receiver = new EventReceiver(broker, (e) => got.push(e.type), { wakeup: false, utcoffset: 0, maxPendingBytes: 1 << 20 });
    await receiver.start();
    await broker.publishFanout('celeryev', 'worker.online', encodeEventEnvelope(base('worker-online'), { hostname: 'w1@h', routingKey: 'worker.online', deliveryTag: 'tag-1' }));
    await waitFor(() => got.length === 1, 'the event handed on');
    expect(got).toEqual(['worker-online']);
    await receiver.close();
    expect(receiver.pending).toBe(0);
  });

  /** A memory broker whose fanout subscriptions wait for `release()`. */
  function slowSubscriptions() {
    const broker = new MemoryBroker();
    brokers.push(broker);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let asked = 0;
    const subscribe = broker.subscribeFanout.bind(broker);
    broker.subscribeFanout = async (exchange, bindingKey, listener) => {
      asked++;
      await held;
      return subscribe(exchange, bindingKey, listener);
    };
    const online = () => broker.publishFanout('celeryev', 'worker.online', encodeEventEnvelope(base('worker-online'), { hostname: 'w1@h', routingKey: 'worker.online', deliveryTag: 'tag-1' }));
    return { broker, release, asked: () => asked, online };
  }

  it('two starts at once make one subscription: each event is handed on once', async () => {
    const s = slowSubscriptions();
    const got: string[] = [];
    const receiver = new EventReceiver(s.broker, (e) => got.push(e.type), { wakeup: false, utcoffset: 0 });
    const first = receiver.start();
    const second = receiver.start();
    s.release();
    await Promise.all([first, second]);
    expect(s.asked()).toBe(1);
    expect(await s.online()).toBe(1);
    await flush();
    expect(got).toEqual(['worker-online']);
    await receiver.close();
  });

  it('a close() while the subscription is being made undoes it once made: nothing is handed on after the close', async () => {
    const s = slowSubscriptions();
    const got: string[] = [];
    const receiver = new EventReceiver(s.broker, (e) => got.push(e.type), { wakeup: false, utcoffset: 0 });
    const starting = receiver.start();
    await waitFor(() => s.asked() === 1, 'the subscription asked for');
    await receiver.close();
    s.release();
    await starting;
    expect(await s.online()).toBe(0);
    await flush();
    expect(got).toEqual([]);
  });
});
