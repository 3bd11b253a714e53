import { describe, expect, it } from 'vitest';
import { decodeEnvelope } from '../protocol/envelope.js';
import { decodeTaskMessage } from '../protocol/task-message.js';
import type { TaskMessage } from '../protocol/types.js';
import type { Delivery } from './spi/broker.js';
import { createTestApp } from '../testing/test-app.js';
import { CeleriacError } from '../errors.js';
import { buildTaskMessage } from './producer.js';
import { runAsCurrentTask } from './current-task.js';
import { buildRequest } from './trace.js';

const NOW = Date.UTC(2026, 10, 21, 14, 0, 0);

function setup(settings = {}) {
  const t = createTestApp(settings, { startMs: NOW });
  return t;
}

/** Takes the next message from a queue and decodes it. */
async function take(t: ReturnType<typeof setup>, queue: string): Promise<{ message: TaskMessage; delivery: Delivery }> {
  return new Promise((resolve) => {
    const consumer = t.broker.consume({
      queues: [queue],
      prefetch: 1,
      onDelivery: (delivery) => {
        void consumer.close();
        resolve({ message: decodeTaskMessage(decodeEnvelope(delivery.raw).message), delivery });
      },
    });
  });
}

describe('buildTaskMessage', () => {
  it('fills v2 headers like Celery', () => {
    const { app } = setup();
    const { message, route, priority } = buildTaskMessage(app, 'proj.add', [2, 3], {}, {});
    const h = message.headers;
    expect(h.task).toBe('proj.add');
    expect(h.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(h.root_id).toBe(h.id);
    expect(h.parent_id).toBeNull();
    expect(h.retries).toBe(0);
    expect(h.timelimit).toEqual([null, null]);
    expect(h.argsrepr).toBe('(2, 3)');
    expect(h.kwargsrepr).toBe('{}');
    expect(h.origin).toMatch(/^gen\d+@/);
    expect(message.properties.correlation_id).toBe(h.id);
    expect(message.properties.reply_to).toBe(app.replyTo);
    expect(message.embed).toEqual({ callbacks: null, errbacks: null, chain: null, chord: null });
    expect(route).toEqual({ queue: 'celery', exchange: '', routingKey: 'celery' });
    expect(priority).toBe(0);
  });

  it('turns countdown into an ETA and expires into an ISO time plus an expiration property', () => {
    const { app } = setup();
    const out = buildTaskMessage(app, 't', [], {}, { countdown: 3, expires: 60 });
    expect(out.message.headers.eta).toBe('2026-11-21T14:00:03+00:00');
    expect(out.message.headers.expires).toBe('2026-11-21T14:01:00+00:00');
    expect(out.message.properties.expiration).toBe('60000');
    expect(out.deliverAt).toBe(NOW + 3000);
  });

  it('writes the properties in Celery order, optional ones in their place', () => {
    const { app } = setup();
    const plain = buildTaskMessage(app, 't', [], {}, {}).message.properties;
    expect(Object.keys(plain)).toEqual(['correlation_id', 'reply_to', 'delivery_mode', 'priority']);
    const full = buildTaskMessage(app, 't', [], {}, { expires: 60, replacedTaskNesting: 2, priority: 3 }).message.properties;
    expect(Object.keys(full)).toEqual(['correlation_id', 'reply_to', 'replaced_task_nesting', 'delivery_mode', 'expiration', 'priority']);
    expect(full).toMatchObject({ replaced_task_nesting: 2, delivery_mode: 2, expiration: '60000', priority: 3 });
  });

  it('accepts eta and expires as Date, epoch ms or ISO text', () => {
    const { app } = setup();
    const a = buildTaskMessage(app, 't', [], {}, { eta: new Date(NOW + 1000), expires: new Date(NOW + 5000) });
    const b = buildTaskMessage(app, 't', [], {}, { eta: NOW + 1000, expires: '2026-11-21T14:00:05Z' });
    expect(a.message.headers.eta).toBe(b.message.headers.eta);
    expect(a.message.headers.expires).toBe(b.message.headers.expires);
    const past = buildTaskMessage(app, 't', [], {}, { eta: NOW - 1000 });
    expect(past.deliverAt).toBeUndefined();
  });

  it('rejects bad options with clear errors', () => {
    const { app } = setup();
    expect(() => buildTaskMessage(app, 't', [], {}, { countdown: -1 })).toThrow(/countdown must be a finite number of seconds >= 0/);
    expect(() => buildTaskMessage(app, 't', [], {}, { countdown: 1, eta: NOW })).toThrow(/either countdown or eta/);
    expect(() => buildTaskMessage(app, 't', [], {}, { eta: 'not a time' })).toThrow(CeleriacError);
    expect(() => buildTaskMessage(app, 't', [], {}, { priority: 10 })).toThrow(/0 to 9/);
    expect(() => buildTaskMessage(app, 't', 'x' as never, {}, {})).toThrow(/args of t must be an array/);
    expect(() => buildTaskMessage(app, 't', [], [] as never, {})).toThrow(/kwargs of t must be an object/);
    expect(() => buildTaskMessage(app, 't', [], {}, { timeLimitSec: -2 })).toThrow(/timeLimitSec/);
  });

  it('refuses a time no Python datetime holds naming the option that gave it, not "Epoch time out of range: <number>"', () => {
    const { app } = setup();
    const beyond = 'gives a time outside the years 1 to 9999, all a Python datetime (so a Celery worker) can hold';
    expect(() => buildTaskMessage(app, 't', [], {}, { countdown: 1e12 })).toThrow(`countdown 1000000000000 ${beyond}`);
    expect(() => buildTaskMessage(app, 't', [], {}, { expires: 1e12 })).toThrow(`expires 1000000000000 ${beyond}`);
    expect(() => buildTaskMessage(app, 't', [], {}, { eta: new Date(Date.UTC(10000, 0, 1)) })).toThrow(`eta +010000-01-01T00:00:00.000Z ${beyond}`);
    expect(() => buildTaskMessage(app, 't', [], {}, { eta: -62_135_596_800_001 })).toThrow(`eta -62135596800001 ${beyond}`);
    // The last instant of 9999 and the first of year 1 are sent.
    expect(buildTaskMessage(app, 't', [], {}, { eta: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }).message.headers.eta).toBe('9999-12-31T23:59:59.999000+00:00');
    expect(buildTaskMessage(app, 't', [], {}, { expires: '0001-01-01T00:00:00Z' }).message.headers.expires).toBe('0001-01-01T00:00:00+00:00');
  });

  it('copies time limits from the call, else from the task', () => {
    const { app } = setup();
    app.task('limited', { timeLimitSec: 30, softTimeLimitSec: 20 }, () => null);
    expect(buildTaskMessage(app, 'limited', [], {}, {}).message.headers.timelimit).toEqual([30, 20]);
    expect(buildTaskMessage(app, 'limited', [], {}, { timeLimitSec: 5 }).message.headers.timelimit).toEqual([5, 20]);
  });

  it('routes: call option > task option > taskRoutes > default queue', () => {
    const { app } = setup({ taskRoutes: { 'r.*': { queue: 'routed', priority: 4 } }, taskDefaultQueue: 'dflt' });
    app.task('r.withqueue', { queue: 'taskq' }, () => null);
    expect(buildTaskMessage(app, 'r.plain', [], {}, { queue: 'callq' }).route.queue).toBe('callq');
    expect(buildTaskMessage(app, 'r.withqueue', [], {}, {}).route.queue).toBe('taskq');
    const routed = buildTaskMessage(app, 'r.plain', [], {}, {});
    expect(routed.route.queue).toBe('routed');
    expect(routed.priority).toBe(4);
    expect(buildTaskMessage(app, 'other', [], {}, {}).route.queue).toBe('dflt');
  });

  it('merges custom headers, keeps taskId, shadow, ignoreResult and link dicts', () => {
    const { app } = setup();
    const cb = app.task('cb', (x: number) => x);
    const out = buildTaskMessage(app, 't', [1], { k: 'v' }, {
      headers: { 'x-custom': 'hdr' },
      taskId: 'my-id',
      shadow: 'shown',
      ignoreResult: true,
      link: cb.s(),
      linkError: [cb.si(9)],
    });
    expect(out.message.extraHeaders).toEqual({ 'x-custom': 'hdr' });
    expect(out.message.headers.id).toBe('my-id');
    expect(out.message.headers.shadow).toBe('shown');
    expect(out.message.headers.ignore_result).toBe(true);
    expect(out.message.headers.kwargsrepr).toBe("{'k': 'v'}");
    expect(out.message.embed.callbacks).toEqual([{ task: 'cb', args: [], kwargs: {}, options: {}, subtask_type: null, immutable: false }]);
    expect(out.message.embed.errbacks).toEqual([{ task: 'cb', args: [9], kwargs: {}, options: {}, subtask_type: null, immutable: true }]);
  });

  it('fills parent_id and root_id when sent from inside a running task', () => {
    const { app } = setup();
    const parent = buildTaskMessage(app, 'p', [], {}, { rootId: 'root-1' }).message;
    const request = buildRequest(parent, { hostname: 'h', deliveryInfo: { exchange: '', routing_key: 'celery' }, isEager: false, timeLimit: [null, null] });
    const child = runAsCurrentTask(request, () => buildTaskMessage(app, 'c', [], {}, {}).message, []);
    expect(child.headers.parent_id).toBe(parent.headers.id);
    expect(child.headers.root_id).toBe('root-1');
  });
});

describe('publishing', () => {
  it('publishes a route with a custom routing key on the default exchange to its queue', async () => {
    const t = setup({ taskRoutes: { 'billing.*': { queue: 'billing', routingKey: 'billing.high' } } });
    await t.app.sendTask('billing.charge', [1]);
    expect(await t.broker.queueLength('billing')).toBe(1);
    expect(await t.broker.queueLength('billing.high')).toBe(0);
  });

  it('lets kwargs cover parameters that args leave out (typed)', async () => {
    const t = setup();
    const greet = t.app.task('greet', { params: ['name', 'greeting'] }, (name: string, greeting: string) => `${greeting} ${name}`);
    const r = await greet.applyAsync(['Ada'], { kwargs: { greeting: 'hi' }, queue: 'kw' });
    const { message } = await take(t, 'kw');
    expect(message.headers.id).toBe(r.id);
    expect(message.args).toEqual(['Ada']);
    expect(message.kwargs).toEqual({ greeting: 'hi' });
  });

  it('puts every option on the wire and holds ETA messages in the broker', async () => {
    const t = setup();
    const { app, broker, clock } = t;
    await app.sendTask('proj.x', [1], {}, { queue: 'wire', priority: 7, countdown: 10, headers: { 'x-a': 1 } });
    expect(await broker.queueLength('wire')).toBe(0);
    clock.advance(10_000);
    const { message } = await take(t, 'wire');
    expect(message.properties.priority).toBe(7);
    expect(message.headers.eta).toBe('2026-11-21T14:00:10+00:00');
    expect(message.extraHeaders['x-a']).toBe(1);
  });
});
