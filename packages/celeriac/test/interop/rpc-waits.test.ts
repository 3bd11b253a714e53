/**
 * `get()` over rpc:// (backends/rpc/rpc-backend.ts, core/async-result.ts waitReady) on a real
 * RabbitMQ vhost: results sent by another process's backend (as a worker sends them) reach
 * the waits of this app, however many wait at once, two waits of one id, a wait that started
 * before the result queue was consumed, a wait that timed out or was aborted (its listener is
 * gone, the result is still read later), a result that came before anyone waited, a state the
 * process stores for itself (known once, though it also comes back as an echo), a value too
 * deep to send and a closed backend (clear errors).
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/index.js';
import { RpcBackend } from '../../src/backends/rpc/rpc-backend.js';
import { ResultTimeoutError } from '../../src/core/task-errors.js';
import type { ResultMeta } from '../../src/protocol/types.js';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../support/amqp-env.js';

const ready = await amqpAvailable();

const final = (id: string, result: number): ResultMeta => ({ status: 'SUCCESS', result, traceback: null, children: [], date_done: null, task_id: id });

describe.runIf(ready)('rpc:// waits on RabbitMQ', () => {
  let vhost = '';
  let app: App;
  let sender: RpcBackend;
  const send = (id: string, result: number) => sender.store(final(id, result), { expiresSec: null, replyTo: app.replyTo });

  beforeAll(async () => {
    vhost = await createVhost('rpcwait');
    app = createApp({ broker: vhostUrl(vhost), backend: 'rpc://' }, { env: {}, logger: pino({ level: 'silent' }) });
    // The "worker": another process's backend, sending to this app's reply queue.
    sender = new RpcBackend({ brokerUrl: vhostUrl(vhost), replyTo: `sender-${randomUUID()}`, resultExpiresSec: null });
  }, 60_000);

  afterAll(async () => {
    await sender?.close();
    await app?.close();
    await deleteVhost(vhost);
  });

  it('a wait that starts before the result queue is consumed gets its result', async () => {
    const id = randomUUID();
    const waiting = app.asyncResult(id).get({ timeoutMs: 20_000 });
    await app.backend.beforePublish?.();
    await send(id, 1);
    expect(await waiting).toBe(1);
  });

  it('2,000 waits at once each get their own result', async () => {
    const ids = Array.from({ length: 2000 }, () => randomUUID());
    const waits = ids.map((id) => app.asyncResult(id).get({ timeoutMs: 30_000 }));
    await Promise.all(ids.map((id, i) => send(id, i)));
    expect(await Promise.all(waits)).toEqual(ids.map((_, i) => i));
  });

  it('two waits of one id both get it, and a third after it came reads it at once', async () => {
    const id = randomUUID();
    const a = app.asyncResult(id).get({ timeoutMs: 20_000 });
    const b = app.asyncResult(id).get({ timeoutMs: 20_000 });
    await send(id, 7);
    expect(await Promise.all([a, b])).toEqual([7, 7]);
    expect(await app.asyncResult(id).get({ timeoutMs: 0 })).toBe(7);
  });

  it('a wait that timed out or was aborted ends cleanly; the result that comes later is still read', async () => {
    const id = randomUUID();
    await expect(app.asyncResult(id).get({ timeoutMs: 50 })).rejects.toBeInstanceOf(ResultTimeoutError);
    const controller = new AbortController();
    const aborted = app.asyncResult(id).get({ signal: controller.signal });
    controller.abort(new Error('user left'));
    await expect(aborted).rejects.toThrow(/aborted/);
    const kept = app.asyncResult(id).get({ timeoutMs: 20_000 });
    await send(id, 3);
    expect(await kept).toBe(3);
  });

  it('an already aborted signal and a bad timeout are refused at once', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(app.asyncResult(randomUUID()).get({ signal: controller.signal })).rejects.toThrow(/aborted/);
    await expect(app.asyncResult(randomUUID()).get({ timeoutMs: -1 })).rejects.toThrow(/timeoutMs must be milliseconds/);
  });

  it('a value too deep to send is refused with an error; nothing is remembered and the backend goes on', async () => {
    const id = randomUUID();
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const own = app.backend;
    await expect(own.store({ ...final(id, 0), result: deep as number }, { expiresSec: null })).rejects.toThrow(/nested deeper than/);
    expect(await own.get(id)).toBeNull();
    await own.store(final(id, 5), { expiresSec: null });
    expect(await app.asyncResult(id).get({ timeoutMs: 20_000 })).toBe(5);
  });

  it('a state stored for this process reaches its waiter once, though it also comes back from the queue', async () => {
    const id = randomUUID();
    const seen: string[] = [];
    const unsubscribe = await app.backend.subscribe(id, (meta) => seen.push(meta.status));
    await app.storeState(id, 'PROGRESS', { step: 1 });
    await app.storeState(id, 'SUCCESS', 9);
    expect(await app.asyncResult(id).get({ timeoutMs: 20_000 })).toBe(9);
    // The echoes come back over RabbitMQ after the confirms: a later state sent by another
    // process arrives after them on the same queue, so once it is here they were handled.
    const marker = randomUUID();
    const after = app.asyncResult(marker).get({ timeoutMs: 20_000 });
    await app.backend.store(final(marker, 1), { expiresSec: null });
    await after;
    expect(seen).toEqual(['PROGRESS', 'SUCCESS']);
    await unsubscribe();
  });

  it('a store on a closed backend is refused with an error', async () => {
    const closed = new RpcBackend({ brokerUrl: vhostUrl(vhost), replyTo: `closed-${randomUUID()}`, resultExpiresSec: null });
    await closed.connect();
    await closed.close();
    await expect(closed.store(final(randomUUID(), 1), { expiresSec: null, replyTo: app.replyTo })).rejects.toThrow();
  });
});
