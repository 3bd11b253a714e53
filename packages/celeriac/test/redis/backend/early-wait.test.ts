/**
 * `task.delay(...).get()` (core/early-wait.ts): on a Redis broker and backend of one server, the
 * result's SUBSCRIBE and the task's publish go out in one write on the backend's RESP3
 * subscriber connection, the SUBSCRIBE first, and the wait reads nothing. Everything else
 * (another server, a server that refuses RESP3, a publish Redis refuses, a wait that times
 * out, a subscriber connection that drops before the result) still gives the caller its value
 * or its error, and leaves no subscription behind. On redis-servers of their own, behind a
 * proxy that records what the client writes.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { pino } from 'pino';
import type { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { createApp, ResultTimeoutError, Worker, type App, type Task } from '../../../src/index.js';
import { RedisBackend } from '../../../src/backends/redis/redis-backend.js';
import { RedisBroker } from '../../../src/brokers/redis/redis-broker.js';
import { RedisServerProcess, freePort, quietClient, shouldRunRedisTests } from '../../support/redis.js';

const run = await shouldRunRedisTests('delay().get() subscribed at send');

/**
 * A TCP proxy to `port` that keeps every chunk its clients write, as text. `dropNext`, when
 * set, is asked about each chunk, and the first it matches is not passed on: that client's
 * connection is closed instead (a connection lost with the write), or with `stall`, left
 * open with nothing passed on either way from then on (a server that stopped answering).
 */
class RecordingProxy {
  readonly chunks: string[] = [];
  dropNext: ((chunk: string) => boolean) | undefined;
  stall = false;
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  port = 0;

  constructor(private readonly target: number) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => this.#sockets.delete(s));
      }
      let stalled = false;
      client.on('data', (d: Buffer) => {
        const text = d.toString('latin1');
        this.chunks.push(text);
        if (stalled) return;
        if (this.dropNext?.(text) === true) {
          this.dropNext = undefined;
          if (this.stall) {
            stalled = true;
            upstream.unpipe(client);
            return;
          }
          client.destroy();
          upstream.destroy();
          return;
        }
        upstream.write(d);
      });
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    this.#server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => (this.#server === undefined ? resolve() : this.#server.close(() => resolve())));
  }
}

/** RESP bulk string of `text`, as node-redis writes an argument. */
const bulk = (text: string): string => `$${Buffer.byteLength(text)}\r\n${text}\r\n`;

describe.runIf(run)('delay().get(): the result subscribed in the write that sends the task', () => {
  let server: RedisServerProcess;
  let proxy: RecordingProxy;
  let admin: ReturnType<typeof createClient>;
  const apps: App[] = [];
  const workers: Worker[] = [];

  beforeAll(async () => {
    server = new RedisServerProcess(await freePort());
    await server.start();
    admin = await quietClient(server.url);
    proxy = new RecordingProxy(server.port);
    await proxy.start();
  });

  afterEach(async () => {
    for (const w of workers.splice(0)) await w.close({ deadlineMs: 2000 }).catch(() => undefined);
    for (const app of apps.splice(0)) await app.close().catch(() => undefined);
    await admin.configSet('maxmemory', '0');
  });

  afterAll(async () => {
    admin?.destroy();
    await proxy?.stop();
    await server?.kill();
  });

  const url = (port: number, db = 0) => `redis://127.0.0.1:${port}/${db}?global_keyprefix=ew:`;
  const open = (broker: string, backend: string, logs: string[] = []): App => {
    const logger = pino({ level: 'warn' }, { write: (line: string) => void logs.push(line) });
    const app = createApp({ broker, backend, taskDefaultQueue: 'ew' }, { env: {}, logger });
    apps.push(app);
    return app;
  };
  const startWorker = async (app: App): Promise<void> => {
    const worker = new Worker(app, { queues: ['ew'], concurrency: 2, hostname: `ew${workers.length}@test` });
    workers.push(worker);
    await worker.start();
  };
  const subscribers = async (channel: string): Promise<number> => Number((await admin.pubSubNumSub(channel))[channel]);
  /** Opens the app's subscriber connection (the first chained send of a process only opens it). */
  const openSubscriber = async (app: App): Promise<void> => {
    const unsubscribe = await app.backend.subscribe('ew-open', () => undefined);
    await unsubscribe();
  };
  /** An app on the proxy whose sends can carry their subscription, its subscriber open. */
  const carryingApp = async (): Promise<{ app: App; add: Task<[number, number], number> }> => {
    const app = open(url(proxy.port), url(proxy.port));
    const add = app.task('ew.add', (a: number, b: number) => a + b);
    await openSubscriber(app);
    return { app, add };
  };
  /** The chunks that carry `id`'s SUBSCRIBE (node-redis writes it in lower case) and a message's LPUSH together. */
  const carried = (id: string): string[] => proxy.chunks.filter((c) => c.includes(`${bulk('subscribe')}${bulk(`celery-task-meta-${id}`)}`) && c.includes(`${bulk('LPUSH')}${bulk('ew:ew')}`));

  it('sends SUBSCRIBE then the LPUSH in one write, reads nothing, and unsubscribes after', async () => {
    const { app, add } = await carryingApp();
    await startWorker(app);
    proxy.chunks.length = 0;
    const sent = add.delay(2, 3);
    expect(await sent.get({ timeoutMs: 5000 })).toBe(5);
    const { id } = await sent;
    const channel = `celery-task-meta-${id}`;
    const together = carried(id);
    expect(together, 'one chunk with the SUBSCRIBE and the LPUSH').toHaveLength(1);
    const chunk = together[0] as string;
    // node-redis writes pub/sub commands in lower case. An id made for the send has nothing
    // stored under it: no GET at all, before the send or after.
    expect(chunk.indexOf(`${bulk('subscribe')}${bulk(channel)}`)).toBeGreaterThanOrEqual(0);
    expect(proxy.chunks.filter((c) => c.includes(`${bulk('GET')}${bulk(channel)}`)), 'no read of the result').toEqual([]);
    await waitFor(async () => (await subscribers(channel)) === 0, 'the channel to be unsubscribed', { timeoutMs: 3000 });
    // `(await delay()).get()` is unchanged: it reads first.
    proxy.chunks.length = 0;
    const r = await add.delay(4, 4);
    expect(await r.get({ timeoutMs: 5000 })).toBe(8);
    expect(proxy.chunks.some((c) => c.includes(`${bulk('GET')}${bulk(`celery-task-meta-${r.id}`)}`))).toBe(true);
  }, 20_000);

  it('waits as before when the backend is on another database, or the send is routed or delayed', async () => {
    const app = open(url(server.port, 0), url(server.port, 1));
    const add = app.task('ew.add', (a: number, b: number) => a + b);
    await startWorker(app);
    expect(await add.delay(1, 2).get({ timeoutMs: 5000 })).toBe(3);
    expect(await add.delay(2, 2).get({ timeoutMs: 5000 })).toBe(4);
    for (const w of workers.splice(0)) await w.close({ deadlineMs: 2000 });
    const same = open(url(server.port), url(server.port));
    const add2 = same.task('ew.add', (a: number, b: number) => a + b);
    await startWorker(same);
    expect(await add2.delay(0, 0).get({ timeoutMs: 5000 })).toBe(0);
    expect(await add2.applyAsync([1, 1], { countdown: 0.2 }).get({ timeoutMs: 5000 })).toBe(2);
    expect(await add2.applyAsync([1, 2], { exchange: 'ew', routingKey: 'ew' }).get({ timeoutMs: 5000 })).toBe(3);
  }, 20_000);

  it('gives a result stored before the send at once: a task id sent again after its SUCCESS', async () => {
    const { add } = await carryingApp();
    // What a worker stored for an earlier run of this id; a new run stores nothing over a SUCCESS.
    await admin.set('celery-task-meta-ew-again', JSON.stringify({ status: 'SUCCESS', result: 7, traceback: null, children: [], date_done: '2026-11-27T00:00:00.000000', task_id: 'ew-again' }));
    proxy.chunks.length = 0;
    expect(await add.applyAsync([3, 4], { taskId: 'ew-again' }).get({ timeoutMs: 3000 })).toBe(7);
    const [chunk] = carried('ew-again');
    expect(chunk, 'it was the carried send').toBeDefined();
    // The id was the caller's: the GET of what was stored is in the write, behind the SUBSCRIBE, ahead of the LPUSH.
    const channel = 'celery-task-meta-ew-again';
    const getAt = chunk!.indexOf(`${bulk('GET')}${bulk(channel)}`);
    expect(getAt).toBeGreaterThan(chunk!.indexOf(`${bulk('subscribe')}${bulk(channel)}`));
    expect(getAt).toBeLessThan(chunk!.indexOf(`${bulk('LPUSH')}${bulk('ew:ew')}`));
    await admin.del(['celery-task-meta-ew-again', 'ew:ew']);
  }, 20_000);

  it('fails the wait with the publish error when Redis refuses the write, and leaves no subscription', async () => {
    const { add } = await carryingApp();
    // Redis now refuses every write (noeviction at 1 byte); SUBSCRIBE is not a write.
    await admin.configSet({ maxmemory: '1', 'maxmemory-policy': 'noeviction' });
    proxy.chunks.length = 0;
    const sent = add.applyAsync([1, 2], { retry: false, taskId: 'ew-refused' });
    await expect(sent.get({ timeoutMs: 5000 })).rejects.toThrow(/OOM/);
    await expect(sent).rejects.toThrow(/OOM/);
    expect(carried('ew-refused'), 'the refused publish was the carried one').toHaveLength(1);
    await admin.configSet('maxmemory', '0');
    await waitFor(async () => (await subscribers('celery-task-meta-ew-refused')) === 0, 'no subscription left', { timeoutMs: 3000 });
  }, 20_000);

  it('sends a carried publish lost with its connection again, once, and the wait still gets the value', async () => {
    const { app } = await carryingApp();
    let runs = 0;
    const count = app.task('ew.count', () => ++runs);
    await startWorker(app);
    proxy.chunks.length = 0;
    proxy.dropNext = (c) => c.includes(bulk('subscribe')) && c.includes(`${bulk('LPUSH')}${bulk('ew:ew')}`);
    // The publish retry policy is on by default (Celery's retry=True): the lost write is sent
    // again as an ordinary publish on the broker's connection, and the wait reads for itself.
    const sent = count.delay();
    expect(await sent.get({ timeoutMs: 10_000 })).toBe(1);
    const { id } = await sent;
    expect(proxy.dropNext, 'the carried write was the one lost').toBeUndefined();
    expect(carried(id)).toHaveLength(1);
    const pushes = proxy.chunks.filter((c) => c.includes(`${bulk('LPUSH')}${bulk('ew:ew')}`) && c.includes(id));
    expect(pushes, 'the lost publish and its one retry').toHaveLength(2);
    expect(pushes[1]?.includes(bulk('subscribe')), 'the retry is an ordinary publish').toBe(false);
    expect(runs).toBe(1);
    await waitFor(async () => (await subscribers(`celery-task-meta-${id}`)) === 0, 'no subscription left', { timeoutMs: 3000 });
  }, 20_000);

  it('sends a carried publish again once its connection stops answering (the idle timeout), and the wait gets the value', async () => {
    // An app whose backend takes 3 silent PING intervals of 100 ms for a dead connection.
    const app = createApp(
      { taskDefaultQueue: 'ew' },
      { env: {}, logger: pino({ level: 'silent' }), broker: new RedisBroker(url(proxy.port)), backend: new RedisBackend({ url: url(proxy.port), pingIntervalMs: 100 }) },
    );
    apps.push(app);
    let runs = 0;
    const count = app.task('ew.count', () => ++runs);
    await openSubscriber(app);
    await startWorker(app);
    proxy.chunks.length = 0;
    proxy.stall = true;
    proxy.dropNext = (c) => c.includes(bulk('subscribe')) && c.includes(`${bulk('LPUSH')}${bulk('ew:ew')}`);
    try {
      const sent = count.delay();
      expect(await sent.get({ timeoutMs: 10_000 })).toBe(1);
      const { id } = await sent;
      expect(carried(id), 'the carried write was the one swallowed').toHaveLength(1);
      expect(proxy.chunks.filter((c) => c.includes(`${bulk('LPUSH')}${bulk('ew:ew')}`) && c.includes(id))).toHaveLength(2);
      expect(runs).toBe(1);
    } finally {
      proxy.stall = false;
    }
  }, 20_000);

  it('drops the subscription of a wait that times out or is aborted, with no worker', async () => {
    const { add } = await carryingApp();
    const timedOut = add.delay(1, 1);
    await expect(timedOut.get({ timeoutMs: 0 })).rejects.toBeInstanceOf(ResultTimeoutError);
    const aborting = new AbortController();
    const aborted = add.delay(1, 2);
    const waiting = aborted.get({ signal: aborting.signal });
    const abortedChannel = `celery-task-meta-${(await aborted).id}`;
    await waitFor(async () => (await subscribers(abortedChannel)) === 1, 'the subscription', { timeoutMs: 3000 });
    aborting.abort();
    await expect(waiting).rejects.toThrow(/aborted/);
    for (const sent of [timedOut, aborted]) {
      const { id } = await sent;
      expect(carried(id)).toHaveLength(1);
      await waitFor(async () => (await subscribers(`celery-task-meta-${id}`)) === 0, 'the channel to be unsubscribed', { timeoutMs: 3000 });
    }
  }, 20_000);

  it('gets the result stored while its subscriber connection was down', async () => {
    const { app, add } = await carryingApp();
    const sent = add.delay(20, 22);
    const waited = sent.get({ timeoutMs: 10_000 });
    const { id } = await sent;
    expect(carried(id)).toHaveLength(1);
    const channel = `celery-task-meta-${id}`;
    await waitFor(async () => (await subscribers(channel)) === 1, 'the subscription', { timeoutMs: 3000 });
    expect(await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub'])).toBeGreaterThanOrEqual(1);
    // The worker runs it while the subscriber reconnects: its PUBLISH may reach nobody.
    await startWorker(app);
    expect(await waited).toBe(42);
  }, 20_000);

  it('closes a subscriber that carries nothing at once: no PING waited for', async () => {
    const backend = new RedisBackend({ url: `redis://127.0.0.1:${proxy.port}/0` });
    try {
      // Only the subscriber connection is open (RESP3): nothing in flight on it.
      const unsubscribe = await backend.subscribe('ew-close', () => undefined);
      await unsubscribe();
      proxy.chunks.length = 0;
      await backend.close();
      // A close that waits for replies sends a PING behind them (and waits on a server that stopped answering).
      expect(proxy.chunks.filter((c) => c.includes(bulk('PING')))).toEqual([]);
    } finally {
      await backend.close();
    }
  }, 20_000);

  it('falls back to reading when the server refuses RESP3, with one warning', async () => {
    const old = new RedisServerProcess(await freePort(), ['--rename-command', 'HELLO', '']);
    await old.start();
    try {
      const logs: string[] = [];
      const app = open(url(old.port), url(old.port), logs);
      const add = app.task('ew.add', (a: number, b: number) => a + b);
      await startWorker(app);
      for (let i = 0; i < 3; i++) expect(await add.delay(i, 1).get({ timeoutMs: 5000 })).toBe(i + 1);
      expect(logs.filter((l) => l.includes('refused RESP3'))).toHaveLength(1);
    } finally {
      for (const w of workers.splice(0)) await w.close({ deadlineMs: 2000 }).catch(() => undefined);
      for (const a of apps.splice(0)) await a.close().catch(() => undefined);
      await old.kill();
    }
  }, 20_000);
});

describe('delay().get() without Redis', () => {
  it('gives the value on memory://, and a bad call rejects both the send and its get()', async () => {
    const app = createApp({ broker: 'memory://', backend: 'memory://' }, { env: {}, logger: pino({ level: 'silent' }) });
    const add = app.task('ew.add', (a: number, b: number) => a + b);
    const worker = new Worker(app, { queues: ['celery'], concurrency: 1, hostname: 'mem@test' });
    await worker.start();
    try {
      expect(await add.delay(2, 2).get({ timeoutMs: 5000 })).toBe(4);
      const bad = app.sendTask('ew.add', [1], {}, { countdown: Number.NaN });
      await expect(bad.get()).rejects.toThrow();
      await expect(bad).rejects.toThrow();
    } finally {
      await worker.close({ deadlineMs: 2000 });
      await app.close();
    }
  }, 10_000);
});
