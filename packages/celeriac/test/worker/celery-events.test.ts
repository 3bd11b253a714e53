import { afterEach, describe, expect, it } from 'vitest';
import { sleep } from 'celeriac/testing';
import { EVENT_EXCHANGE, decodeEventEnvelope } from '../../src/protocol/events.js';
import { closeEnvs, makeEnv, waitFor } from './helpers.js';
import { ControlClient, collectEvents } from './control-client.js';

afterEach(closeEnvs);

const COMMON = ['hostname', 'utcoffset', 'pid', 'clock'];

describe('Celery events from a worker', () => {
  it('sends worker-online, heartbeats on request, and worker-offline at close', async () => {
    const env = makeEnv();
    const { events, stop } = await collectEvents(env.app.broker);
    const worker = await env.startWorker();
    const online = await waitFor(() => events.find((e) => e.type === 'worker-online'), 'worker-online');
    expect(Object.keys(online)).toEqual([...COMMON, 'freq', 'active', 'processed', 'loadavg', 'sw_ident', 'sw_ver', 'sw_sys', 'timestamp', 'type']);
    expect(online).toMatchObject({ hostname: 'w1@testhost', pid: process.pid, freq: 2, active: 0, processed: 0, sw_ident: 'celeriac' });
    expect(online['utcoffset']).toBe(Math.floor(new Date().getTimezoneOffset() / 60));
    const client = await new ControlClient(env.app.broker).open();
    await client.call('heartbeat', {}, { cast: true });
    const beat = await waitFor(() => events.find((e) => e.type === 'worker-heartbeat'), 'worker-heartbeat');
    expect(beat['clock']).toBeGreaterThan(online['clock'] as number);
    await worker.close();
    await waitFor(() => events.find((e) => e.type === 'worker-offline'), 'worker-offline');
    await stop();
  });

  it('with -E sends task events as task.multi batches with Celery fields; without, none', async () => {
    const env = makeEnv();
    const add = env.app.task('t.add', (x: number, y: number) => x + y);
    const fail = env.app.task('t.fail', () => {
      throw new RangeError('nope');
    });
    const keys: string[] = [];
    const stopKeys = await env.app.broker.subscribeFanout(EVENT_EXCHANGE, 'task.#', (raw, rk) => {
      keys.push(rk);
      // The body verbatim (body_encoding null, as kombu's body_encoding=None): a JSON array.
      const envelope = JSON.parse(raw) as { body: string; properties: { body_encoding: unknown } };
      expect(envelope.properties.body_encoding).toBeNull();
      expect(Array.isArray(JSON.parse(envelope.body))).toBe(true);
      decodeEventEnvelope(raw);
    });
    const { events, stop } = await collectEvents(env.app.broker);
    await env.startWorker({ sendTaskEvents: true });
    const ok = await add.delay(2, 3);
    await ok.get({ timeoutMs: 2000 });
    const bad = await fail.delay();
    await waitFor(() => events.some((e) => e.type === 'task-failed'), 'task-failed');
    const mine = (id: string) => events.filter((e) => e['uuid'] === id);
    expect(mine(ok.id).map((e) => e.type)).toEqual(['task-received', 'task-started', 'task-succeeded']);
    expect(mine(ok.id)[0]).toMatchObject({ name: 't.add', args: '(2, 3)', kwargs: '{}', root_id: ok.id, parent_id: null, retries: 0, eta: null, expires: null });
    expect(mine(ok.id)[2]).toMatchObject({ result: '5' });
    expect(typeof mine(ok.id)[2]?.['runtime']).toBe('number');
    expect(mine(bad.id)[2]).toMatchObject({ type: 'task-failed', exception: "RangeError('nope')" });
    expect(String(mine(bad.id)[2]?.['traceback'])).toContain('RangeError: nope');
    expect(new Set(keys)).toEqual(new Set(['task.multi']));
    const clocks = events.map((e) => e['clock'] as number);
    expect([...clocks].sort((a, b) => a - b)).toEqual(clocks);
    await stop();
    await stopKeys();
  });

  it('sends no task events without -E, and task-sent from producers with taskSendSentEvent', async () => {
    const env = makeEnv({ taskSendSentEvent: true });
    const add = env.app.task('t.add', (x: number, y: number) => x + y);
    const { events, stop } = await collectEvents(env.app.broker);
    await env.startWorker();
    const r = await add.applyAsync([1, 1], { queue: 'celery' });
    await r.get({ timeoutMs: 2000 });
    const sent = await waitFor(() => events.find((e) => e.type === 'task-sent'), 'task-sent');
    expect(sent).toMatchObject({ uuid: r.id, name: 't.add', args: '(1, 1)', kwargs: '{}', retries: 0, queue: 'celery', exchange: '', routing_key: 'celery' });
    expect(String(sent['hostname'])).toMatch(/^gen\d+@/);
    await sleep(50); // bounds an absence: no other task event comes
    expect(events.filter((e) => e.type.startsWith('task-') && e.type !== 'task-sent')).toEqual([]);
    await stop();
  });
});
