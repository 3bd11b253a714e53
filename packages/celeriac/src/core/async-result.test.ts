import { describe, expect, it, vi } from 'vitest';
import { createTestApp } from '../testing/test-app.js';
import type { ResultMeta } from '../protocol/types.js';
import { decodeEnvelope } from '../protocol/envelope.js';
import { GroupResult } from './group-result.js';
import { ResultTimeoutError, TaskError, TaskRevokedError } from './task-errors.js';
import { waitFor } from '../testing/wait-for.js';
import { ProtocolError } from '../protocol/errors.js';
import { describeGiven } from './option-names.js';

function meta(id: string, status: string, result: ResultMeta['result'], extra: Partial<ResultMeta> = {}): ResultMeta {
  return { status, result, traceback: null, children: [], date_done: status === 'SUCCESS' ? '2026-11-21T14:00:00' : null, task_id: id, ...extra };
}

describe('AsyncResult', () => {
  it('reads PENDING for an unknown id', async () => {
    const { app } = createTestApp();
    const r = app.asyncResult('nope');
    expect(await r.state()).toBe('PENDING');
    expect(await r.ready()).toBe(false);
    expect(await r.info()).toBeNull();
  });

  it('get() waits for a pushed result without polling', async () => {
    const { app, backend } = createTestApp();
    const getSpy = vi.spyOn(backend, 'get');
    const r = app.asyncResult<number>('t1');
    const pending = r.get({ timeoutMs: 5000 });
    // One read, then the subscription, then the read that covers the gap between them.
    await waitFor(() => getSpy.mock.calls.length === 2, 'get() to look twice and wait');
    await backend.store(meta('t1', 'STARTED', null), { expiresSec: null });
    await backend.store(meta('t1', 'SUCCESS', 42), { expiresSec: null });
    expect(await pending).toBe(42);
    expect(getSpy).toHaveBeenCalledTimes(2);
  });

  it('get() of a stored result reads once and never subscribes', async () => {
    const { app, backend } = createTestApp();
    await backend.store(meta('t2', 'SUCCESS', 'done'), { expiresSec: null });
    const read = vi.spyOn(backend, 'get');
    const subscribe = vi.spyOn(backend, 'subscribe');
    expect(await app.asyncResult('t2').get({ timeoutMs: 100 })).toBe('done');
    expect(read).toHaveBeenCalledTimes(1);
    expect(subscribe).not.toHaveBeenCalled();
  });

  it('get() subscribes after a read of a result not ready yet (STARTED)', async () => {
    const { app, backend } = createTestApp();
    await backend.store(meta('t2b', 'STARTED', null), { expiresSec: null });
    const subscribe = vi.spyOn(backend, 'subscribe');
    const pending = app.asyncResult<string>('t2b').get({ timeoutMs: 5000 });
    await vi.waitFor(() => expect(subscribe).toHaveBeenCalledTimes(1));
    await backend.store(meta('t2b', 'SUCCESS', 'later'), { expiresSec: null });
    expect(await pending).toBe('later');
  });

  it('get() takes a result pushed while its second read is in flight, without waiting for the read', async () => {
    const { app, backend } = createTestApp();
    let answerRead!: (meta: ResultMeta | null) => void;
    const read = vi
      .spyOn(backend, 'get')
      .mockResolvedValueOnce(null)
      .mockImplementation(() => new Promise((resolve) => (answerRead = resolve)));
    const pending = app.asyncResult<number>('t3').get({ timeoutMs: 5000 });
    await vi.waitFor(() => expect(read).toHaveBeenCalledTimes(2));
    await backend.store(meta('t3', 'SUCCESS', 7), { expiresSec: null });
    expect(await pending).toBe(7);
    answerRead(null);
  });

  it('get() does not miss a result stored between its first read and its subscription', async () => {
    const { app, backend } = createTestApp();
    // The first read answers "nothing yet", and the result lands before the subscription exists.
    const read = vi.spyOn(backend, 'get').mockImplementationOnce(async () => {
      await backend.store(meta('t3b', 'SUCCESS', 'between'), { expiresSec: null });
      return null;
    });
    expect(await app.asyncResult<string>('t3b').get({ timeoutMs: 5000 })).toBe('between');
    expect(read).toHaveBeenCalledTimes(2);
  });

  it('get() reads again only once the subscription took effect', async () => {
    const { app, backend } = createTestApp();
    let confirm!: () => void;
    const subscribe = backend.subscribe.bind(backend);
    vi.spyOn(backend, 'subscribe').mockImplementation(async (id, listener) => {
      const unsubscribe = await subscribe(id, listener);
      await new Promise<void>((resolve) => (confirm = resolve));
      return unsubscribe;
    });
    const read = vi.spyOn(backend, 'get');
    const pending = app.asyncResult<number>('t4').get({ timeoutMs: 5000 });
    await vi.waitFor(() => expect(confirm).toBeTypeOf('function'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(read).toHaveBeenCalledTimes(1);
    confirm();
    await vi.waitFor(() => expect(read).toHaveBeenCalledTimes(2));
    await backend.store(meta('t4', 'SUCCESS', 8), { expiresSec: null });
    expect(await pending).toBe(8);
  });

  it('get() fails with the read error when no result came first', async () => {
    const { app, backend } = createTestApp();
    vi.spyOn(backend, 'get').mockRejectedValue(new Error('read failed'));
    await expect(app.asyncResult('t5').get({ timeoutMs: 5000 })).rejects.toThrow('read failed');
  });

  it('get() times out with ResultTimeoutError', async () => {
    const { app } = createTestApp();
    await expect(app.asyncResult('never').get({ timeoutMs: 30 })).rejects.toBeInstanceOf(ResultTimeoutError);
    await expect(app.asyncResult('never').get({ timeoutMs: -1 })).rejects.toThrow(/timeoutMs must be milliseconds/);
  });

  it('get() still takes the deprecated `timeout` (milliseconds), warning once per process; timeoutMs wins when both are given', async () => {
    const { app } = createTestApp();
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    await expect(app.asyncResult('never').get({ timeout: 30 })).rejects.toMatchObject({ timeoutMs: 30 });
    await expect(app.asyncResult('never').get({ timeout: 60_000, timeoutMs: 30 })).rejects.toMatchObject({ timeoutMs: 30 });
    const group = new GroupResult('g', [app.asyncResult('a')], app);
    await expect(group.get({ timeout: 30 })).rejects.toBeInstanceOf(ResultTimeoutError);
    await new Promise<void>((resolve) => setImmediate(resolve)); // 'warning' is emitted on the next tick
    process.off('warning', onWarning);
    expect(warnings.filter((w) => (w as { code?: string }).code === 'CELERIAC_DEP_GET_TIMEOUT').map((w) => [w.name, w.message])).toEqual([
      ['DeprecationWarning', 'get({ timeout }) is deprecated: use get({ timeoutMs }) (the same number of milliseconds); see docs/upgrading.md'],
    ]);
  });

  it("a group's timeout is measured on the app's clock", async () => {
    const { app, backend, clock } = createTestApp();
    await backend.store(meta('a', 'SUCCESS', 1), { expiresSec: null });
    // Reading the first member takes a minute of the app's (fake) time: the group's minute is
    // spent, so it ends before waiting on the second member (by the wall clock it would wait).
    const get = backend.get.bind(backend);
    vi.spyOn(backend, 'get').mockImplementation(async (id) => {
      if (id === 'a') clock.advance(60_000);
      return get(id);
    });
    const group = new GroupResult('g', [app.asyncResult('a'), app.asyncResult('never')], app);
    await expect(group.get({ timeoutMs: 60_000 })).rejects.toBeInstanceOf(ResultTimeoutError);
  });

  it('get() refuses options that are not an object, a signal that is not an AbortSignal and a timeout that is not a number; null is no options', async () => {
    const { app, backend } = createTestApp();
    const never = app.asyncResult('never');
    const group = new GroupResult('g', [never], app);
    // A number waited forever; null and a string signal failed with a TypeError.
    for (const wait of [(o: unknown) => never.get(o as never), (o: unknown) => group.get(o as never), (o: unknown) => app.sendTask('t', []).get(o as never)]) {
      await expect(wait(5)).rejects.toThrow('get(): the options must be an object, got number');
      await expect(wait([])).rejects.toThrow('get(): the options must be an object, got an array');
      await expect(wait({ signal: 'x', timeoutMs: 100 })).rejects.toThrow('get(): signal must be an AbortSignal, got string');
      await expect(wait({ timeoutMs: '100' })).rejects.toThrow('get(): timeoutMs must be milliseconds >= 0, got "100"');
    }
    // A group's deadline was computed from these: a string made it ~57,000 years away, -1 a timeout.
    await expect(group.get({ timeoutMs: -1 })).rejects.toThrow('get(): timeoutMs must be milliseconds >= 0, got -1');
    await backend.store(meta('done', 'SUCCESS', 7), { expiresSec: null });
    expect(await app.asyncResult('done').get(null as never)).toBe(7);
    expect(await new GroupResult('g2', [app.asyncResult('done')], app).get(null as never)).toEqual([7]);
  });

  it('get() can be aborted with a signal', async () => {
    const { app } = createTestApp();
    const ac = new AbortController();
    const p = app.asyncResult('never').get({ signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toThrow(/aborted/);
  });

  it('rebuilds failures as typed errors and propagates them', async () => {
    const { app, backend } = createTestApp();
    await backend.store(
      meta('f1', 'FAILURE', { exc_type: 'ValueError', exc_message: ['kaboom'], exc_module: 'builtins' }, { traceback: 'Traceback...' }),
      { expiresSec: null },
    );
    const r = app.asyncResult('f1');
    const err = await r.get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskError);
    expect(err).toMatchObject({ name: 'ValueError', excType: 'ValueError', excModule: 'builtins', message: 'kaboom', traceback: 'Traceback...' });
    const returned = await r.get({ propagate: false });
    expect(returned).toBeInstanceOf(TaskError);
    expect(await r.failed()).toBe(true);
    expect(await r.successful()).toBe(false);
    expect(await r.traceback()).toBe('Traceback...');
  });

  it('a FAILURE, RETRY or REVOKED meta holding no exception record gives a ProtocolError, not the stored value thrown', async () => {
    const { app, backend } = createTestApp();
    const stored: [string, string, ResultMeta['result']][] = [
      ['n1', 'FAILURE', 5],
      ['n2', 'FAILURE', { exc_message: ['no type'] }],
      ['n3', 'FAILURE', { exc_type: 7, exc_message: ['type not a string'] }],
      ['n4', 'REVOKED', 'revoked'],
      // Not ready: get() waits on, info() gives the error.
      ['n5', 'RETRY', null],
    ];
    for (const [id, status, result] of stored) await backend.store(meta(id, status, result), { expiresSec: null });
    for (const [id, status, result] of stored) {
      const r = app.asyncResult(id);
      const info = await r.info();
      expect(info).toBeInstanceOf(ProtocolError);
      expect((info as ProtocolError).message).toBe(
        `Task ${id} is ${status}, but its stored result is not an exception record ({exc_type, exc_message, exc_module}): got ${describeGiven(result)}`,
      );
      if (status === 'RETRY') continue;
      // Ready states: get() reads them once and answers, with no wait.
      await expect(r.get()).rejects.toThrow(info as ProtocolError);
      expect(await r.get({ propagate: false })).toBeInstanceOf(ProtocolError);
    }
  });

  it('turns REVOKED into TaskRevokedError', async () => {
    const { app, backend } = createTestApp();
    await backend.store(meta('rv', 'REVOKED', { exc_type: 'TaskRevokedError', exc_message: ['expired'], exc_module: 'celery.exceptions' }), { expiresSec: null });
    const err = await app.asyncResult('rv').get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskRevokedError);
    expect((err as TaskRevokedError).reason).toBe('expired');
  });

  it('info() returns custom state meta; children() follows the stored children', async () => {
    const { app, backend } = createTestApp();
    await backend.store(meta('p1', 'PROGRESS', { done: 3 }), { expiresSec: null });
    expect(await app.asyncResult('p1').state()).toBe('PROGRESS');
    expect(await app.asyncResult('p1').info()).toEqual({ done: 3 });
    await backend.store(meta('p2', 'SUCCESS', 1, { children: [[['c1', null], null]] }), { expiresSec: null });
    const kids = await app.asyncResult('p2').children();
    expect(kids.map((k) => k.id)).toEqual(['c1']);
  });

  it('revoke() persists in the backend; forget() deletes the record', async () => {
    const { app, backend } = createTestApp();
    await app.asyncResult('x').revoke();
    expect([...(await backend.revoked(['x', 'y']))]).toEqual(['x']);
    await backend.store(meta('z', 'SUCCESS', 1), { expiresSec: null });
    await app.asyncResult('z').forget();
    expect(await backend.get('z')).toBeNull();
  });

  it('app.asyncResult() refuses an id that is not a non-empty string', () => {
    const { app } = createTestApp();
    for (const [id, got] of [[undefined, 'undefined'], [5, '5'], ['', '""'], [null, 'null']] as const) {
      expect(() => app.asyncResult(id as never)).toThrow(`asyncResult(): a task id must be a non-empty string, got ${got}`);
    }
    expect(app.asyncResult('a-b').id).toBe('a-b');
  });

  it('revoke() refuses options no worker could act on, before anything is stored or broadcast', async () => {
    const { app, backend, broker } = createTestApp();
    const sent: string[] = [];
    const fanout = broker.publishFanout.bind(broker);
    vi.spyOn(broker, 'publishFanout').mockImplementation((exchange, key, raw) => {
      sent.push(String(raw));
      return fanout(exchange, key, raw);
    });
    const group = new GroupResult('g', [app.asyncResult('m1')], app);
    const wrong: [unknown, string][] = [
      [5, 'revoke(): the options must be an object, got number'],
      [{ terminate: 'yes' }, 'revoke(): terminate must be true or false, got "yes"'],
      [{ terminate: true, signal: 'SIGFOO' }, 'revoke(): unknown signal "SIGFOO"'],
      [{ terminate: true, signal: {} }, "revoke(): signal must be a signal's name or number, got object"],
    ];
    for (const [options, message] of wrong) {
      // Each was stored and broadcast before (a terminate with SIGFOO no worker can send).
      await expect(app.asyncResult('x').revoke(options as never), JSON.stringify(options)).rejects.toThrow(message);
      await expect(group.revoke(options as never), JSON.stringify(options)).rejects.toThrow(message);
    }
    expect([...(await backend.revoked(['x', 'm1']))]).toEqual([]);
    expect(sent).toEqual([]);
    // A name or number is sent as its full name; null is no options.
    await app.asyncResult('x').revoke({ terminate: true, signal: 'kill' });
    await app.asyncResult('y').revoke({ terminate: true, signal: 9 as never });
    await app.asyncResult('w').revoke(null as never);
    const signals = sent.map((raw) => (JSON.parse(decodeEnvelope(raw).message.body) as { arguments: { signal: string } }).arguments.signal);
    expect(signals).toEqual(['SIGKILL', 'SIGKILL', 'SIGTERM']);
    expect([...(await backend.revoked(['x', 'y', 'w']))].sort()).toEqual(['w', 'x', 'y']);
  });
});
