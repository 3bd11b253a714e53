/**
 * Python Celery 5.2.6 and Celeriac on one RabbitMQ vhost with `rpc://` results: tasks,
 * errors, countdowns and the wire form of priorities and typed headers, both ways
 * (docs/protocol-amqp.md). The vhost is made for this file and deleted afterwards.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pino } from 'pino';
import { chord, createApp, TaskError, Worker, type App } from '../../src/index.js';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../support/amqp-env.js';
import { shouldRunPythonTests } from '../support/python.js';
import { describeOracles } from '../support/oracles.js';
import { PY_CLIENT, runPython, startPythonWorker, type PyEnv, type PyWorker } from './python.js';

const ready = (await amqpAvailable()) && shouldRunPythonTests('amqp interop');

describeOracles('Python Celery <-> Celeriac on RabbitMQ with rpc:// results', (oracle) => {
  let vhost = '';
  let py: PyEnv;
  let app: App;
  let worker: Worker;
  let pyWorker: PyWorker;

  beforeAll(async () => {
    vhost = await createVhost('interop');
    py = { broker: vhostUrl(vhost), backend: 'rpc://', oracle };
    app = createApp({ broker: vhostUrl(vhost), backend: 'rpc://' }, { env: {}, logger: pino({ level: 'silent' }) });
    app.task('ts.add', (x: number, y: number) => x + y);
    app.task('ts.fail', () => {
      throw new TypeError('ts side failed');
    });
    app.task('ts.app_id', { bind: true }, (ctx) => ctx.request.properties['app_id'] ?? null);
    worker = new Worker(app, { queues: ['ts'], concurrency: 4 });
    await worker.start();
    pyWorker = await startPythonWorker(py, { queues: ['py'] });
  }, 90_000);

  afterAll(async () => {
    await worker?.close({ deadlineMs: 2000 });
    await app?.close();
    await pyWorker?.stop();
    await deleteVhost(vhost);
  }, 60_000);

  it('a task sent by Python runs on Celeriac; the rpc result reaches Python', async () => {
    const out = await runPython(py, `${PY_CLIENT}
r = app.send_task('ts.add', args=[2, 3], queue='ts')
print(json.dumps(r.get(timeout=20)))`);
    expect(out.trim()).toBe('5');
  });

  it("a sender's app_id reaches the task's request.properties, as Celery's test_properties checks", async () => {
    const out = await runPython(py, `${PY_CLIENT}
r = app.send_task('ts.app_id', queue='ts', app_id='xyz123')
print(json.dumps(r.get(timeout=20)))`);
    expect(out.trim()).toBe('"xyz123"');
  });

  it('an error thrown in TypeScript is an exception in Python', async () => {
    const out = await runPython(py, `${PY_CLIENT}
r = app.send_task('ts.fail', queue='ts')
try:
    r.get(timeout=20)
except Exception as e:
    print(type(e).__name__); print(str(e))`);
    expect(out.trim().split('\n')).toEqual(['TypeError', 'ts side failed']);
  });

  it('a task sent by Celeriac runs on Python; the rpc result reaches Celeriac, errors included', async () => {
    const r = await app.sendTask('py.add', [40, 2], {}, { queue: 'py' });
    expect(await r.get({ timeoutMs: 20_000 })).toBe(42);
    const f = await app.sendTask('py.fail', ['kaboom'], {}, { queue: 'py' });
    const err = await f.get({ timeoutMs: 20_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskError);
    expect((err as TaskError).excType).toBe('ValueError');
  });

  it('countdowns cross both ways: held by RabbitMQ, run at their time', async () => {
    const sent = Date.now();
    const r = await app.sendTask('py.add', [1, 1], {}, { queue: 'py', countdown: 1.5 });
    expect(await r.get({ timeoutMs: 20_000 })).toBe(2);
    expect(Date.now() - sent).toBeGreaterThanOrEqual(1500);
    const out = await runPython(py, `${PY_CLIENT}
import time
t = time.time()
r = app.send_task('ts.add', args=[5, 5], queue='ts', countdown=1.5)
v = r.get(timeout=20)
print(v); print(time.time() - t >= 1.5)`);
    expect(out.trim().split('\n')).toEqual(['10', 'True']);
    // Two countdowns, a Python process started and two waits of up to 20 s each: the test's
    // own budget must exceed its waits, or a slow CI run reports a bare timeout.
  }, 60_000);

  it('what Celeriac publishes is what py-amqp reads: typed headers, properties, raw JSON body', async () => {
    const probe = createApp({ broker: vhostUrl(vhost), backend: 'rpc://' }, { env: {}, logger: pino({ level: 'silent' }) });
    try {
      const r = await probe.sendTask('probe.task', [4, 5], { k: 1.5 }, { queue: 'probe', priority: 7, expires: 60, headers: { 'x-custom': 'hdr' } });
      const out = await runPython(py, `
import amqp, json, os
from urllib.parse import urlparse, unquote
u = urlparse(os.environ['CELERY_BROKER'])
c = amqp.Connection('%s:%s' % (u.hostname, u.port), userid='guest', password='guest', virtual_host=unquote(u.path[1:])); c.connect()
ch = c.channel(); m = ch.basic_get('probe', no_ack=True)
p = m.properties
print(json.dumps({'ct': p['content_type'], 'ce': p['content_encoding'], 'dm': p['delivery_mode'], 'prio': p['priority'],
  'cid': p['correlation_id'], 'reply_to': p['reply_to'], 'exp': p['expiration'], 'ts': p.get('timestamp'),
  'retries': type(p['application_headers']['retries']).__name__, 'timelimit': p['application_headers']['timelimit'],
  'keys': list(p['application_headers'].keys()), 'body': m.body if isinstance(m.body, str) else m.body.decode()}))
c.close()`);
      const got = JSON.parse(out) as Record<string, unknown>;
      expect(got).toMatchObject({ ct: 'application/json', ce: 'utf-8', dm: 2, prio: 7, cid: r.id, reply_to: probe.replyTo, exp: '60000', retries: 'int', timelimit: [null, null] });
      // The send time (queue age on RabbitMQ): whole Unix seconds, which py-amqp reads as an int.
      expect(Math.abs((got['ts'] as number) - Date.now() / 1000)).toBeLessThan(60);
      expect(Number.isInteger(got['ts'])).toBe(true);
      expect((got['keys'] as string[]).slice(0, 5)).toEqual(['lang', 'task', 'id', 'shadow', 'eta']);
      expect(got['keys']).toContain('x-custom');
      expect(got['body']).toBe('[[4, 5], {"k": 1.5}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]');
    } finally {
      await probe.close();
    }
  });

  it('a chord on rpc:// is refused before anything is sent, naming the way out', async () => {
    const add = app.task('ts.add2', (x: number, y: number) => x + y);
    const tsum = app.task('ts.tsum', (values: number[]) => values.reduce((a, b) => a + b, 0));
    await expect(chord([add.s(1, 1)], tsum.s()).applyAsync()).rejects.toThrow(/chord/i);
  });
}, ready);
