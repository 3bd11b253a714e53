/**
 * Publish retry policies across languages. A Python caller's `retry_policy` on a signature
 * (a link of a task it sends to a Celeriac worker) governs how that worker sends the link when
 * the broker fails: a patient policy outlasts two failed attempts, `max_retries: 0` gives up
 * after the first. A Celeriac signature's `retryPolicy`, read by Python Celery, is the
 * `retry_policy` its `apply_async` hands to the publish.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CeleriacError, ErrorCodes, createApp, signature, type App } from 'celeriac';
import { waitFor } from '../../src/testing/wait-for.js';
import { describeOracles } from '../support/oracles.js';
import { MixedFleet, mixedFleetReady } from './mixed-fleet.js';
import { PY_CLIENT, runPython } from './python.js';

const ready = await mixedFleetReady('retry policy interop');
const QUEUE = 'xretrypol-ts';

/**
 * Sends `rp.first` to the Celeriac worker with one link, whose options carry `retry_policy`,
 * and prints its value or the error `get()` raised (a link that cannot be sent fails the task, as in Celery).
 */
const PY_SEND_WITH_LINK = `${PY_CLIENT}
link = app.signature(sys.argv[1], args=(), queue=sys.argv[3], retry_policy=json.loads(sys.argv[2]))
r = app.send_task('rp.first', args=[], queue=sys.argv[3], link=link)
try:
    print(json.dumps({'value': r.get(timeout=30)}))
except Exception as e:
    print(json.dumps({'type': type(e).__name__, 'text': str(e)}))
finally:
    r.forget()
`;

/** Applies a signature dict made by Celeriac with Python Celery, and prints the retry options its publish got. */
const PY_APPLY_SIGNATURE = `${PY_CLIENT}
from celery import signature
seen = {}
def send_task_message(producer, name, message, **options):
    seen.update(name=name, retry=options.get('retry'), retry_policy=options.get('retry_policy'))
app.amqp.send_task_message = send_task_message
sig = signature(json.loads(sys.argv[1]), app=app)
sig.apply_async()
print(json.dumps(seen))
`;

describeOracles('retry policies between Python Celery and Celeriac', (oracle) => {
  const fleet = new MixedFleet('xretrypol', 9, oracle);
  let app: App;
  const lines: { msg?: string; err?: { message?: string } }[] = [];
  /** Publish attempts per task name, and how many of the first ones fail as a lost connection. */
  const attempts = new Map<string, number>();
  const failFirst = 2;
  let patientRan = 0;

  beforeAll(async () => {
    app = createApp({ broker: fleet.brokerUrl, backend: fleet.py.backend }, { env: {}, logger: pino({ level: 'error' }, { write: (l: string) => void lines.push(JSON.parse(l) as never) }) });
    app.task('rp.first', () => 'first');
    // A link gets the result of the task it follows.
    app.task('rp.patient', (_first: string) => void (patientRan += 1));
    app.task('rp.hasty', (_first: string) => 'never sent');
    const broker = app.broker;
    const publish = broker.publish.bind(broker);
    broker.publish = async (message, options) => {
      const name = 'headers' in message ? String((message.headers as { task?: unknown }).task) : '';
      if (name === 'rp.patient' || name === 'rp.hasty') {
        const n = (attempts.get(name) ?? 0) + 1;
        attempts.set(name, n);
        if (n <= failFirst) throw new CeleriacError(ErrorCodes.TRANSPORT, `test: broker connection lost (attempt ${n})`);
      }
      return publish(message, options);
    };
    await fleet.worker(app, { queues: [QUEUE], concurrency: 1, hostname: 'ts-xretrypol@%h' });
  }, 60_000);

  afterAll(async () => {
    await fleet.close();
    await app.close();
  }, 30_000);

  it("a Python link's retry_policy outlasts two lost connections on a Celeriac worker", async () => {
    const policy = JSON.stringify({ max_retries: 3, interval_start: 0, interval_step: 0.05, interval_max: 0.1 });
    const out = JSON.parse(await runPython(fleet.py, PY_SEND_WITH_LINK, ['rp.patient', policy, QUEUE])) as { value: string };
    expect(out).toEqual({ value: 'first' });
    await waitFor(() => patientRan === 1, 'the link to be sent after two failed attempts and run', { timeoutMs: 30_000 });
    expect(attempts.get('rp.patient')).toBe(failFirst + 1);
  }, 90_000);

  it("a Python link's max_retries 0 makes the Celeriac worker give up after one attempt", async () => {
    const policy = JSON.stringify({ max_retries: 0 });
    const out = JSON.parse(await runPython(fleet.py, PY_SEND_WITH_LINK, ['rp.hasty', policy, QUEUE])) as { type: string; text: string };
    // What the Python caller sees: the task failed, for the link that could not be sent.
    expect(out.type).toBe('PublishError');
    expect(out.text).toMatch(/^could not send task rp\.hasty\[[0-9a-f-]{36}\] after 1 attempt \(retryPolicy spent\): test: broker connection lost \(attempt 1\)$/);
    const failed = await waitFor(() => lines.find((l) => l.err?.message?.includes('send task rp.hasty')), 'the worker to give up sending the link', { timeoutMs: 30_000 });
    expect(failed.err?.message).toMatch(/could not send task rp\.hasty\[[0-9a-f-]{36}\] after 1 attempt \(retryPolicy spent\): test: broker connection lost \(attempt 1\)/);
    expect(attempts.get('rp.hasty')).toBe(1);
  }, 90_000);

  it("a Celeriac signature's retryPolicy is the retry_policy Python's apply_async publishes with", async () => {
    const sig = signature('rp.target', [1], {}, { retry: true, retryPolicy: { maxRetries: 7, intervalStart: 0.5, intervalStep: 0.25, intervalMax: 2 } });
    const seen = JSON.parse(await runPython(fleet.py, PY_APPLY_SIGNATURE, [JSON.stringify(sig.toDict())])) as unknown;
    expect(seen).toEqual({ name: 'rp.target', retry: true, retry_policy: { max_retries: 7, interval_start: 0.5, interval_step: 0.25, interval_max: 2 } });
  }, 60_000);
}, ready);
