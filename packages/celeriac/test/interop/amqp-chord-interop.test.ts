/**
 * Chords across languages on a RabbitMQ broker with a Redis result backend (issue 27 §8;
 * chords need a result store, `rpc://` refuses them): a Python Celery 5.2.6 worker and a
 * Celeriac worker consume their own queues of one vhost and write one chord join in Redis.
 * - a chord sent by Celeriac whose header parts are split between the two and whose body
 *   runs on Python;
 * - a chord sent by Python whose header is split too and whose body runs on Celeriac;
 * - a failing Celeriac header part reaches a Python caller as ChordError.
 * The vhost is made for this file and deleted afterwards; result and join keys are per id
 * and deleted afterwards.
 */
import { createClient } from 'redis';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { chord, createApp, signature, Worker, type App } from '../../src/index.js';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../support/amqp-env.js';
import { shouldRunPythonTests } from '../support/python.js';
import { REDIS_URL, shouldRunRedisTests } from '../support/redis.js';
import { describeOracles } from '../support/oracles.js';
import { PY_CLIENT, runPython, startPythonWorker, type PyEnv, type PyWorker } from './python.js';

const ready = (await amqpAvailable()) && (await shouldRunRedisTests('amqp chord interop')) && shouldRunPythonTests('amqp chord interop');
const T = { timeoutMs: 30_000 };

describeOracles('chords between Python Celery and Celeriac on RabbitMQ with Redis results', (oracle) => {
  let vhost = '';
  let py: PyEnv;
  let app: App;
  let worker: Worker;
  let pyWorker: PyWorker;
  const ids: string[] = [];

  beforeAll(async () => {
    vhost = await createVhost('chord');
    py = { broker: vhostUrl(vhost), backend: REDIS_URL, oracle };
    app = createApp({ broker: vhostUrl(vhost), backend: REDIS_URL }, { env: {}, logger: pino({ level: 'silent' }) });
    app.task('ts.add', (x: number, y: number) => x + y);
    app.task('ts.tsum', (values: number[]) => values.reduce((a, b) => a + b, 0));
    app.task('ts.fail', (msg: string) => {
      throw new TypeError(msg);
    });
    worker = new Worker(app, { queues: ['ts'], concurrency: 4 });
    await worker.start();
    pyWorker = await startPythonWorker(py, { queues: ['py'], concurrency: 2 });
  }, 90_000);

  afterAll(async () => {
    await worker?.close({ deadlineMs: 2000 });
    await app?.close();
    await pyWorker?.stop();
    if (vhost !== '') await deleteVhost(vhost);
    const client = createClient({ url: REDIS_URL });
    await client.connect();
    try {
      for (const id of ids) await client.del([`celery-task-meta-${id}`, `${id}.j`, `${id}.t`, `celery-taskset-meta-${id}`]);
    } finally {
      client.destroy();
    }
  }, 60_000);

  const ts = (name: string, args: unknown[] = []) => signature<number>(name, args as number[], {}, { queue: 'ts' }, app);
  const pys = (name: string, args: unknown[] = []) => signature<number>(name, args as number[], {}, { queue: 'py' }, app);

  it('sent by Celeriac: header split between Python and Celeriac, body on Python', async () => {
    const r = await chord([pys('py.add', [1, 1]), ts('ts.add', [2, 2]), pys('py.add', [3, 3]), ts('ts.add', [4, 4])], pys('py.tsum')).applyAsync();
    ids.push(r.id);
    expect(await r.get(T)).toBe(20);
  }, 60_000);

  it('sent by Python: header split between the two, body on Celeriac; Python gets the result', async () => {
    const out = await runPython(py, `${PY_CLIENT}
from celery import chord
r = chord([app.signature('py.add', args=(10, 10), queue='py'), app.signature('ts.add', args=(1, 1), queue='ts'),
           app.signature('py.add', args=(5, 5), queue='py')],
          app.signature('ts.tsum', queue='ts')).apply_async()
print(r.id); print(json.dumps(r.get(timeout=30)))`);
    const [id, value] = out.trim().split('\n');
    ids.push(id as string);
    expect(value).toBe('32');
  }, 60_000);

  it('a failing Celeriac header part fails the chord for a Python caller with ChordError', async () => {
    const out = await runPython(py, `${PY_CLIENT}
from celery import chord
r = chord([app.signature('py.add', args=(1, 1), queue='py'), app.signature('ts.fail', args=('nope',), queue='ts')],
          app.signature('py.tsum', queue='py')).apply_async()
print(r.id)
try:
    app.AsyncResult(r.id).get(timeout=30)
except Exception as e:
    print(type(e).__name__); print(str(e))`);
    const [id, name, message] = out.trim().split('\n');
    ids.push(id as string);
    expect(name).toBe('ChordError');
    expect(message).toMatch(/^Dependency \S+ raised TypeError\('nope'\)$/);
  }, 60_000);
}, ready);
