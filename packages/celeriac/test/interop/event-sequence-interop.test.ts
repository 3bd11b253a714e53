/**
 * The same scenarios on a Python Celery worker (5.2.6 and 5.6.3) and on a Celeriac worker, both with task
 * events on: the events each worker sends about a task have the same types, in the same
 * order, with the same fields, and the same values where a monitor reads them (exception,
 * expired, terminated, signum, requeue, retries). Scenarios: success, failure, a return value
 * the backend cannot encode, retry, reject, revoke of a task held for its countdown, revoke with
 * terminate of a running task, expiry.
 * (An unknown task: unknown-task-interop.test.ts.)
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sleep } from 'celeriac/testing';
import { Reject, type App, type AsyncResult } from '../../src/index.js';
import { EventReceiver } from '../../src/exports/monitor.js';
import { waitFor } from '../../src/testing/index.js';
import { describeOracles } from '../support/oracles.js';
import { MixedFleet, mixedFleetReady } from './mixed-fleet.js';

const ready = await mixedFleetReady('event sequence interop');

const PY_EXTRA = `
from celery.exceptions import Reject

@app.task(name='ev.retry_once', bind=True)
def retry_once(self):
    if self.request.retries == 0:
        raise self.retry(countdown=0, exc=KeyError('once'))
    return 'done'

@app.task(name='ev.reject', acks_late=True)
def reject():
    raise Reject('refused', requeue=False)

@app.task(name='ev.unencodable')
def unencodable():
    return {1, 2}
`;

type Event = Record<string, unknown> & { type: string; uuid?: string; hostname?: string };
/** Fields whose values a monitor reads; the rest (times, clocks, pids, hostnames) differ by nature. */
const COMPARED = ['exception', 'expired', 'terminated', 'signum', 'requeue', 'retries', 'name', 'args', 'kwargs'];

/** One worker's view of a task: event types in order, each with its field names and compared values. */
function view(events: readonly Event[]): { type: string; fields: string[]; values: Record<string, unknown> }[] {
  return events.map((e) => ({
    type: e.type,
    fields: Object.keys(e).sort(),
    values: Object.fromEntries(COMPARED.filter((k) => k in e).map((k) => [k, e[k]])),
  }));
}

describeOracles('the events of a Python worker and of a Celeriac worker, scenario by scenario', (oracle) => {
  const fleet = new MixedFleet('xevseq', 9, oracle);
  let app: App;
  const seen: Event[] = [];
  let receiver: EventReceiver;
  const PY = 'xevseq-py';
  const TS = 'xevseq-ts';

  beforeAll(async () => {
    app = fleet.app();
    app.task('py.add', (x: number, y: number) => x + y);
    app.task('py.fail', (msg: string) => {
      const e = new Error(msg);
      e.name = 'ValueError';
      throw e;
    });
    app.task('py.sleep', { bind: true }, async (ctx, s: number) => {
      await new Promise((resolve) => {
        const t = setTimeout(resolve, s * 1000);
        ctx.signal.addEventListener('abort', () => (clearTimeout(t), resolve(null)));
      });
      return s;
    });
    app.task('ev.retry_once', { bind: true }, (ctx) => {
      if (ctx.request.retries === 0) {
        const e = new Error('once');
        e.name = 'KeyError';
        ctx.retry({ countdown: 0, exc: e });
      }
      return 'done';
    });
    // Python returns a set, which kombu's JSON cannot write either.
    app.task('ev.unencodable', () => new Map([[1, 2]]) as never);
    // Celery sends task-rejected only for a message not acked yet: acks late on both sides.
    app.task('ev.reject', { acksLate: true }, () => {
      throw new Reject({ reason: 'refused', requeue: false });
    });
    receiver = new EventReceiver(app.broker, (event) => seen.push(event as Event));
    await receiver.start();
    // One slot each (Python: prefork, the pool Celery terminates a running task in).
    await fleet.worker(app, { queues: [TS], concurrency: 1, hostname: 'ts-xevseq@%h', sendTaskEvents: true });
    await fleet.python({ queues: [PY], name: 'py-xevseq@%h', concurrency: 1, events: true, extraTasks: PY_EXTRA });
  }, 90_000);

  afterAll(async () => {
    await receiver?.close();
    await fleet.close();
  }, 30_000);

  /**
   * Sends the scenario to both workers, waits until each task's last event, and compares;
   * returns Celeriac's view. `anyOrder`: compared as a multiset (where Python's order is a race).
   */
  async function compare(send: (queue: string) => Promise<AsyncResult>, last: string, then?: (r: AsyncResult) => Promise<void>, anyOrder = false, loose: readonly string[] = []): Promise<ReturnType<typeof view>> {
    const results = await Promise.all([PY, TS].map((queue) => send(queue)));
    for (const r of results) fleet.taskIds.push(r.id);
    if (then !== undefined) await Promise.all(results.map((r) => then(r)));
    const views = [];
    for (const r of results) {
      await waitFor(() => seen.some((e) => e.uuid === r.id && e.type === last), `${last} of ${r.id}`, { timeoutMs: 40_000 });
      // Bounds an absence: anything a worker sends after the last event (it should send nothing) shows up too.
      await sleep(300);
      // A `loose` field's value differs by nature (Python's error text is its own): compared by type.
      const events = seen.filter((e) => e.uuid === r.id && e.type !== 'task-sent').map((e) => ({ ...e, ...Object.fromEntries(loose.filter((k) => k in e).map((k) => [k, typeof e[k]])) }));
      views.push(view(events));
    }
    const sorted = (v: ReturnType<typeof view>) => (anyOrder ? [...v].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))) : v);
    expect(sorted(views[1]!)).toEqual(sorted(views[0]!));
    return views[1]!;
  }

  const types = (v: ReturnType<typeof view>) => v.map((e) => e.type);

  it('success and failure', async () => {
    const ok = await compare((queue) => app.sendTask('py.add', [2, 3], {}, { queue }), 'task-succeeded');
    expect(types(ok)).toEqual(['task-received', 'task-started', 'task-succeeded']);
    const bad = await compare((queue) => app.sendTask('py.fail', ['boom'], {}, { queue }), 'task-failed');
    expect(types(bad)).toEqual(['task-received', 'task-started', 'task-failed']);
    expect(bad[2]?.values['exception']).toBe("ValueError('boom')");
  }, 90_000);

  it('a retry, then success', async () => {
    // Python sends task-retried from its main process once the pool reports, racing the new
    // message's task-received (either comes first); Celeriac sends it as the retry is published.
    const v = await compare((queue) => app.sendTask('ev.retry_once', [], {}, { queue }), 'task-succeeded', undefined, true);
    expect(types(v)).toEqual(['task-received', 'task-started', 'task-retried', 'task-received', 'task-started', 'task-succeeded']);
  }, 90_000);

  it('a return value the backend cannot encode: task-failed, never task-succeeded', async () => {
    const v = await compare((queue) => app.sendTask('ev.unencodable', [], {}, { queue }), 'task-failed', undefined, false, ['exception']);
    expect(types(v)).toEqual(['task-received', 'task-started', 'task-failed']);
    const failed = (host: string) => seen.find((e) => e.type === 'task-failed' && e.hostname?.startsWith(host) === true && String(e['exception']).startsWith('EncodeError('));
    const [py, ts] = [failed('py-xevseq@'), failed('ts-xevseq@')];
    expect(ts?.['exception']).toBe("EncodeError('Cannot serialize a Map as JSON')");
    expect(py?.['exception']).toMatch(/^EncodeError\(TypeError\('Object of type set is not JSON serializable'\)\)$/);
  }, 90_000);

  it('a reject without requeue', async () => {
    const v = await compare((queue) => app.sendTask('ev.reject', [], {}, { queue }), 'task-rejected');
    expect(types(v)).toEqual(['task-received', 'task-started', 'task-rejected']);
    expect(v[2]?.values).toEqual({ requeue: false });
  }, 90_000);

  it('revoke of a task waiting for its countdown: never received, only revoked', async () => {
    // Celeriac's producer keeps the message on the broker until it is due (a delayed set, not
    // a worker's memory), so both workers meet it revoked on arrival.
    const v = await compare(async (queue) => {
      const r = await app.sendTask('py.add', [1, 1], {}, { queue, countdown: 2 });
      await r.revoke();
      return r;
    }, 'task-revoked');
    expect(types(v)).toEqual(['task-revoked']);
    expect(v[0]?.values).toEqual({ expired: false, terminated: false, signum: null });
  }, 90_000);

  it('revoke with terminate of a running task', async () => {
    const v = await compare(
      (queue) => app.sendTask('py.sleep', [30], {}, { queue }),
      'task-revoked',
      async (r) => {
        await waitFor(() => seen.some((e) => e.uuid === r.id && e.type === 'task-started'), `task-started of ${r.id}`, { timeoutMs: 20_000 });
        await r.revoke({ terminate: true });
      },
    );
    expect(v.at(-1)?.values).toMatchObject({ terminated: true, signum: 15, expired: false });
  }, 90_000);

  it('a task that expired before it could run', async () => {
    const v = await compare((queue) => app.sendTask('py.add', [1, 2], {}, { queue, countdown: 2, expires: 1 }), 'task-revoked');
    expect(types(v)).toEqual(['task-revoked']);
    expect(v[0]?.values).toEqual({ expired: true, terminated: false, signum: null });
  }, 90_000);
}, ready);
