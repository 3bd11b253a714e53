import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { MemoryBroker } from '../../brokers/memory/memory-broker.js';
import type { FanoutExchange } from '../../core/spi/broker.js';
import { decodeEventEnvelope, type EventDict } from '../../protocol/events.js';
import { LamportClock } from '../../protocol/lamport-clock.js';
import { FakeClock } from '../../testing/fake-clock.js';
import { waitFor } from '../../testing/wait-for.js';
import { EventDispatcher, QUIET_EVENTS_MS, TASK_BATCH_MAX, TASK_BATCH_MAX_CHARS, TASK_BATCH_WAIT_MS } from './event-dispatcher.js';
import { exceptionRepr, signum, taskEventFields } from './task-event-fields.js';
import { resultRepr } from './event-text.js';
import type { TaskMessage } from '../../protocol/types.js';
import type { TaskEvent } from '../task-events.js';

async function setup(taskEvents: boolean) {
  const broker = new MemoryBroker();
  const messages: { rk: string; events: EventDict[] }[] = [];
  await broker.subscribeFanout('celeryev', '#', (raw, rk) => messages.push({ rk, events: decodeEventEnvelope(raw) }));
  const clock = new FakeClock(1_795_269_934_000);
  const lamport = new LamportClock();
  const dispatcher = new EventDispatcher({ broker, hostname: 'w@h', clock, lamport, log: pino({ level: 'silent' }) }, { taskEvents });
  return { broker, messages, dispatcher, lamport };
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('EventDispatcher', () => {
  it('sends worker events one by one with the common fields', async () => {
    const { messages, dispatcher } = await setup(false);
    await dispatcher.send('worker-online', { freq: 2 });
    await flush();
    expect(messages).toEqual([{ rk: 'worker.online', events: [{ hostname: 'w@h', utcoffset: expect.any(Number), pid: process.pid, clock: 1, freq: 2, timestamp: 1_795_269_934, type: 'worker-online' }] }]);
  });

  it('batches task events as task.multi, sent TASK_BATCH_WAIT_MS after the first one or at once when full', async () => {
    const { messages, dispatcher } = await setup(true);
    // The batch's timer on a fake clock: on real time a loaded host passed TASK_BATCH_WAIT_MS
    // between two turns and the batch went out before the check that it had not (CI, 2026-11-28).
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      dispatcher.sendTask('task-received', { uuid: 'a' });
      // Events of later turns join the batch: a worker at -c 1 sends one message for many tasks.
      await flush();
      dispatcher.sendTask('task-started', { uuid: 'a' });
      await flush();
      vi.advanceTimersByTime(TASK_BATCH_WAIT_MS - 1);
      await flush();
      expect(messages).toEqual([]);
      // Sent by its timer, TASK_BATCH_WAIT_MS after the first event.
      vi.advanceTimersByTime(1);
    } finally {
      vi.useRealTimers();
    }
    await waitFor(() => messages.length > 0, 'the batch to be sent by its timer', 1000);
    expect(messages.map((m) => [m.rk, m.events.map((e) => `${e.type}:${String(e['clock'])}`)])).toEqual([['task.multi', ['task-received:1', 'task-started:2']]]);
    for (let i = 0; i < TASK_BATCH_MAX + 1; i++) dispatcher.sendTask('task-started', { uuid: String(i) });
    await dispatcher.close();
    await flush();
    expect(messages.slice(1).map((m) => m.events.length)).toEqual([TASK_BATCH_MAX, 1]);
  });

  it("hands the broker a task.multi batch as the envelope's UTF-8 bytes (a Redis PUBLISH then writes them as they are)", async () => {
    const { broker, dispatcher } = await setup(true);
    const published: (string | Buffer)[] = [];
    const publish = broker.publishFanout.bind(broker);
    broker.publishFanout = (exchange, routingKey, raw) => {
      published.push(raw);
      return publish(exchange, routingKey, raw);
    };
    dispatcher.sendTask('task-received', { uuid: 'a', name: 'tâche' });
    await dispatcher.close();
    expect(published).toHaveLength(1);
    const raw = published[0]!;
    expect(Buffer.isBuffer(raw)).toBe(true);
    expect(decodeEventEnvelope(raw.toString('utf8')).map((e) => [e.type, e['name']])).toEqual([['task-received', 'tâche']]);
  });

  it('writes a later batch in the bytes of one whose publish was answered, never in those of one that failed', async () => {
    const { broker, dispatcher } = await setup(true);
    const published: { raw: Buffer; text: string }[] = [];
    let refuse = true;
    broker.publishFanout = (_exchange, _routingKey, raw) => {
      published.push({ raw: raw as Buffer, text: raw.toString('latin1') });
      return refuse ? Promise.reject(new Error('broker down')) : Promise.resolve(1);
    };
    for (const uuid of ['a', 'b', 'c', 'd']) {
      dispatcher.sendTask('task-started', { uuid });
      dispatcher.flush();
      await flush();
      refuse = false;
    }
    await dispatcher.close();
    const [failed, ...sent] = published;
    // The refused batch's bytes are left alone (a broker may still hold them); answered ones are written again.
    expect(failed!.raw.toString('latin1')).toBe(failed!.text);
    expect(sent.map((p) => p.raw.buffer)).not.toContain(failed!.raw.buffer);
    // Each batch's buffer is taken when the one before is sent: the first answered one comes back for the third.
    expect(sent[2]!.raw.buffer).toBe(sent[0]!.raw.buffer);
    expect(decodeEventEnvelope(sent[2]!.raw.toString('latin1')).map((e) => e['uuid'])).toEqual(['d']);
  });

  it('also ends a batch once its JSON reaches TASK_BATCH_MAX_CHARS: huge tracebacks make many messages, not one of megabytes', async () => {
    const { messages, dispatcher } = await setup(true);
    const traceback = 'x'.repeat(100 * 1024);
    for (let i = 0; i < 7; i++) dispatcher.sendTask('task-failed', { uuid: String(i), exception: "ValueError('x')", traceback });
    await dispatcher.close();
    await flush();
    expect(messages.map((m) => m.events.length)).toEqual([3, 3, 1]);
    expect(messages.flatMap((m) => m.events.map((e) => e['uuid']))).toEqual(['0', '1', '2', '3', '4', '5', '6']);
    expect(3 * traceback.length).toBeGreaterThanOrEqual(TASK_BATCH_MAX_CHARS);
  });

  it('drops task events while disabled and says whether a switch changed anything', async () => {
    const { messages, dispatcher } = await setup(false);
    dispatcher.sendTask('task-started', { uuid: 'a' });
    expect(dispatcher.setTaskEvents(false)).toBe(false);
    expect(dispatcher.setTaskEvents(true)).toBe(true);
    dispatcher.sendTask('task-started', { uuid: 'b' });
    await dispatcher.close();
    await flush();
    expect(messages.flatMap((m) => m.events.map((e) => e['uuid']))).toEqual(['b']);
  });

  it('drops a task event it cannot encode, with a warning, and sends the rest of its batch', async () => {
    const { messages, dispatcher } = await setup(true);
    expect(() => dispatcher.sendTask('task-succeeded', { uuid: 'bad', runtime: Number.NaN })).not.toThrow();
    dispatcher.sendTask('task-succeeded', { uuid: 'ok', runtime: 0.5 });
    await dispatcher.close();
    await flush();
    expect(messages.flatMap((m) => m.events.map((e) => [e['uuid'], e['runtime']]))).toEqual([['ok', 0.5]]);
  });

  describe('while nobody listens', () => {
    /** A dispatcher on a memory broker with no subscriber; counts what reaches publishFanout, by routing key. */
    function unobserved(reached?: 'unknown') {
      const time = { ms: 0 };
      const broker = new MemoryBroker();
      const published: string[] = [];
      const publish = broker.publishFanout.bind(broker);
      // Through the SPI's type: a broker that cannot tell resolves with nothing.
      (broker as FanoutExchange).publishFanout = async (exchange, routingKey, raw) => {
        published.push(routingKey);
        const n = await publish(exchange, routingKey, raw);
        return reached === 'unknown' ? undefined : n;
      };
      const dispatcher = new EventDispatcher({ broker, hostname: 'w@h', clock: new FakeClock(1_795_269_934_000), lamport: new LamportClock(), log: pino({ level: 'silent' }) }, { taskEvents: true, monotonicNow: () => time.ms });
      return { broker, published, dispatcher, time };
    }
    const batchOf = (dispatcher: EventDispatcher, from: number) => {
      for (let i = from; i < from + 3; i++) dispatcher.sendTask('task-started', { uuid: String(i) });
    };

    it('builds no task events for QUIET_EVENTS_MS after a batch reached no subscriber, then asks again', async () => {
      const { published, dispatcher, time } = unobserved();
      batchOf(dispatcher, 0);
      await dispatcher.close(); // sends the batch and waits for its reply (reached nobody)
      expect(published).toEqual(['task.multi']);
      // Quiet: nothing written, nothing published; worker events still go out.
      for (let round = 0; round < 5; round++) {
        batchOf(dispatcher, 10 * round);
        await flush();
      }
      await dispatcher.send('worker-heartbeat', {});
      expect(published).toEqual(['task.multi', 'worker.heartbeat']);
      time.ms += QUIET_EVENTS_MS - 1;
      batchOf(dispatcher, 50);
      await flush();
      expect(published).toEqual(['task.multi', 'worker.heartbeat']);
      time.ms += 1;
      batchOf(dispatcher, 100);
      await dispatcher.close();
      expect(published).toEqual(['task.multi', 'worker.heartbeat', 'task.multi']);
    });

    it('a monitor that subscribes meanwhile gets the task events from the end of the quiet time on', async () => {
      const { broker, dispatcher, time } = unobserved();
      batchOf(dispatcher, 0);
      await dispatcher.close(); // sends the batch and waits for its reply (reached nobody)
      const seen: unknown[] = [];
      await broker.subscribeFanout('celeryev', '#', (raw) => seen.push(...decodeEventEnvelope(raw).map((e) => e['uuid'])));
      batchOf(dispatcher, 50);
      time.ms += QUIET_EVENTS_MS;
      batchOf(dispatcher, 100);
      await dispatcher.close();
      await flush();
      expect(seen).toEqual(['100', '101', '102']);
      batchOf(dispatcher, 200);
      await dispatcher.close();
      await flush();
      expect(seen).toEqual(['100', '101', '102', '200', '201', '202']);
    });

    it('sends every batch through a broker that cannot tell who listens (AMQP)', async () => {
      const { published, dispatcher } = unobserved('unknown');
      for (let round = 0; round < 3; round++) {
        batchOf(dispatcher, 10 * round);
        await dispatcher.close();
      }
      expect(published).toEqual(['task.multi', 'task.multi', 'task.multi']);
    });
  });

  it('never throws when the broker refuses', async () => {
    const { broker, dispatcher } = await setup(true);
    await broker.close();
    await expect(dispatcher.send('worker-heartbeat', {})).resolves.toBeUndefined();
  });
});

/** A worker task event of each type, on a message with a trace and a group. */
function everyTaskEvent(): TaskEvent[] {
  const message = {
    protocol: 2,
    headers: { lang: 'py', task: 'tasks.é', id: 'id-1', shadow: null, eta: '2026-11-25T04:00:00.250000+00:00', expires: null, group: 'g-1', group_index: 0, retries: 2, timelimit: [null, null], root_id: 'root', parent_id: 'parent', argsrepr: "(1, 'x\"y')", kwargsrepr: '{}', origin: 'gen1@h', ignore_result: false },
    extraHeaders: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
    properties: { correlation_id: 'id-1', reply_to: '', delivery_mode: 2, priority: 0 },
    args: [],
    kwargs: {},
    embed: { callbacks: null, errbacks: null, chain: null, chord: null },
  } as unknown as TaskMessage;
  return [
    { type: 'task-received', message },
    { type: 'task-started', message },
    { type: 'task-succeeded', message, result: { n: [1, 2.5] }, runtime: 0.000_012_3 },
    { type: 'task-succeeded', message, result: "it's", runtime: 1.5 },
    { type: 'task-failed', message, error: new TypeError('boom'), traceback: 'Traceback ...' },
    { type: 'task-failed', message, error: new Error('unknown'), traceback: null },
    { type: 'task-retried', message, error: new Error('again'), traceback: 'tb' },
    { type: 'task-revoked', message, expired: false, terminated: true, signum: 'SIGKILL' },
    { type: 'task-rejected', message, requeue: true },
  ];
}

describe('task events written from the worker event', () => {
  it('are byte for byte the events of their fields, for every type', async () => {
    const bodies: string[][] = [];
    for (const direct of [true, false]) {
      const { broker, dispatcher } = await setup(true);
      const published: string[] = [];
      broker.publishFanout = (_exchange, _routingKey, raw) => {
        const envelope = JSON.parse(raw.toString()) as { body: string; properties: { body_encoding?: unknown } };
        // The body verbatim, as kombu's body_encoding=None writes it: no base64.
        expect(envelope.properties.body_encoding).toBeNull();
        published.push(envelope.body);
        return Promise.resolve(1);
      };
      for (const event of everyTaskEvent()) {
        if (direct) dispatcher.sendTaskEvent(event);
        else dispatcher.sendTask(event.type, taskEventFields(event));
      }
      await dispatcher.close();
      bodies.push(published);
    }
    expect(bodies[0]).toEqual(bodies[1]);
    const events = JSON.parse(bodies[0]!.join('')) as EventDict[];
    expect(events.map((e) => e.type)).toEqual(everyTaskEvent().map((e) => e.type));
    expect(events[0]).toMatchObject({ uuid: 'id-1', name: 'tasks.é', args: "(1, 'x\"y')", retries: 2, trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', group: 'g-1' });
    expect(events[5]).not.toHaveProperty('traceback');
    // Celery's members in Celery's order (ours, trace_id and group, before timestamp and type).
    const common = ['hostname', 'utcoffset', 'pid', 'clock', 'uuid'];
    const own: string[][] = [
      ['name', 'args', 'kwargs', 'root_id', 'parent_id', 'retries', 'eta', 'expires', 'trace_id', 'group'],
      [],
      ['result', 'runtime'],
      ['result', 'runtime'],
      ['exception', 'traceback'],
      ['exception'],
      ['exception', 'traceback'],
      ['terminated', 'signum', 'expired'],
      ['requeue'],
    ];
    expect(events.map((e) => Object.keys(e))).toEqual(own.map((keys) => [...common, ...keys, 'timestamp', 'type']));
    expect(events.slice(2).map((e) => [e['result'] ?? e['exception'] ?? e['terminated'] ?? e['requeue'], e['runtime'] ?? e['signum'] ?? null])).toEqual([
      ["{'n': [1, 2.5]}", 0.000_012_3],
      [resultRepr("it's"), 1.5],
      ["TypeError('boom')", null],
      ["Exception('unknown')", null],
      ["Exception('again')", null],
      [true, 9],
      [true, null],
    ]);
  });
});

describe('task event fields', () => {
  it('writes exceptions as Python reprs and signal names as numbers', () => {
    expect(exceptionRepr(new TypeError("it's"))).toBe(`TypeError("it's")`);
    expect(exceptionRepr('plain')).toBe("Exception('plain')");
    expect(signum('SIGKILL')).toBe(9);
    expect(signum('term')).toBe(15);
    expect(signum('9')).toBe(9);
    expect(signum('SIGNOPE')).toBeNull();
    expect(signum(null)).toBeNull();
  });
});
