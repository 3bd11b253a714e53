/**
 * Retries on the memory broker with a fake clock: `ctx.retry()` and `autoretryFor` publish
 * the same task id with retries + 1 and a new ETA, store RETRY, emit task-retried and ack;
 * once retries run out the task fails with its error.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createApp, MaxRetriesExceededError, type TaskEvent } from 'celeriac';
import { decodeTaskMessage } from '../../src/protocol/task-message.js';
import type { TaskMessage } from '../../src/protocol/types.js';
import { closeEnvs, flush, makeEnv, waitFor, waitForState, type TestEnv } from './helpers.js';

afterEach(closeEnvs);

/** The task messages published for `id`, decoded, in order. */
function publishedFor(env: TestEnv, id: string): { message: TaskMessage; deliverAt: number | undefined; routingKey: string; priority: number | undefined }[] {
  return env.broker.published
    .map((p) => ({ message: decodeTaskMessage(p.message), deliverAt: p.options.deliverAt, routingKey: p.options.routingKey, priority: p.options.priority }))
    .filter((p) => p.message.headers.id === id);
}

describe('ctx.retry()', () => {
  it('retries with the same id, retries + 1 and a countdown ETA, storing RETRY, until it succeeds', async () => {
    const env = makeEnv({ resultExtended: true }, { fakeClock: true });
    const clock = env.clock!;
    const seen: number[] = [];
    const flaky = env.app.task('t.flaky', { bind: true }, (ctx, x: number) => {
      seen.push(ctx.request.retries);
      if (ctx.request.retries < 2) ctx.retry({ countdown: 10, exc: new TypeError(`not yet ${ctx.request.retries}`) });
      return x * 2;
    });
    const events: TaskEvent[] = [];
    const worker = await env.startWorker();
    worker.onTaskEvent((e) => events.push(e));
    const r = await flaky.applyAsync([21], { queue: 'celery', priority: 3 });
    const retry = await waitForState(env, r.id, 'RETRY');
    expect(retry).toMatchObject({
      status: 'RETRY',
      result: { exc_type: 'TypeError', exc_message: ['not yet 0'], exc_module: 'builtins' },
      traceback: "Retry in 10s: TypeError('not yet 0')",
      children: [[[r.id, null], null]],
      date_done: null,
      retries: 0,
    });
    const sent = publishedFor(env, r.id);
    expect(sent).toHaveLength(2);
    const first = sent[0]!.message;
    const again = sent[1]!;
    expect(again.deliverAt).toBe(clock.now() + 10_000);
    expect(again.routingKey).toBe('celery');
    expect(again.priority).toBe(3);
    expect(again.message.headers).toMatchObject({ id: r.id, retries: 1, parent_id: r.id, root_id: r.id, task: 't.flaky' });
    expect(again.message.headers.eta).not.toBeNull();
    expect(again.message.args).toEqual([21]);
    expect(again.message.properties).toMatchObject({ correlation_id: r.id, reply_to: first.properties.reply_to, replaced_task_nesting: 0 });
    expect(env.broker.settlements(r.id)).toEqual(['ack']);
    clock.advance(9_999);
    await flush();
    expect(seen).toEqual([0]);
    clock.advance(1);
    await waitFor(() => seen.length === 2, 'second run');
    await waitFor(() => publishedFor(env, r.id).length === 3, 'second retry');
    clock.advance(10_000);
    expect(await r.get({ timeoutMs: 2000 })).toBe(42);
    expect(seen).toEqual([0, 1, 2]);
    expect((await env.backend.get(r.id))?.retries).toBe(2);
    expect(env.broker.settlements(r.id)).toEqual(['ack', 'ack', 'ack']);
    const retried = events.filter((e) => e.type === 'task-retried');
    expect(retried).toHaveLength(2);
    expect(retried[0]).toMatchObject({ traceback: "Retry in 10s: TypeError('not yet 0')", error: { message: 'not yet 0' } });
  });

  it('fails with the given error once maxRetries is reached, or with MaxRetriesExceededError', async () => {
    const env = makeEnv({}, { fakeClock: true });
    let runs = 0;
    const withExc = env.app.task('t.exc', { bind: true, maxRetries: 1 }, (ctx) => {
      runs++;
      ctx.retry({ countdown: 1, exc: new RangeError('given up') });
    });
    const bare = env.app.task('t.bare', { bind: true, maxRetries: 0 }, (ctx) => ctx.retry());
    await env.startWorker();
    const a = await withExc.delay();
    await waitForState(env, a.id, 'RETRY');
    env.clock!.advance(1000);
    const failed = await waitForState(env, a.id, 'FAILURE');
    expect(failed.result).toEqual({ exc_type: 'RangeError', exc_message: ['given up'], exc_module: null });
    expect(runs).toBe(2);
    const b = await bare.delay();
    await expect(b.get({ timeoutMs: 2000 })).rejects.toMatchObject({ excType: 'MaxRetriesExceededError', excModule: 'celery.exceptions' });
    expect(new MaxRetriesExceededError('x').excType).toBe('MaxRetriesExceededError');
  });

  it('refuses retry options of the wrong shape: the run fails with the reason, and nothing is republished', async () => {
    const env = makeEnv();
    const cases: [unknown, RegExp][] = [
      // maxRetries: 'x' compared false with every count, and the task retried for ever.
      [{ maxRetries: 'x' }, /^retry: maxRetries must be a whole number >= 0, or null for no limit, got "x"$/],
      [{ maxRetries: -1 }, /maxRetries must be a whole number >= 0/],
      [{ countdown: 'soon' }, /^retry: countdown must be a number >= 0, got "soon"$/],
      [{ queue: '' }, /^retry: queue must be a non-empty string, got ""$/],
      [{ max_retries: 3 }, /^retry: unknown option "max_retries"\. Did you mean maxRetries\?$/],
      [5, /^retry: options must be an object, got number$/],
    ];
    const tasks = cases.map(([options], i) => env.app.task(`t.bad${i}`, { bind: true, maxRetries: 5 }, (ctx) => ctx.retry(options as never)));
    await env.startWorker();
    for (const [i, t] of tasks.entries()) {
      const r = await t.delay();
      const failed = await waitForState(env, r.id, 'FAILURE');
      expect((failed.result as { exc_message: string[] }).exc_message[0]).toMatch(cases[i]?.[1] as RegExp);
      expect(publishedFor(env, r.id)).toHaveLength(1);
    }
  });

  it('uses defaultRetryDelay when neither countdown nor eta is given, and an eta as given', async () => {
    const env = makeEnv({}, { fakeClock: true });
    const now = env.clock!.now();
    env.app.task('t.default', { bind: true, defaultRetryDelaySec: 42 }, (ctx) => ctx.retry());
    env.app.task('t.at', { bind: true }, (ctx) => ctx.retry({ eta: new Date(now + 90_000) }));
    await env.startWorker();
    const d = await env.app.sendTask('t.default');
    const at = await env.app.sendTask('t.at');
    await waitForState(env, d.id, 'RETRY');
    await waitForState(env, at.id, 'RETRY');
    expect(publishedFor(env, d.id)[1]?.deliverAt).toBe(now + 42_000);
    expect(publishedFor(env, at.id)[1]?.deliverAt).toBe(now + 90_000);
    // Celery's default is 180 s.
    const plain = createApp({}, { env: {} }).task('t.plain', { bind: true }, (ctx) => ctx.retry());
    expect(plain.options.defaultRetryDelaySec).toBeUndefined();
  });

  it('sends the retry to another queue when asked, as Celery\'s retry(queue=...)', async () => {
    const env = makeEnv({}, { fakeClock: true });
    env.app.task('t.elsewhere', { bind: true }, (ctx) => (ctx.request.retries === 0 ? ctx.retry({ countdown: 0, queue: 'other' }) : ctx.request.deliveryInfo.routing_key));
    await env.startWorker({ queues: ['celery', 'other'] });
    const r = await env.app.sendTask('t.elsewhere');
    expect(await r.get({ timeoutMs: 2000 })).toBe('other');
    expect(publishedFor(env, r.id).map((p) => p.routingKey)).toEqual(['celery', 'other']);
  });

  it('a late-ack task is acked after its retry is published', async () => {
    const env = makeEnv({ taskAcksLate: true }, { fakeClock: true });
    env.app.task('t.late', { bind: true }, (ctx) => ctx.retry({ countdown: 5 }));
    await env.startWorker();
    const r = await env.app.sendTask('t.late');
    await waitForState(env, r.id, 'RETRY');
    await waitFor(() => env.broker.settlements(r.id).length === 1, 'settled');
    expect(env.broker.settlements(r.id)).toEqual(['ack']);
    expect(env.timeline.indexOf(`ack:${r.id}`)).toBeGreaterThan(-1);
  });

  for (const acksLate of [true, false]) {
    it(`a RETRY that cannot be stored is logged and the message acked: the task runs once per retry, not again beside it (${acksLate ? 'late' : 'early'} acks)`, async () => {
      // Before, with late acks: the message was given back although its retry was out, so each
      // failed store ran the task again and sent one more retry (8 runs instead of 2 here).
      const env = makeEnv({ taskAcksLate: acksLate, workerRedeliveryDelaySec: 0.01 });
      const store = env.backend.store.bind(env.backend);
      let refused = 3;
      env.backend.store = (meta, options) => (meta.status === 'RETRY' && refused-- > 0 ? Promise.reject(new Error('backend down')) : store(meta, options));
      const runs: number[] = [];
      const t = env.app.task('t.r', { bind: true }, (ctx) => {
        runs.push(ctx.request.retries);
        if (ctx.request.retries < 1) ctx.retry({ countdown: 0 });
        return 'done';
      });
      await env.startWorker();
      const r = await t.delay();
      await waitForState(env, r.id, 'SUCCESS');
      // The settlements decide it: a message given back is deferred, never acked.
      await waitFor(() => env.broker.settlements(r.id).length === 2, 'both messages settled');
      const warned = (l: (typeof env.lines)[number]) => l.taskId === r.id && l.level === 40 && l.msg === 'could not store RETRY for the task; going on without it';
      await waitFor(() => env.lines.some(warned), 'the refused RETRY logged');
      expect(runs).toEqual([0, 1]);
      expect(env.broker.settlements(r.id)).toEqual(['ack', 'ack']);
      expect(publishedFor(env, r.id)).toHaveLength(2);
    });
  }

  it('a retry that cannot be published fails the task instead of losing it', async () => {
    const env = makeEnv({}, { fakeClock: true });
    env.app.task('t.nopub', { bind: true }, (ctx) => ctx.retry({ countdown: 1 }));
    await env.startWorker();
    // The task's own message goes through; the retry's is refused. (Swapping publish after
    // sendTask would race the worker, which may retry before the swap.)
    const publish = env.broker.publish.bind(env.broker);
    let published = 0;
    env.broker.publish = async (...args: Parameters<typeof publish>) => {
      if (published++ === 0) return publish(...args);
      throw new Error('broker refused');
    };
    const r = await env.app.sendTask('t.nopub');
    try {
      await expect(r.get({ timeoutMs: 2000 })).rejects.toMatchObject({ message: 'broker refused' });
    } finally {
      env.broker.publish = publish;
    }
  });
});

describe('autoretryFor', () => {
  it('retries listed errors with exponential backoff and full jitter from the injected randomness', async () => {
    const env = makeEnv({}, { fakeClock: true });
    const draws = [0.5, 0.999];
    (env.app as { random: () => number }).random = () => draws.shift() ?? 0;
    let runs = 0;
    const t = env.app.task('t.auto', { autoretryFor: [TypeError], retryBackoff: 2, maxRetries: 2 }, () => {
      runs++;
      throw new TypeError('flaky');
    });
    await env.startWorker();
    const r = await t.delay();
    const start = env.clock!.now();
    await waitFor(() => publishedFor(env, r.id).length === 2, 'first retry');
    // retries 0: countdown min(600, 2 * 2**0) = 2; jitter 0.5 -> floor(0.5 * 3) = 1 s.
    expect(publishedFor(env, r.id)[1]?.deliverAt).toBe(start + 1000);
    env.clock!.advance(1000);
    await waitFor(() => publishedFor(env, r.id).length === 3, 'second retry');
    // retries 1: countdown 4; jitter 0.999 -> 4 s.
    expect(publishedFor(env, r.id)[2]?.deliverAt).toBe(start + 1000 + 4000);
    env.clock!.advance(4000);
    await expect(r.get({ timeoutMs: 2000 })).rejects.toMatchObject({ excType: 'TypeError', message: 'flaky' });
    expect(runs).toBe(3);
  });

  it('does not retry errors it does not list', async () => {
    const env = makeEnv({}, { fakeClock: true });
    const t = env.app.task('t.other', { autoretryFor: [TypeError] }, () => {
      throw new RangeError('not listed');
    });
    await env.startWorker();
    const r = await t.delay();
    await expect(r.get({ timeoutMs: 2000 })).rejects.toMatchObject({ excType: 'RangeError' });
    expect(publishedFor(env, r.id)).toHaveLength(1);
  });

  it('fails at once on an error dontAutoretryFor names, though autoretryFor covers it', async () => {
    class NotFound extends TypeError {
      override name = 'NotFound';
    }
    const env = makeEnv({}, { fakeClock: true });
    const t = env.app.task('t.dont', { autoretryFor: [TypeError], dontAutoretryFor: [NotFound] }, (missing: boolean) => {
      throw missing ? new NotFound('gone') : new TypeError('flaky');
    });
    await env.startWorker();
    const gone = await t.delay(true);
    await expect(gone.get({ timeoutMs: 2000 })).rejects.toMatchObject({ excType: 'NotFound', message: 'gone' });
    expect(publishedFor(env, gone.id)).toHaveLength(1);
    const flaky = await t.delay(false);
    await waitFor(() => publishedFor(env, flaky.id).length === 2, 'the retry of the error not excluded');
  });
});
