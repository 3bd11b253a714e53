/**
 * Redelivery with memory (worker/redelivery.ts): a message the worker cannot finish for a
 * reason of its own goes back through the delayed set with exponential backoff, and the
 * delivery that reaches workerMaxDeliveries is dead-lettered with FAILURE stored when
 * possible. Before, a backend refusing writes made a late-ack message run ~8 times a second.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { chord, Reject } from 'celeriac';
import { closeEnvs, flush, makeEnv, waitFor, type TestEnv } from './helpers.js';

afterEach(closeEnvs);

/** Makes the env's backend refuse final-state writes (as Redis READONLY would) while `refusing.on`. */
function refuseWrites(env: TestEnv): { on: boolean } {
  const refusing = { on: true };
  const store = env.backend.store.bind(env.backend);
  env.backend.store = (meta, options) => (refusing.on ? Promise.reject(new Error("READONLY You can't write against a read only replica.")) : store(meta, options));
  return refusing;
}

describe('a result store that refuses writes (late acks)', () => {
  it('redelivers with exponential backoff through the delayed set, never hot, and dead-letters at workerMaxDeliveries', async () => {
    const env = makeEnv({ taskAcksLate: true, workerMaxDeliveries: 4, workerRedeliveryDelaySec: 1 }, { fakeClock: true });
    refuseWrites(env);
    let runs = 0;
    const t = env.app.task('t.side_effect', () => {
      runs += 1;
      return 'done';
    });
    await env.startWorker();
    const r = await t.delay();
    const delays: number[] = [];
    for (let n = 1; n <= 3; n++) {
      const deferred = await waitFor(() => env.broker.of('defer', r.id)[n - 1], `defer ${n}`);
      delays.push(deferred.deliverAt! - env.clock!.now());
      expect(runs).toBe(n);
      // Not run again before its time.
      env.clock!.advance(deferred.deliverAt! - env.clock!.now() - 1);
      await flush();
      expect(runs).toBe(n);
      env.clock!.advance(1);
    }
    expect(delays).toEqual([1000, 2000, 4000]);
    const parked = await waitFor(() => env.broker.of('setAside', r.id)[0], 'dead letter');
    expect(runs).toBe(4);
    expect(parked.reason).toMatch(/^delivered 4 times \(workerMaxDeliveries 4\); last failure: READONLY/);
    const [record] = await env.memory.setAsideMessages();
    expect(record).toMatchObject({ queue: 'celery', reason: parked.reason });
    expect(env.lines.some((l) => l.msg === 'message dead-lettered: it will not be delivered again' && l.taskId === r.id)).toBe(true);
    env.clock!.advance(3_600_000);
    await flush();
    expect(runs).toBe(4);
  });

  it('stores FAILURE DeliveryLimitExceeded at the limit when the backend takes that write', async () => {
    const env = makeEnv({ taskAcksLate: true, workerMaxDeliveries: 2, workerRedeliveryDelaySec: 0.5 }, { fakeClock: true });
    // A store that refuses the result (say, too large for the server) but takes a FAILURE.
    const store = env.backend.store.bind(env.backend);
    env.backend.store = (meta, options) => (meta.status === 'SUCCESS' ? Promise.reject(new Error('ERR string exceeds maximum allowed size')) : store(meta, options));
    let runs = 0;
    const t = env.app.task('t.flaky_store', () => {
      runs += 1;
      return 'done';
    });
    await env.startWorker();
    const r = await t.delay();
    const deferred = await waitFor(() => env.broker.of('defer', r.id)[0], 'first redelivery');
    expect(deferred.deliverAt! - env.clock!.now()).toBe(500);
    env.clock!.set(deferred.deliverAt!);
    await waitFor(() => env.broker.of('setAside', r.id)[0], 'dead letter');
    expect(runs).toBe(2);
    expect(await env.backend.get(r.id)).toMatchObject({
      status: 'FAILURE',
      result: { exc_type: 'DeliveryLimitExceeded', exc_message: [expect.stringContaining('delivered 2 times (workerMaxDeliveries 2); last failure: ERR string exceeds')], exc_module: null },
    });
  });
});

describe('a dead-lettered task ends everywhere it was seen, not only in the backend', () => {
  it('task-failed DeliveryLimitExceeded follows FAILURE, so monitors do not show it RECEIVED or STARTED for good', async () => {
    const env = makeEnv({ taskAcksLate: true, workerMaxDeliveries: 3 });
    const t = env.app.task('t.bounce', () => {
      throw new Reject({ requeue: true });
    });
    const worker = await env.startWorker();
    const events: string[] = [];
    worker.onTaskEvent((e) => {
      if (e.type === 'task-failed') events.push(`${e.type}:${(e.error as Error).name}:${(e.error as Error).message}`);
      else events.push(e.type);
    });
    const r = await t.delay();
    await waitFor(() => env.broker.of('setAside', r.id)[0], 'dead letter');
    await waitFor(() => events.some((e) => e.startsWith('task-failed')), 'task-failed');
    expect(events.at(-1)).toBe('task-failed:DeliveryLimitExceeded:requeued by the task 3 times (workerMaxDeliveries 3)');
    expect(await env.backend.get(r.id)).toMatchObject({ status: 'FAILURE', result: { exc_type: 'DeliveryLimitExceeded' } });
  });

  it('a chord member dead-lettered fails the chord (its body gets ChordError) instead of leaving it waiting for ever', async () => {
    const env = makeEnv({ taskAcksLate: true, workerMaxDeliveries: 2 });
    const ok = env.app.task('t.ok', () => 1);
    const bounce = env.app.task('t.bounce', () => {
      throw new Reject({ requeue: true });
    });
    const bodies: unknown[] = [];
    const body = env.app.task('t.body', (values: unknown) => void bodies.push(values));
    await env.startWorker();
    const r = await chord([ok.s(), bounce.s()], body.s()).applyAsync();
    const err = await r.get({ timeoutMs: 3000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ChordError', message: expect.stringMatching(/^Dependency [0-9a-f-]+ raised DeliveryLimitExceeded\('requeued by the task 2 times/) });
    expect(bodies).toEqual([]);
  });
});

describe('a result store that refuses writes (early acks)', () => {
  it('retries the write with the redelivery backoff, the task running once, and stores SUCCESS once the store takes it', async () => {
    const env = makeEnv({ taskAcksLate: false, workerMaxDeliveries: 5, workerRedeliveryDelaySec: 1 }, { fakeClock: true });
    const refusing = refuseWrites(env);
    let runs = 0;
    const t = env.app.task('t.early', () => {
      runs += 1;
      return 'done';
    });
    await env.startWorker();
    const r = await t.delay();
    const retried = () => env.lines.filter((l) => l.taskId === r.id && /^could not store the state of task .* \(acked early\); trying again in/.test(String(l.msg)));
    await waitFor(() => retried()[0], 'first retry');
    expect(retried()[0]?.retryInMs).toBe(1000);
    env.clock!.advance(1000);
    await waitFor(() => retried()[1], 'second retry');
    expect(retried()[1]?.retryInMs).toBe(2000);
    // The stack once per task; the next attempts say only what failed.
    expect(retried()[0]?.err).toBeDefined();
    expect(retried()[1]?.err).toBeUndefined();
    expect(typeof retried()[1]?.reason).toBe('string');
    refusing.on = false;
    env.clock!.advance(2000);
    await waitFor(async () => (await env.backend.get(r.id))?.status === 'SUCCESS', 'SUCCESS stored');
    expect(runs).toBe(1);
    expect(env.broker.of('defer', r.id)).toEqual([]);
  });

  it('says the result is lost after workerMaxDeliveries attempts (before, nothing was logged and it stayed PENDING)', async () => {
    const env = makeEnv({ taskAcksLate: false, workerMaxDeliveries: 2, workerRedeliveryDelaySec: 1 }, { fakeClock: true });
    refuseWrites(env);
    const t = env.app.task('t.early_lost', () => 'done');
    await env.startWorker();
    const r = await t.delay();
    await waitFor(() => env.lines.find((l) => l.taskId === r.id && /trying again/.test(String(l.msg))), 'first retry');
    env.clock!.advance(1000);
    const lost = await waitFor(() => env.lines.find((l) => l.taskId === r.id && l.level === 50), 'the error line');
    expect(lost.msg).toBe(`could not store the state of task ${r.id} after 2 attempts; its message was acked early, so it will not run again and its result is lost`);
  });
});

describe('requeues are bounded too', () => {
  it('a task that always raises Reject(requeue) is dead-lettered at workerMaxDeliveries', async () => {
    const env = makeEnv({ taskAcksLate: true, workerMaxDeliveries: 5 });
    let runs = 0;
    const t = env.app.task('t.requeue_forever', () => {
      runs += 1;
      throw new Reject({ reason: 'again', requeue: true });
    });
    await env.startWorker();
    const r = await t.delay();
    const parked = await waitFor(() => env.broker.of('setAside', r.id)[0], 'dead letter');
    expect(parked.reason).toContain('requeued by the task 5 times');
    await flush();
    expect(runs).toBe(5);
  });
});

describe('the memory broker counts deliveries', () => {
  it('across restore, requeue and defer', async () => {
    const env = makeEnv();
    await env.app.sendTask('t.x', []);
    const counts: number[] = [];
    const consumer = env.memory.consume({
      queues: ['celery'],
      prefetch: 1,
      onDelivery: (d) => {
        counts.push(d.deliveryCount ?? -1);
        const n = counts.length;
        if (n === 1) void d.restore();
        else if (n === 2) void d.reject({ requeue: true });
        else if (n === 3) void d.defer(Date.now() - 1);
        else void d.ack();
      },
    });
    await waitFor(() => counts.length >= 4, 'four deliveries');
    await consumer.close();
    expect(counts).toEqual([1, 2, 3, 4]);
  });
});
