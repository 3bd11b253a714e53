/**
 * `waitReplicas` on private redis-servers (a master and its replica, no persistence): a send
 * is answered only once the replica has the message, so a failover right after cannot lose a
 * send its caller was told succeeded. The replica is held with SIGSTOP: the master has the
 * message, the replica does not, and the send waits; past `waitReplicasTimeoutMs` it fails
 * as a transport error, which the publish retry policy sends again. Without the option, a
 * send is answered as soon as the master has it (the last case), which is what
 * sentinel-failover.test.ts's kill -9 lost on a loaded host.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { Writable } from 'node:stream';
import { createApp, Worker, type App, type AsyncResult } from '../../src/index.js';
import { ErrorCodes } from '../../src/errors.js';
import { PublishError } from '../../src/core/publish-retry.js';
import { RedisBackend } from '../../src/backends/redis/redis-backend.js';
import { freePort, quietClient, RedisServerProcess, redisServerOnPath } from '../support/redis.js';

const hasRedisServer = redisServerOnPath('failure: waitReplicas');

const QUEUE = 'wait-replicas';

describe.runIf(hasRedisServer)('failure: sends that wait for a replica (waitReplicas)', () => {
  let master: RedisServerProcess;
  let replica: RedisServerProcess;
  let onMaster: Awaited<ReturnType<typeof quietClient>>;
  let onReplica: Awaited<ReturnType<typeof quietClient>>;
  const apps: App[] = [];

  beforeAll(async () => {
    master = new RedisServerProcess(await freePort());
    await master.start();
    replica = new RedisServerProcess(await freePort(), ['--replicaof', '127.0.0.1', String(master.port)]);
    await replica.start();
    onMaster = await quietClient(master.url);
    onReplica = await quietClient(replica.url);
    await waitFor(async () => (await onReplica.info('replication')).includes('master_link_status:up'), 'the replica to sync with its master', 15_000);
  }, 30_000);

  afterAll(async () => {
    replica?.resume();
    for (const app of apps) await app.close();
    onMaster?.destroy();
    onReplica?.destroy();
    await replica?.kill();
    await master?.kill();
  }, 30_000);

  function appWith(transportOptions: Record<string, unknown>, policy: object = {}): App {
    const app = createApp(
      { broker: master.url, backend: 'memory://', brokerTransportOptions: transportOptions, taskPublishRetryPolicy: policy },
      { env: {}, logger: pino({ level: 'silent' }) },
    );
    apps.push(app);
    return app;
  }

  /** Whether `p` has settled, after a few round trips of another connection to the master (its reply had time to arrive and run). */
  async function settledAfterRoundTrips(p: Promise<unknown>): Promise<boolean> {
    let settled = false;
    p.then(
      () => (settled = true),
      () => (settled = true),
    );
    for (let i = 0; i < 3; i++) await onMaster.ping();
    return settled;
  }

  /** Whether any key on the server holds `text` (a list's, a sorted set's or a string's): the message, wherever it went. */
  async function holds(client: typeof onMaster, text: string): Promise<boolean> {
    for (const key of await client.keys('*')) {
      const type = await client.type(key);
      const values = type === 'list' ? await client.lRange(key, 0, -1) : type === 'zset' ? await client.zRange(key, 0, -1) : type === 'string' ? [String(await client.get(key))] : [];
      if (values.some((v) => v.includes(text))) return true;
    }
    return false;
  }

  const sends: [string, (app: App) => Promise<string[]>][] = [
    ['one send', async (app) => [(await app.sendTask('wr.task', ['one'], {}, { queue: QUEUE })).id]],
    ['a batched send (sendTasks)', async (app) => (await app.sendTasks([1, 2].map((i) => ({ name: 'wr.task', args: [i], options: { queue: QUEUE } })))).map((r) => r.id)],
    ['a send with an ETA', async (app) => [(await app.sendTask('wr.task', ['later'], {}, { queue: QUEUE, countdown: 3600 })).id]],
  ];

  it.each(sends)('answers %s once the replica has the message, not when the master has it', async (_kind, send) => {
    const app = appWith({ waitReplicas: 1, waitReplicasTimeoutMs: 20_000 });
    // Connected and warm first: the held send below waits for the replica, not for a connect.
    await app.sendTask('wr.task', ['warm'], {}, { queue: QUEUE });
    const offset = async () => Number(/master_repl_offset:(\d+)/.exec(await onMaster.info('replication'))?.[1]);
    const before = await offset();
    replica.pause();
    const sending = send(app);
    await waitFor(async () => (await offset()) > before, 'the master to have the writes', 10_000);
    expect(await settledAfterRoundTrips(sending)).toBe(false);
    replica.resume();
    const ids = await sending;
    // Answered: the replica has it (WAIT counted its acknowledgement of the writes).
    for (const id of ids) expect(await holds(onReplica, id)).toBe(true);
  }, 30_000);

  it('answers a send chained with its wait (delay().get()) once the replica has the message, not on the subscriber connection at once', async () => {
    // Broker and backend on one server: without waitReplicas the LPUSH would ride the result's
    // SUBSCRIBE on the backend's connection, where no WAIT covers it (publisherOn).
    const app = createApp(
      { broker: master.url, backend: master.url, brokerTransportOptions: { waitReplicas: 1, waitReplicasTimeoutMs: 20_000 } },
      { env: {}, logger: pino({ level: 'silent' }) },
    );
    apps.push(app);
    await app.sendTask('wr.task', ['warm'], {}, { queue: QUEUE });
    // The backend's subscriber connection open, as a send can be carried only on an open one.
    const unsubscribe = await app.backend.subscribe('warm-subscriber', () => undefined);
    await unsubscribe();
    replica.pause();
    let sending: ReturnType<App['sendTask']>;
    try {
      sending = app.sendTask('wr.task', ['chained'], {}, { queue: QUEUE });
      // No worker: the wait only ends by its timeout.
      sending.get({ timeoutMs: 5_000 }).catch(() => undefined);
      await waitFor(async () => (await onMaster.lRange(QUEUE, 0, -1)).some((raw) => raw.includes("'chained'")), 'the master to have the message', 10_000);
      expect(await settledAfterRoundTrips(sending)).toBe(false);
    } finally {
      replica.resume();
    }
    const sent = await sending;
    expect(await holds(onReplica, sent.id)).toBe(true);
  }, 30_000);

  it('fails a send the replica did not acknowledge within waitReplicasTimeoutMs as a transport error, retried under the policy', async () => {
    const app = appWith({ waitReplicas: 1, waitReplicasTimeoutMs: 200 }, { maxRetries: 1, intervalStart: 0, intervalStep: 0, intervalMax: 0 });
    await app.sendTask('wr.task', ['warm'], {}, { queue: QUEUE });
    replica.pause();
    try {
      const once = await app.sendTask('wr.task', ['once'], {}, { queue: QUEUE, retry: false }).catch((e: unknown) => e);
      expect(once).toMatchObject({ code: ErrorCodes.TRANSPORT });
      expect((once as Error).message).toMatch(/0 of the 1 replicas asked for \(waitReplicas\) acknowledged it within 200 ms/);
      const retried = await app.sendTask('wr.task', ['retried'], {}, { queue: QUEUE }).catch((e: unknown) => e);
      expect(retried).toBeInstanceOf(PublishError);
      expect(retried).toMatchObject({ code: ErrorCodes.TRANSPORT, attempts: 2 });
    } finally {
      replica.resume();
    }
    // Each attempt's message is on the master: a refused send may still arrive (at least once), twice if retried.
    const onMasterNow = await onMaster.lRange(QUEUE, 0, -1);
    expect(onMasterNow.filter((raw) => raw.includes('"retried"') || raw.includes("'retried'")).length).toBe(2);
  }, 30_000);

  it('warns at a worker start, through the broker, when fewer replicas are connected than waitReplicas asks for', async () => {
    const enough = appWith({ waitReplicas: 1 });
    const tooMany = appWith({ waitReplicas: 2, waitReplicasTimeoutMs: 300 });
    await enough.broker.connect();
    await tooMany.broker.connect();
    expect((await enough.broker.serverWarnings?.()) ?? []).not.toContainEqual(expect.stringMatching(/waitReplicas/));
    expect((await tooMany.broker.serverWarnings?.()) ?? []).toContainEqual(expect.stringMatching(/has 1 replica connected, and waitReplicas asks for 2: every send waits 300 ms for them and fails/));
  }, 30_000);

  it('fails a send with CONFIG, not retried, when the ACL refuses WAIT (the message is on the master)', async () => {
    await onMaster.sendCommand(['ACL', 'SETUSER', 'nowait', 'on', '>pw', '~*', '&*', '+@all', '-wait']);
    const app = createApp(
      { broker: `redis://nowait:pw@127.0.0.1:${master.port}/0`, backend: 'memory://', brokerTransportOptions: { waitReplicas: 1 } },
      { env: {}, logger: pino({ level: 'silent' }) },
    );
    apps.push(app);
    const err = await app.sendTask('wr.task', ['refused'], {}, { queue: QUEUE }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.CONFIG });
    expect((err as Error).message).toMatch(/^Redis refused WAIT for replicas \(waitReplicas\) after writing the message: NOPERM/);
    expect((await onMaster.lRange(QUEUE, 0, -1)).some((raw) => raw.includes("'refused'"))).toBe(true);
    expect((err as { attempts?: number }).attempts ?? 1).toBe(1);
  }, 30_000);

  describe('result backend (resultBackendTransportOptions)', () => {
    it('answers a store once the replica has the state', async () => {
      const app = createApp(
        { broker: 'memory://', backend: master.url, resultBackendTransportOptions: { waitReplicas: 1, waitReplicasTimeoutMs: 20_000 } },
        { env: {}, logger: pino({ level: 'silent' }) },
      );
      apps.push(app);
      const meta = (id: string) => ({ status: 'SUCCESS' as const, result: id, traceback: null, children: [], date_done: '2026-11-29T15:00:00.000000', task_id: id });
      await app.backend.store(meta('warm-store'), { expiresSec: null });
      replica.pause();
      const storing = app.backend.store(meta('held-store'), { expiresSec: null });
      await waitFor(async () => (await onMaster.exists('celery-task-meta-held-store')) === 1, 'the master to have the state', 10_000);
      expect(await settledAfterRoundTrips(storing)).toBe(false);
      replica.resume();
      await storing;
      expect(await onReplica.get('celery-task-meta-held-store')).toContain('"held-store"');
    }, 30_000);

    it('a worker that acked early stores the state again until the replica has it', async () => {
      const lines: string[] = [];
      const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) });
      const app = createApp(
        {
          broker: 'memory://',
          backend: master.url,
          resultBackendTransportOptions: { waitReplicas: 1, waitReplicasTimeoutMs: 200 },
          workerRedeliveryDelaySec: 0.2,
        },
        { env: {}, logger: pino({ level: 'warn' }, sink) },
      );
      apps.push(app);
      app.task('wr.early', (x: number) => x * 2);
      const worker = new Worker(app, { concurrency: 1, hostname: `wait-replicas-${process.pid}@test` });
      await worker.start();
      try {
        replica.pause();
        let sent: AsyncResult | undefined;
        try {
          const result = await app.sendTask('wr.early', [21]);
          sent = result;
          // Its state is on the master (the SET ran), not acknowledged: the worker tries again.
          await waitFor(() => lines.some((l) => l.includes(`could not store the state of task ${result.id} (acked early); trying again`)), 'a retried store while the replica is held', 10_000);
          expect(lines.join('\n')).toMatch(/0 of the 1 replicas asked for \(waitReplicas\) acknowledged it within 200 ms/);
        } finally {
          replica.resume();
        }
        if (sent === undefined) throw new Error('the task was not sent');
        const id = sent.id;
        expect(await sent.get({ timeoutMs: 10_000 })).toBe(42);
        await waitFor(async () => (await onReplica.exists(`celery-task-meta-${id}`)) === 1, 'the replica to have the state', 10_000);
        expect(lines.filter((l) => l.includes('its result is lost'))).toEqual([]);
      } finally {
        await worker.close({ deadlineMs: 5_000 });
      }
    }, 30_000);

    it('a worker warns as it starts when fewer replicas are connected than the backend waits for, and not when enough are', async () => {
      const startupChecks = async (waitReplicas: number): Promise<string[]> => {
        const lines: { check?: string; msg: string }[] = [];
        const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]), done()) });
        const app = createApp(
          { broker: 'memory://', backend: master.url, resultBackendTransportOptions: { waitReplicas, waitReplicasTimeoutMs: 300 } },
          { env: {}, logger: pino({ level: 'warn' }, sink) },
        );
        apps.push(app);
        const worker = new Worker(app, { concurrency: 1, hostname: `wait-replicas-checks-${waitReplicas}-${process.pid}@test` });
        await worker.start();
        await worker.close({ deadlineMs: 1_000 });
        return lines.filter((l) => l.check === 'backend-server').map((l) => l.msg);
      };
      expect(await startupChecks(1)).toEqual([]);
      expect(await startupChecks(2)).toEqual([
        `result backend Redis 127.0.0.1:${master.port} has 1 replica connected, and waitReplicas asks for 2: every task state waits 300 ms for them, fails and is stored again (resultBackendTransportOptions; docs/brokers-and-backends.md)`,
      ]);
    }, 30_000);

    /** The backend's writes beside task states, each with a key of the group it writes. */
    const writes: [string, (b: RedisBackend, id: string) => Promise<unknown>, (id: string) => string][] = [
      ['a group', (b, id) => b.saveGroup(id, { result: [[[`${id}-member`, null], null]] } as never, { expiresSec: null }), (id) => `celery-taskset-meta-${id}`],
      ["a chord's size", (b, id) => b.setChordSize(id, 2, { expiresSec: null }), (id) => `celery-taskset-meta-${id}.s`],
      ['a chord part', (b, id) => b.addChordPart(id, { taskId: `${id}-part`, state: 'SUCCESS', result: 1, index: 0 }, { expiresSec: null }), (id) => `celery-taskset-meta-${id}.j`],
      ["a chord's counter", (b, id) => b.addToChord(id, 1, { expiresSec: null }), (id) => `celery-taskset-meta-${id}.t`],
      ['a revoke', (b, id) => b.revoke([id], { expiresSec: 3600 }), () => 'celeriac:revoked'],
    ];

    it.each(writes)('answers %s once the replica has it', async (kind, write, key) => {
      const backend = new RedisBackend({ url: master.url, waitReplicas: 1, waitReplicasTimeoutMs: 20_000 });
      const id = `held-${kind.replace(/\W+/g, '-')}`;
      try {
        await backend.connect();
        replica.pause();
        let writing: Promise<unknown>;
        try {
          writing = write(backend, id);
          await waitFor(async () => (await onMaster.exists(key(id))) === 1, 'the master to have the write', 10_000);
          expect(await settledAfterRoundTrips(writing)).toBe(false);
        } finally {
          replica.resume();
        }
        await writing;
        expect(await onReplica.exists(key(id))).toBe(1);
      } finally {
        await backend.close();
      }
    }, 30_000);

    it('fails a group save the replica did not acknowledge in time as a transport error that says it was written', async () => {
      const backend = new RedisBackend({ url: master.url, waitReplicas: 1, waitReplicasTimeoutMs: 200 });
      try {
        await backend.connect();
        replica.pause();
        try {
          await expect(backend.saveGroup('late-group', { result: [[['late-member', null], null]] } as never, { expiresSec: null })).rejects.toMatchObject({
            code: ErrorCodes.TRANSPORT,
            message: expect.stringContaining('Redis wrote the group, but 0 of the 1 replicas'),
          });
          expect(await onMaster.exists('celery-taskset-meta-late-group')).toBe(1);
        } finally {
          replica.resume();
        }
      } finally {
        await backend.close();
      }
    }, 30_000);

    it("acts on a chord part and a chord's counter the replica did not acknowledge in time, with a warning: they are not made twice", async () => {
      const warnings: string[] = [];
      const backend = new RedisBackend({ url: master.url, waitReplicas: 1, waitReplicasTimeoutMs: 200, log: (_level, msg, fields) => warnings.push(`${msg} ${fields?.err?.message ?? ''}`) });
      try {
        await backend.connect();
        await backend.setChordSize('late-chord', 1, { expiresSec: null });
        replica.pause();
        try {
          // The part that completes the join: its reply carries the parts, for the body to be called.
          const join = await backend.addChordPart('late-chord', { taskId: 'late-part', state: 'SUCCESS', result: 7, index: 0 }, { expiresSec: null });
          expect(join).toMatchObject({ count: 1, total: 1, parts: [{ taskId: 'late-part', result: 7 }] });
          await backend.addToChord('late-chord', 1, { expiresSec: null });
          expect(await onMaster.get('celery-taskset-meta-late-chord.t')).toBe('1');
        } finally {
          replica.resume();
        }
        expect(warnings).toEqual([
          expect.stringMatching(/^record part late-part of chord late-chord: going on without the replicas' acknowledgement Redis wrote the chord part, but 0 of the 1 replicas/),
          expect.stringMatching(/^add 1 part\(s\) to chord late-chord: going on without the replicas' acknowledgement Redis wrote the chord counter, but 0 of the 1/),
        ]);
      } finally {
        await backend.close();
      }
    }, 30_000);

    it('refuses a bad waitReplicas when the backend is made', () => {
      expect(() => new RedisBackend({ url: master.url, waitReplicas: -1 })).toThrow(
        expect.objectContaining({ code: ErrorCodes.CONFIG, message: expect.stringContaining('waitReplicas must be a whole number') }),
      );
    });
  });

  it('without waitReplicas, answers a send the replica does not have yet', async () => {
    const app = appWith({});
    await app.sendTask('wr.task', ['warm'], {}, { queue: QUEUE });
    replica.pause();
    try {
      const sent = await app.sendTask('wr.task', ['unreplicated'], {}, { queue: QUEUE });
      expect((await onMaster.lRange(QUEUE, 0, -1)).some((raw) => raw.includes(sent.id))).toBe(true);
    } finally {
      replica.resume();
    }
  }, 30_000);
});
