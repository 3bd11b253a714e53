/**
 * What goes wrong and how the worker survives it: task failures (stored like Celery's
 * exception records), unknown task names, and malformed messages (set aside, never run).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { chord, TaskError, type ResultMeta } from 'celeriac';
import type { Message } from '../../src/protocol/types.js';
import { closeEnvs, flush, makeEnv, waitFor, waitForState, type TestEnv } from './helpers.js';

afterEach(closeEnvs);

class ValueError extends Error {
  override name = 'ValueError';
}

class QuotaExceeded extends Error {
  override name = 'QuotaExceeded';
}

async function failWith(thrown: () => unknown): Promise<{ env: TestEnv; id: string; meta: ResultMeta }> {
  const env = makeEnv();
  const t = env.app.task('t.fail', () => {
    throw thrown();
  });
  await env.startWorker();
  const r = await t.delay();
  const meta = await waitForState(env, r.id, 'FAILURE');
  return { env, id: r.id, meta };
}

describe('task failure', () => {
  it('stores FAILURE with exc_type/exc_message/exc_module, a traceback and date_done', async () => {
    const { meta, id } = await failWith(() => new ValueError('kaboom'));
    expect(meta).toMatchObject({
      status: 'FAILURE',
      result: { exc_type: 'ValueError', exc_message: ['kaboom'], exc_module: 'builtins' },
      children: [],
      date_done: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      task_id: id,
    });
    expect(typeof meta.traceback).toBe('string');
    expect(meta.traceback).toContain('ValueError: kaboom');
  });

  it('a plain Error is stored as Exception (builtins)', async () => {
    const { meta } = await failWith(() => new Error('plain'));
    expect(meta.result).toEqual({ exc_type: 'Exception', exc_message: ['plain'], exc_module: 'builtins' });
  });

  it('a JS builtin error keeps its name (TypeError -> builtins)', async () => {
    const { meta } = await failWith(() => new TypeError('bad type'));
    expect(meta.result).toEqual({ exc_type: 'TypeError', exc_message: ['bad type'], exc_module: 'builtins' });
  });

  it('a custom error name is stored with a null module', async () => {
    const { meta } = await failWith(() => new QuotaExceeded('over'));
    expect(meta.result).toEqual({ exc_type: 'QuotaExceeded', exc_message: ['over'], exc_module: null });
  });

  it('a thrown non-Error is normalised', async () => {
    const { meta } = await failWith(() => 'just a string');
    expect(meta.result).toEqual({ exc_type: 'Exception', exc_message: ['just a string'], exc_module: 'builtins' });
  });

  it('an error whose message cannot be read is stored as <unprintable Error object>, not handed back for ever', async () => {
    const { env, meta, id } = await failWith(() => {
      const err = new Error('x');
      Object.defineProperty(err, 'message', {
        get() {
          throw new Error('the message getter threw');
        },
      });
      return err;
    });
    expect(meta.result).toEqual({ exc_type: 'Exception', exc_message: ['<unprintable Error object>'], exc_module: 'builtins' });
    expect(env.lines.filter((l) => /could not finish handling/.test(String(l.msg)))).toEqual([]);
    await expect(env.app.asyncResult(id).get({ timeoutMs: 2000 })).rejects.toThrow('<unprintable Error object>');
  });

  it('a thrown null or undefined is stored as an exception record, and get() rejects with a TaskError', async () => {
    for (const thrown of [null, undefined]) {
      const { env, meta, id } = await failWith(() => thrown);
      // The result was null before, and get() rejected with null.
      expect(meta.result).toEqual({ exc_type: 'Exception', exc_message: [`Non-error thrown: ${String(thrown)}`], exc_module: 'builtins' });
      const err = await env.app.asyncResult(id).get({ timeoutMs: 2000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TaskError);
    }
  });

  it('a thrown revoked Proxy (its every trap throws, `instanceof` too) is stored FAILURE once, not given back for ever', async () => {
    const revoked = (): unknown => {
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      return proxy;
    };
    const env = makeEnv();
    let runs = 0;
    const t = env.app.task('t.revoked', () => {
      runs++;
      throw revoked();
    });
    await env.startWorker();
    const { id } = await t.delay();
    const meta = await waitForState(env, id, 'FAILURE');
    expect(meta.result).toEqual({ exc_type: 'Exception', exc_message: ['Non-error thrown: <unprintable value>'], exc_module: 'builtins' });
    await waitFor(() => env.timeline.some((e) => e.startsWith('ack:')), 'the ack');
    expect(runs).toBe(1);
  });

  it('AsyncResult.get() throws TaskError with excType; propagate:false returns it', async () => {
    const { env, id } = await failWith(() => new ValueError('kaboom'));
    const r = env.app.asyncResult(id);
    const err = await r.get({ timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskError);
    expect(err).toMatchObject({ excType: 'ValueError', excModule: 'builtins', message: 'kaboom', name: 'ValueError', taskId: id });
    expect((err as TaskError).traceback).toContain('kaboom');
    const returned = await r.get({ timeoutMs: 2000, propagate: false });
    expect(returned).toBeInstanceOf(TaskError);
    expect((returned as unknown as TaskError).excType).toBe('ValueError');
    expect(await r.failed()).toBe(true);
  });

  it('logs the failure with task id and name, and keeps running', async () => {
    const { env, id } = await failWith(() => new ValueError('kaboom'));
    const line = await waitFor(() => env.lines.find((l) => l.level === 50 && l.taskId === id), 'error line');
    expect(line).toMatchObject({ taskName: 't.fail' });
    // Celery's line: "Task t.fail[<id>] raised unexpected: ValueError('kaboom')".
    expect(line.msg).toBe(`Task t.fail[${id}] raised unexpected: ValueError('kaboom')`);
    const ok = env.app.task('t.ok', () => 'fine');
    expect(await (await ok.delay()).get({ timeoutMs: 2000 })).toBe('fine');
  });
});

describe('errors a log line cannot carry whole', () => {
  it('a 100,000-deep cause chain, 100,000 aggregated errors or a 1 MB message: FAILURE once, logged clipped, never given back', async () => {
    // Before: the logger's serializer overflowed the stack on the cause chain, which the worker
    // took for a failure of its own: the message was given back (late acks: the task ran again).
    const env = makeEnv({ taskAcksLate: true, workerRedeliveryDelaySec: 0.01 });
    let runs = 0;
    const deep = env.app.task('t.deep_cause', () => {
      runs++;
      let e = new Error('root');
      for (let i = 0; i < 100_000; i++) e = new Error(`level ${i}`, { cause: e });
      throw e;
    });
    const many = env.app.task('t.many', () => {
      throw new AggregateError(Array.from({ length: 100_000 }, (_, i) => new Error(`e${i}`)), 'many');
    });
    const long = env.app.task('t.long', () => {
      const e = new Error('x'.repeat(1_000_000)) as Error & { status?: number };
      e.status = 503;
      throw e;
    });
    await env.startWorker();
    const ids = [(await deep.delay()).id, (await many.delay()).id, (await long.delay()).id];
    for (const id of ids) await waitForState(env, id, 'FAILURE');
    // The settlement decides it: a message given back is deferred, never acked.
    await waitFor(() => ids.every((id) => env.broker.settlements(id).length > 0), 'each message settled');
    expect(runs).toBe(1);
    for (const id of ids) expect(env.broker.settlements(id)).toEqual(['ack']);
    const logged = (id: string) => env.lines.find((l) => l.taskId === id && l.level === 50) as unknown as { msg: string; err: { message: string; stack: string; aggregateErrors?: unknown[]; status?: number } };
    // pino writes the causes into the stack, each after `caused by: `.
    expect(logged(ids[0]!).err.stack.split('caused by: ')).toHaveLength(9);
    expect(logged(ids[1]!).err.aggregateErrors).toHaveLength(10);
    expect(logged(ids[2]!).err.message.length).toBeLessThan(70_000);
    expect(logged(ids[2]!).msg.length).toBeLessThan(70_000);
    expect(logged(ids[2]!).err.status).toBe(503);
    expect(env.lines.some((l) => String(l.msg).includes('could not finish handling'))).toBe(false);
  });
});

describe('errors of code not ours that a log line cannot carry whole', () => {
  it('a signal handler, a task hook and an event listener throwing a 20,000-deep cause chain: the task succeeds once, each logged', async () => {
    const env = makeEnv({ taskAcksLate: true, workerRedeliveryDelaySec: 0.01 });
    const deepError = (): Error => {
      let e = new Error('root');
      for (let i = 0; i < 20_000; i++) e = new Error(`level ${i}`, { cause: e });
      return e;
    };
    let runs = 0;
    const t = env.app.task('t.hooked', { onSuccess: () => { throw deepError(); } }, () => ++runs);
    env.app.signals.on('taskPostrun', () => {
      throw deepError();
    });
    const worker = await env.startWorker();
    worker.onTaskEvent(() => {
      throw deepError();
    });
    const r = await t.delay();
    expect(await r.get({ timeoutMs: 5000 })).toBe(1);
    // The settlement decides it: a message given back is deferred, never acked.
    await waitFor(() => env.broker.settlements(r.id).length > 0, 'the message settled');
    expect(runs).toBe(1);
    expect(env.broker.settlements(r.id)).toEqual(['ack']);
    const errors = env.lines.filter((l) => l.level === 50).map((l) => String(l.msg));
    expect(errors).toContain('a taskPostrun signal handler failed (ignored: the task and worker go on)');
    expect(errors).toContain("the onSuccess hook of t.hooked failed (ignored: the task's outcome stands)");
    expect(errors).toContain('task event listener threw');
    expect(errors.some((m) => m.includes('could not finish handling'))).toBe(false);
  });
});

describe('results that cannot be stored', () => {
  it('stores FAILURE EncodeError (kombu.exceptions) instead of losing the end of the task', async () => {
    const env = makeEnv();
    const t = env.app.task('t.unstorable', () => ({ fn: () => 1 }) as never);
    await env.startWorker();
    const r = await t.delay();
    const meta = await waitForState(env, r.id, 'FAILURE');
    expect(meta.result).toMatchObject({ exc_type: 'EncodeError', exc_module: 'kombu.exceptions' });
    expect(env.lines.some((l) => l.level === 50 && l.taskId === r.id && String(l.msg).includes('raised unexpected: EncodeError('))).toBe(true);
  });
});

describe('results that cannot be encoded are task failures, never a redelivery loop', () => {
  const deep = (levels: number): unknown => {
    let value: unknown = 'leaf';
    for (let i = 0; i < levels; i++) value = [value];
    return value;
  };

  for (const acksLate of [true, false]) {
    it(`a 5,000-level return value runs once and ends FAILURE EncodeError (${acksLate ? 'late' : 'early'} acks)`, async () => {
      // Before: RangeError from the writer was taken for a backend outage, the message given
      // back and re-run ~200 times a second (late acks), or left PENDING (early acks).
      const env = makeEnv({ taskAcksLate: acksLate });
      let runs = 0;
      const t = env.app.task('t.deep', () => {
        runs += 1;
        return deep(5000) as never;
      });
      await env.startWorker();
      const r = await t.delay();
      const meta = await waitForState(env, r.id, 'FAILURE');
      expect(meta.result).toMatchObject({ exc_type: 'EncodeError', exc_module: 'kombu.exceptions' });
      expect(String((meta.result as { exc_message: string[] }).exc_message[0])).toContain('nested deeper than 1000 levels');
      await flush();
      expect(runs).toBe(1);
      expect(env.broker.settlements(r.id)).toEqual(['ack']);
    });
  }

  it('a Date result is stored as the ISO string kombu writes; a Map result is an EncodeError', async () => {
    const env = makeEnv();
    const when = env.app.task('t.when', () => ({ at: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)) }) as never);
    const map = env.app.task('t.map', () => new Map([['a', 1]]) as never);
    await env.startWorker();
    const ok = await when.delay();
    expect((await waitForState(env, ok.id, 'SUCCESS')).result).toEqual({ at: '2024-01-02T03:04:05Z' });
    const bad = await map.delay();
    const meta = await waitForState(env, bad.id, 'FAILURE');
    expect(meta.result).toMatchObject({ exc_type: 'EncodeError', exc_message: ['Cannot serialize a Map as JSON'] });
  });
});

describe('a return value that cannot be encoded is a failure everywhere, not a success in all but the backend', () => {
  it('task-failed, the failure log line, taskFailure and the errback, as Celery ends it; never task-succeeded', async () => {
    // Before: FAILURE EncodeError was stored, while the event said task-succeeded (so the
    // dashboard and `celery events` showed SUCCESS), the log said "succeeded" and no errback ran.
    const env = makeEnv();
    const map = env.app.task('t.map', () => new Map([['a', 1]]) as never);
    const errbacks: string[] = [];
    const onErr = env.app.task('t.on_err', (id: string) => void errbacks.push(id));
    const failures: unknown[] = [];
    env.app.signals.on('taskFailure', ({ id, error, request }) => void failures.push({ id, error: (error as Error).name, request }));
    const worker = await env.startWorker();
    const events: string[] = [];
    worker.onTaskEvent((event) => {
      if (event.message.headers.task === 't.map') events.push(event.type);
    });
    const r = await map.applyAsync([], { linkError: onErr.s() });
    const meta = await waitForState(env, r.id, 'FAILURE');
    expect(meta.result).toMatchObject({ exc_type: 'EncodeError', exc_message: ['Cannot serialize a Map as JSON'], exc_module: 'kombu.exceptions' });
    await waitFor(() => errbacks.length === 1, 'errback run');
    expect(errbacks).toEqual([r.id]);
    await waitFor(() => events.includes('task-failed'), 'task-failed');
    expect(events).toEqual(['task-received', 'task-started', 'task-failed']);
    expect(failures).toEqual([{ id: r.id, error: 'EncodeError', request: null }]);
    const mine = env.lines.filter((l) => l.taskId === r.id && l.level >= 30).map((l) => String(l.msg));
    expect(mine).toContain(`Task t.map[${r.id}] raised unexpected: EncodeError('Cannot serialize a Map as JSON')`);
    expect(mine.some((m) => m.includes('succeeded'))).toBe(false);
    await waitFor(() => env.broker.settlements(r.id).length === 1, 'settled');
    expect(env.broker.settlements(r.id)).toEqual(['ack']);
  });

  it('a chord member whose value cannot be encoded fails the chord instead of counting as done', async () => {
    const env = makeEnv();
    const ok = env.app.task('t.ok', () => 1);
    const map = env.app.task('t.map', () => new Map() as never);
    const bodies: unknown[] = [];
    const body = env.app.task('t.body', (values: unknown) => void bodies.push(values));
    await env.startWorker();
    const r = await chord([ok.s(), map.s()], body.s()).applyAsync();
    const err = await r.get({ timeoutMs: 3000 }).catch((e: unknown) => e);
    // Before: the member counted as a success, and the body's call failed on the value instead.
    expect(err).toMatchObject({ name: 'ChordError', message: expect.stringMatching(/^Dependency [0-9a-f-]+ raised EncodeError\('Cannot serialize a Map as JSON'\)$/) });
    expect(bodies).toEqual([]);
  });
});

describe('arguments JSON cannot hold are refused at send time', () => {
  it('NaN, Infinity, Map, Set and a function reject with INVALID_ARGUMENT naming the task; nothing is sent', async () => {
    const env = makeEnv();
    const t = env.app.task('t.args', (..._args: unknown[]) => null);
    for (const [bad, what] of [[NaN, 'NaN'], [Infinity, 'Infinity'], [new Map(), 'a Map'], [new Set([1]), 'a Set'], [() => 1, 'a function']] as const) {
      const err = await t.delay(bad as never).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'CELERIAC_ERR_INVALID_ARGUMENT', message: `arguments of t.args: Cannot serialize ${what} as JSON` });
    }
    expect(env.broker.published).toHaveLength(0);
  });

  it('a bigint argument travels as the JSON integer a Python caller would send, and arrives as the same bigint', async () => {
    const env = makeEnv();
    const t = env.app.task('t.big', (n: bigint) => n * 2n);
    await env.startWorker();
    const r = await t.delay(2n ** 64n);
    const sent = env.broker.published[0]?.message;
    expect(sent?.body).toContain('[[18446744073709551616], {}, ');
    expect(sent?.headers['argsrepr']).toBe('(18446744073709551616,)');
    expect(await r.get({ timeoutMs: 2000 })).toBe(2n ** 65n);
  });

  it('a Date argument travels as the ISO string a Python caller would send', async () => {
    const env = makeEnv();
    const t = env.app.task('t.args', (..._args: unknown[]) => null);
    await t.delay(new Date(0) as never);
    const sent = env.broker.published[0]?.message;
    expect(JSON.parse(sent?.body ?? 'null')[0]).toEqual(['1970-01-01T00:00:00Z']);
    expect(sent?.headers['argsrepr']).toBe("('1970-01-01T00:00:00Z',)");
  });
});

describe('unregistered task', () => {
  it('rejects (as Celery), stores FAILURE NotRegistered, logs an error and keeps running', async () => {
    const env = makeEnv();
    const ok = env.app.task('t.ok', () => 'fine');
    const worker = await env.startWorker();
    const r = await env.app.sendTask('t.nosuch', [1, 2]);
    const meta = await waitForState(env, r.id, 'FAILURE');
    expect(meta).toMatchObject({
      status: 'FAILURE',
      result: { exc_type: 'NotRegistered', exc_message: ['t.nosuch'], exc_module: 'celery.exceptions' },
      traceback: null,
      task_id: r.id,
    });
    await flush();
    expect(env.broker.settlements(r.id)).toEqual(['reject']);
    expect(await env.broker.queueLength('celery')).toBe(0);
    const line = env.lines.find((l) => l.level === 50 && l.taskId === r.id);
    expect(line?.msg).toContain('unregistered task');
    expect(line?.msg).toContain('t.nosuch');
    await expect(r.get({ timeoutMs: 2000 })).rejects.toMatchObject({ excType: 'NotRegistered' });
    expect(worker.state).toBe('running');
    expect(await (await ok.delay()).get({ timeoutMs: 2000 })).toBe('fine');
  });
});

describe('malformed messages', () => {
  const props = (id: string) => ({ correlation_id: id, reply_to: '', delivery_mode: 2 as const, priority: 0 });
  const message = (id: string, body: string, contentType = 'application/json'): Message => ({
    headers: { lang: 'py', task: 't.victim', id },
    properties: props(id),
    contentType,
    contentEncoding: 'utf-8',
    body,
  });
  const cases: [string, Message, RegExp][] = [
    ['a body that is not JSON', message('m-json', '[[1], {}, {'), /bad-json/],
    ['pickle (application/x-python-serialize)', message('m-pickle', 'gASVAAAAAAAAAACMCGJ1aWx0aW5zlC4=', 'application/x-python-serialize'), /unsafe-content-type/],
    ['a 2-element body', message('m-two', '[[1, 2], {}]'), /bad-body/],
    ['a v2 body whose args is not a list', message('m-args', '[{"x": 1}, {}, {}]'), /bad-body: args is not a list/],
  ];

  async function setup() {
    const env = makeEnv();
    let victimRuns = 0;
    env.app.task('t.victim', () => ++victimRuns);
    const ok = env.app.task('t.ok', () => 'fine');
    const worker = await env.startWorker();
    return { env, ok, worker, runs: () => victimRuns };
  }

  for (const [label, msg, reason] of cases) {
    it(`sets aside ${label} with a reason, never runs it, keeps running`, async () => {
      const { env, ok, worker, runs } = await setup();
      await env.broker.publish(msg, { exchange: '', routingKey: 'celery' });
      const [record] = await waitFor(async () => {
        const list = await env.broker.setAsideMessages();
        return list.length === 1 ? list : null;
      }, 'set-aside record');
      expect(record?.queue).toBe('celery');
      expect(record?.reason).toMatch(reason);
      expect(JSON.parse(record?.raw ?? '{}').headers.id).toBe(msg.headers['id']);
      expect(env.broker.settlements(String(msg.headers['id']))).toEqual(['setAside']);
      expect(env.lines.some((l) => l.level === 50 && l.msg.includes('malformed message set aside'))).toBe(true);
      expect(await (await ok.delay()).get({ timeoutMs: 2000 })).toBe('fine');
      expect(runs()).toBe(0);
      // Its id and task name can be read: its caller's get() ends with the reason (worker/unreadable.ts).
      expect(await env.backend.get(String(msg.headers['id']))).toMatchObject({ status: 'FAILURE', result: { exc_type: 'DecodeError', exc_module: 'kombu.exceptions', exc_message: [expect.stringMatching(new RegExp(`^message of task t\\.victim could not be decoded: ${reason.source}`))] } });
      expect(worker.state).toBe('running');
    });
  }

  it('sets aside all four in a row and then runs a good task', async () => {
    const { env, ok, runs } = await setup();
    for (const [, msg] of cases) await env.broker.publish(msg, { exchange: '', routingKey: 'celery' });
    const good = await ok.delay();
    expect(await good.get({ timeoutMs: 2000 })).toBe('fine');
    const records = await waitFor(async () => {
      const list = await env.broker.setAsideMessages();
      return list.length === 4 ? list : null;
    }, 'four set-aside records');
    expect(records.map((r) => JSON.parse(r.raw).headers.id).sort()).toEqual(['m-args', 'm-json', 'm-pickle', 'm-two']);
    expect(runs()).toBe(0);
  });

  it('sets aside an unknown content type (text/plain)', async () => {
    const { env, ok, runs } = await setup();
    await env.broker.publish(message('m-env', '[[], {}, {}]', 'text/plain'), { exchange: '', routingKey: 'celery' });
    const [record] = await waitFor(async () => {
      const list = await env.broker.setAsideMessages();
      return list.length === 1 ? list : null;
    }, 'set-aside record');
    expect(record?.reason).toMatch(/unknown-content-type/);
    expect(await (await ok.delay()).get({ timeoutMs: 2000 })).toBe('fine');
    expect(runs()).toBe(0);
  });
});
