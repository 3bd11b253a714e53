/**
 * The roles of the adapter SPIs (core/spi/roles.ts): which adapter plays which optional role,
 * and what an app and a worker do when none does, on memory adapters seen through role-less
 * views (a results-only backend as `rpc://` is, a broker without listings or beat store as
 * AMQP is): chords and saved groups refused before anything is sent, revokes broadcast by
 * remote control and honoured by a running worker, cluster rate limits refused at start.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { chord, createApp, group, GroupResult, Worker, type App } from 'celeriac';
import { FakeClock, waitFor } from 'celeriac/testing';
import { MemoryBackend } from '../../src/backends/memory/memory-backend.js';
import { MemoryBroker } from '../../src/brokers/memory/memory-broker.js';
import { ErrorCodes } from '../../src/errors.js';
import { decodeControlRequest } from '../../src/protocol/pidbox.js';
import type { ResultMeta } from '../../src/protocol/types.js';
import type { ResultBackend, ResultStore } from '../../src/core/spi/backend.js';
import type { Broker } from '../../src/core/spi/broker.js';
import {
  beatStoreOf,
  chordJoinOf,
  delayedListingOf,
  groupStoreOf,
  rateTokensOf,
  requireChordJoin,
  requireGroupStore,
  revocationStoreOf,
  revokeTasks,
  setAsideListingOf,
} from '../../src/core/spi/roles.js';

/** The results role alone, as an `rpc://` backend plays it. */
function resultsOnly(inner = new MemoryBackend()): ResultStore {
  return {
    kind: 'rpc',
    connect: () => inner.connect(),
    close: () => inner.close(),
    store: (meta, options) => inner.store(meta, options),
    get: (id) => inner.get(id),
    getMany: (ids) => inner.getMany(ids),
    subscribe: (id, listener: (meta: ResultMeta) => void) => inner.subscribe(id, listener),
    forget: (id) => inner.forget(id),
  };
}

/** The three roles every broker plays, without listings or a beat store, as an AMQP broker. */
function queuesOnly(inner = new MemoryBroker()): Broker {
  const { capabilities } = inner;
  return {
    kind: 'queues-only',
    capabilities,
    connect: () => inner.connect(),
    close: () => inner.close(),
    declareQueue: (q) => inner.declareQueue(q),
    publish: (m, o) => inner.publish(m, o),
    consume: (o) => inner.consume(o),
    purge: (q) => inner.purge(q),
    queueLength: (q) => inner.queueLength(q),
    publishFanout: (e, k, raw) => inner.publishFanout(e, k, raw),
    subscribeFanout: (e, k, l) => inner.subscribeFanout(e, k, l),
    bindQueue: (q, e, k) => inner.bindQueue(q, e, k),
    unbindQueue: (q, e, k) => inner.unbindQueue(q, e, k),
  };
}

describe('roles of the memory adapters', () => {
  it('finds every optional role on the memory backend and broker', () => {
    const backend = new MemoryBackend();
    const broker = new MemoryBroker();
    expect(groupStoreOf(backend)).toBe(backend);
    expect(chordJoinOf(backend)).toBe(backend);
    expect(revocationStoreOf(backend)).toBe(backend);
    expect(rateTokensOf(backend)).toBe(backend);
    expect(delayedListingOf(broker)).toBe(broker);
    expect(setAsideListingOf(broker)).toBe(broker);
    expect(beatStoreOf(broker)).toBe(broker.beatStore());
  });

  it('takes an explicit beat store over the broker\'s own', () => {
    const own = new MemoryBroker();
    const other = new MemoryBroker().beatStore();
    expect(beatStoreOf(own, other)).toBe(other);
  });
});

describe('a results-only backend (rpc://) and a broker without optional roles (queues, fanout and bindings only)', () => {
  const backend: ResultBackend = resultsOnly();
  const broker = queuesOnly();

  it('has none of the optional roles', () => {
    expect(groupStoreOf(backend)).toBeUndefined();
    expect(chordJoinOf(backend)).toBeUndefined();
    expect(revocationStoreOf(backend)).toBeUndefined();
    expect(rateTokensOf(backend)).toBeUndefined();
    expect(delayedListingOf(broker)).toBeUndefined();
    expect(setAsideListingOf(broker)).toBeUndefined();
  });

  it('refuses chords, saved groups and beat with CONFIG errors that name the adapter', () => {
    expect(() => requireChordJoin(backend)).toThrow(expect.objectContaining({ code: ErrorCodes.CONFIG, message: expect.stringMatching(/chords: the rpc result backend keeps no chord join/) }));
    expect(() => requireGroupStore(backend)).toThrow(expect.objectContaining({ code: ErrorCodes.CONFIG, message: expect.stringMatching(/the rpc result backend cannot save groups/) }));
    expect(() => beatStoreOf(broker)).toThrow(expect.objectContaining({ code: ErrorCodes.CONFIG, message: expect.stringMatching(/The queues-only broker cannot host beat/) }));
  });

  it('does not take a role from an adapter that has only part of its methods', () => {
    const partial = { ...resultsOnly(), setChordSize: async () => undefined, addChordPart: async () => ({ count: 0, total: null, parts: null }) };
    expect(chordJoinOf(partial)).toBeUndefined();
  });

  it('revokes by broadcasting Celery\'s revoke command on the pidbox exchange', async () => {
    const heard: string[] = [];
    const stop = await broker.subscribeFanout('celery.pidbox', '', (raw) => heard.push(raw));
    await revokeTasks({ backend, broker }, ['t1', 't2'], { expiresSec: 60, terminate: true, signal: 'SIGKILL' });
    await revokeTasks({ backend, broker }, [], { expiresSec: 60 });
    await new Promise<void>((resolve) => setImmediate(resolve));
    await stop();
    expect(heard).toHaveLength(1);
    const { request } = decodeControlRequest(heard[0] as string);
    expect(request).toMatchObject({ method: 'revoke', destination: null, arguments: { task_id: ['t1', 't2'], terminate: true, signal: 'SIGKILL' } });
  });

  it('revokes through the backend when it stores revokes, and still broadcasts for workers that only hear the pidbox', async () => {
    const store = new MemoryBackend();
    const heard: string[] = [];
    const stop = await broker.subscribeFanout('celery.pidbox', '#', (raw) => heard.push(raw));
    await revokeTasks({ backend: store, broker }, ['t3'], { expiresSec: 60 });
    await new Promise<void>((resolve) => setImmediate(resolve));
    await stop();
    expect(await store.revoked(['t3'])).toEqual(new Set(['t3']));
    // Python workers learn revokes only from the pidbox broadcast.
    expect(heard).toHaveLength(1);
    expect(decodeControlRequest(heard[0] as string).request).toMatchObject({ method: 'revoke', arguments: { task_id: ['t3'] } });
  });
});

describe('an app and worker on a results-only backend', () => {
  const open: { app: App; workers: Worker[] }[] = [];
  afterEach(async () => {
    for (const { app, workers } of open.splice(0)) {
      for (const w of workers) if (w.state !== 'closed') await w.terminate();
      await app.close();
    }
  });

  function setup() {
    const clock = new FakeClock();
    const memory = new MemoryBroker({ clock });
    const inner = new MemoryBackend({ clock });
    const app = createApp({}, { broker: queuesOnly(memory), backend: resultsOnly(inner), clock, logger: pino({ level: 'silent' }), env: {} });
    const entry = { app, workers: [] as Worker[] };
    open.push(entry);
    const start = async (options = {}) => {
      const worker = new Worker(app, { hostname: 'w1@testhost', ...options });
      entry.workers.push(worker);
      await worker.start();
      return worker;
    };
    return { app, memory, inner, clock, start };
  }

  it('refuses a chord before publishing any header task', async () => {
    const { app, memory } = setup();
    const add = app.task('t.add', (x: number, y: number) => x + y);
    const sum = app.task('t.sum', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
    await expect(chord(group(add.s(1, 1), add.s(2, 2)), sum.s()).applyAsync()).rejects.toMatchObject({ code: ErrorCodes.CONFIG });
    expect(await memory.queueLength('celery')).toBe(0);
  });

  it('refuses to save or restore a group, and still forgets its members', async () => {
    const { app, inner } = setup();
    const add = app.task('t.add', (x: number, y: number) => x + y);
    const g = await group(add.s(1, 1), add.s(2, 2)).applyAsync();
    await expect(g.save()).rejects.toMatchObject({ code: ErrorCodes.CONFIG });
    await expect(GroupResult.restore(app, g.id)).rejects.toMatchObject({ code: ErrorCodes.CONFIG });
    const first = g.results[0]!.id;
    await inner.store({ status: 'SUCCESS', result: 2, traceback: null, children: [], date_done: null, task_id: first }, { expiresSec: null });
    await g.forget();
    expect(await inner.get(first)).toBeNull();
  });

  it('a revoke reaches the running worker by remote control, and the task is skipped when due', async () => {
    const { app, inner, clock, start } = setup();
    let runs = 0;
    const later = app.task('t.later', () => ++runs);
    const worker = await start();
    const r = await later.applyAsync([], { countdown: 60 });
    await r.revoke();
    await waitFor(() => worker.revokedIds().includes(r.id), 'the worker to hear of the revoke', 3000);
    clock.advance(60_000);
    await waitFor(async () => (await inner.get(r.id))?.status === 'REVOKED', 'the task marked REVOKED', 3000);
    expect(runs).toBe(0);
  });

  it('a worker refuses to start with a task that has clusterRateLimit', async () => {
    const { app, start } = setup();
    app.task('t.limited', { clusterRateLimit: '10/s' }, () => 1);
    await expect(start()).rejects.toMatchObject({ code: ErrorCodes.CONFIG, message: expect.stringMatching(/t.limited has clusterRateLimit but the rpc result backend cannot enforce it/) });
  });
});
