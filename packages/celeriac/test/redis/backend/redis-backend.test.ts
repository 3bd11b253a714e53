/**
 * RedisBackend against the real Redis at 127.0.0.1:6379 (random key prefix per file, only
 * our keys deleted at the end), plus private redis-server processes for crash/restart tests.
 */
import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from 'celeriac/testing';
import { backendConformance } from '../../../src/testing/backend-conformance.js';
import { chordJoinConformance } from '../../../src/testing/chord-join-conformance.js';
import { groupStoreConformance } from '../../../src/testing/group-store-conformance.js';
import { rateTokenConformance } from '../../../src/testing/rate-token-conformance.js';
import { revocationConformance } from '../../../src/testing/revocation-conformance.js';
import { encodeResultMeta } from '../../../src/protocol/result.js';
import type { ResultMeta } from '../../../src/protocol/types.js';
import { CeleriacError, ErrorCodes } from '../../../src/errors.js';
import { REDIS_URL, RedisServerProcess, deleteKeys, freePort, randomKeyPrefix, shouldRunRedisTests } from '../../support/redis.js';
import { RedisBackend } from '../../../src/backends/redis/redis-backend.js';

const run = await shouldRunRedisTests('RedisBackend');
const PREFIX = randomKeyPrefix();
const meta = (taskId: string, status: string, result: ResultMeta['result'] = null): ResultMeta => ({
  status,
  result,
  traceback: null,
  children: [],
  date_done: status === 'SUCCESS' ? '2026-01-01T00:00:00.000000' : null,
  task_id: taskId,
});

/** Lines written by Python Celery 5.2.6 (docs/protocol.md §3.1), stored raw with SET. */
const PYTHON_METAS = [
  '{"status": "SUCCESS", "result": 5, "traceback": null, "children": [], "date_done": "2026-11-21T14:05:47.491713", "task_id": "d58fc7ba-98a0-432d-8e59-99eb44fc006b"}',
  '{"status": "SUCCESS", "result": 2, "traceback": null, "children": [], "date_done": "2026-11-21T14:11:48.624064", "group_id": "aa909e54-07f1-419d-946f-e2a80da78def", "name": "tapp.add", "args": [1, 1], "kwargs": {}, "worker": "w1@testhost", "retries": 0, "queue": "celery", "task_id": "a70a3b8c-252d-43bb-a015-6c54ca2e055c"}',
  '{"status": "FAILURE", "result": {"exc_type": "ValueError", "exc_message": ["kaboom"], "exc_module": "builtins"}, "traceback": "Traceback (most recent call last):\\n  File \\"...<truncated by us>", "children": [], "date_done": "2026-11-21T14:07:04.620646", "task_id": "7d3f6d06-e36e-4268-a007-4ef2e9aeaa79"}',
  '{"status": "RETRY", "result": {"exc_type": "KeyError", "exc_message": ["k5"], "exc_module": "builtins"}, "traceback": "<truncated by us>...celery.exceptions.Retry: Retry in 1s: KeyError(\'k5\')\\n", "children": [[["69b7d749-4b5b-4b93-b2f4-8b1d487fbe8e", null], null]], "date_done": null, "task_id": "69b7d749-4b5b-4b93-b2f4-8b1d487fbe8e"}',
  '{"status": "REVOKED", "result": {"exc_type": "TaskRevokedError", "exc_message": ["terminated"], "exc_module": "celery.exceptions"}, "traceback": null, "children": [], "date_done": "2026-11-21T14:08:21.675396", "task_id": "5f432b28-64c6-4951-a1a3-bcc1863d841f"}',
  '{"status": "FAILURE", "result": {"exc_type": "TimeLimitExceeded", "exc_message": [3], "exc_module": "billiard.exceptions"}, "traceback": null, "children": [], "date_done": "2026-11-21T14:11:31.509068", "task_id": "d60bb93d-7158-4417-828d-adbbba782b59"}',
  '{"status": "FAILURE", "result": {"exc_type": "NotRegistered", "exc_message": ["tapp.nosuch"], "exc_module": "celery.exceptions"}, "traceback": null, "children": [], "date_done": "2026-11-21T14:10:58.048868", "task_id": "840786ab-86f4-4f7b-b358-b85203cf7ece"}',
];

// Off only when Redis is unreachable outside CI; under CI=true shouldRunRedisTests throws instead.
describe.runIf(run)('RedisBackend on Redis', () => {
  afterAll(async () => {
    await deleteKeys(PREFIX);
  });

  // Every backend role the Redis backend plays.
  const make = () => new RedisBackend({ url: REDIS_URL, keyPrefix: PREFIX });
  backendConformance('redis', make);
  groupStoreConformance('redis', make);
  chordJoinConformance('redis', make);
  revocationConformance('redis', make);
  rateTokenConformance('redis', make);

  describe('RedisBackend on the shared Redis', () => {
    const raw = createClient({ url: REDIS_URL });
    const backends: RedisBackend[] = [];
    const open = () => {
      const b = new RedisBackend({ url: REDIS_URL, keyPrefix: PREFIX });
      backends.push(b);
      return b;
    };
    const key = (id: string) => `${PREFIX}celery-task-meta-${id}`;

    beforeAll(async () => {
      await raw.connect();
    });
    afterEach(async () => {
      await Promise.all(backends.splice(0).map((b) => b.close()));
    });
    afterAll(() => {
      raw.destroy();
    });

    it('unsubscribes an ended wait lazily: with the next SUBSCRIBE, or by itself soon after', async () => {
      const backend = open();
      const [a, b] = [randomUUID(), randomUUID()];
      const subscribers = async (id: string) => Number((await raw.pubSubNumSub(key(id)))[key(id)] ?? 0);
      const offA = await backend.subscribe(a, () => undefined);
      expect(await subscribers(a)).toBe(1);
      await offA();
      // The next SUBSCRIBE carries the held UNSUBSCRIBE ahead of it on the same connection.
      const offB = await backend.subscribe(b, () => undefined);
      expect(await subscribers(a)).toBe(0);
      expect(await subscribers(b)).toBe(1);
      await offB();
      await expect.poll(() => subscribers(b), { timeout: 2000 }).toBe(0);
    });

    it('gives a new wait on a channel whose UNSUBSCRIBE is held its result, and nothing to the ended one', async () => {
      const backend = open();
      const id = randomUUID();
      const ended: ResultMeta[] = [];
      const waiting: ResultMeta[] = [];
      const off = await backend.subscribe(id, (m) => ended.push(m));
      await off();
      await backend.store(meta(id, 'STARTED'), { expiresSec: 60 });
      await backend.subscribe(id, (m) => waiting.push(m));
      await backend.store(meta(id, 'SUCCESS', 3), { expiresSec: 60 });
      // STARTED's message may come in after the new wait joined the channel: it is the new one's.
      await expect.poll(() => waiting.at(-1)?.status).toBe('SUCCESS');
      expect(ended).toEqual([]);
    });

    it('stores exactly encodeResultMeta text with the TTL, and PUBLISHes it on the key name', async () => {
      const backend = open();
      const id = randomUUID();
      const m: ResultMeta = { ...meta(id, 'SUCCESS', { a: [1, 'é', null] }), group_id: 'g1', name: 'proj.add', args: [1, 2] };
      const sub = raw.duplicate();
      await sub.connect();
      const published: [string, string][] = [];
      await sub.subscribe(key(id), (message, channel) => published.push([channel, message]));
      await backend.store(m, { expiresSec: 86400 });
      expect(await raw.get(key(id))).toBe(encodeResultMeta(m));
      expect(await raw.ttl(key(id))).toBe(86400);
      await expect.poll(() => published.length).toBe(1);
      expect(published[0]).toEqual([key(id), encodeResultMeta(m)]);
      sub.destroy();

      const forever = randomUUID();
      await backend.store(meta(forever, 'STARTED'), { expiresSec: null });
      expect(await raw.ttl(key(forever))).toBe(-1);
    });

    it('replaces a stored meta that is not SUCCESS, its TTL set anew, and publishes each', async () => {
      const backend = open();
      const id = randomUUID();
      const sub = raw.duplicate();
      await sub.connect();
      const published: string[] = [];
      await sub.subscribe(key(id), (message) => published.push(message));
      await backend.store(meta(id, 'STARTED'), { expiresSec: null });
      expect(await raw.ttl(key(id))).toBe(-1);
      await backend.store(meta(id, 'RETRY'), { expiresSec: 60 });
      expect(await raw.ttl(key(id))).toBe(60);
      await backend.store(meta(id, 'SUCCESS', 7), { expiresSec: null });
      expect(await raw.ttl(key(id))).toBe(-1);
      expect((await backend.get(id))?.result).toBe(7);
      // Two metas of one task in one event-loop turn go out in one script call, in order.
      const other = randomUUID();
      await Promise.all([backend.store(meta(other, 'STARTED'), { expiresSec: 60 }), backend.store(meta(other, 'FAILURE'), { expiresSec: 30 })]);
      expect((await backend.get(other))?.status).toBe('FAILURE');
      expect(await raw.ttl(key(other))).toBe(30);
      await expect.poll(() => published.length).toBe(3);
      expect(published.map((text) => (JSON.parse(text) as { status: string }).status)).toEqual(['STARTED', 'RETRY', 'SUCCESS']);
      sub.destroy();
    });

    it('saves groups as GroupResult.save() does, with the TTL', async () => {
      const backend = open();
      const gid = randomUUID();
      await backend.saveGroup(gid, { result: [[gid, null], [[['a', null], null]]] }, { expiresSec: 60 });
      expect(await raw.get(`${PREFIX}celery-taskset-meta-${gid}`)).toBe(`{"result": [["${gid}", null], [[["a", null], null]]]}`);
      expect(await raw.ttl(`${PREFIX}celery-taskset-meta-${gid}`)).toBe(60);
    });

    it('decodes metas and group metas written by Python Celery', async () => {
      const backend = open();
      const ids = PYTHON_METAS.map((line) => (JSON.parse(line) as { task_id: string }).task_id);
      for (const [i, line] of PYTHON_METAS.entries()) await raw.set(key(ids[i] as string), line);
      const got = await backend.getMany(ids);
      expect(got.map((m) => m?.status)).toEqual(['SUCCESS', 'SUCCESS', 'FAILURE', 'RETRY', 'REVOKED', 'FAILURE', 'FAILURE']);
      expect(got[1]).toMatchObject({ group_id: 'aa909e54-07f1-419d-946f-e2a80da78def', name: 'tapp.add', args: [1, 1], worker: 'w1@testhost' });
      expect(got[3]?.children).toEqual([[['69b7d749-4b5b-4b93-b2f4-8b1d487fbe8e', null], null]]);
      expect((await backend.get(ids[2] as string))?.result).toEqual({ exc_type: 'ValueError', exc_message: ['kaboom'], exc_module: 'builtins' });
      // Our encoding of what we decoded is Python's text again, byte for byte.
      expect(got.map((m) => encodeResultMeta(m as ResultMeta))).toEqual(PYTHON_METAS);
      const gid = 'aa909e54-07f1-419d-946f-e2a80da78def';
      await raw.set(`${PREFIX}celery-taskset-meta-${gid}`, `{"result": [["${gid}", null], [[["${ids[1]}", null], null]]]}`);
      expect(await backend.getGroup(gid)).toEqual({ result: [[gid, null], [[[ids[1], null], null]]] });
    });

    it('never overwrites SUCCESS, even with concurrent writers on other connections', async () => {
      const writers = [open(), open(), open()];
      for (let round = 0; round < 5; round++) {
        const id = randomUUID();
        const stores = writers.flatMap((w, i) =>
          Array.from({ length: 20 }, (_, j) =>
            i === 0 && j === 10 ? w.store(meta(id, 'SUCCESS', 42), { expiresSec: 60 }) : w.store(meta(id, j % 2 ? 'FAILURE' : 'STARTED'), { expiresSec: 60 }),
          ),
        );
        await Promise.all(stores);
        const stored = await writers[1]?.get(id);
        expect(stored?.status).toBe('SUCCESS');
        expect(stored?.result).toBe(42);
      }
      // A SUCCESS written by Python (raw SET) is final too.
      const id = randomUUID();
      await raw.set(key(id), PYTHON_METAS[0]?.replace('d58fc7ba-98a0-432d-8e59-99eb44fc006b', id) as string);
      await writers[0]?.store(meta(id, 'FAILURE'), { expiresSec: 60 });
      expect((await writers[0]?.get(id))?.result).toBe(5);
    });

    it('keeps revokes in one sorted set scored by expiry, pruned on write', async () => {
      const backend = open();
      const [a, b] = [randomUUID(), randomUUID()];
      await backend.revoke([a], { expiresSec: 1 });
      await backend.revoke([b], { expiresSec: 3600 });
      const set = `${PREFIX}celeriac:revoked`;
      const scoreB = (await raw.zScore(set, b)) ?? 0;
      expect(scoreB - Date.now()).toBeGreaterThan(3590_000);
      expect(await raw.pTTL(set)).toBeGreaterThan(3590_000);
      await sleep(1100);
      expect(await backend.revoked([a, b])).toEqual(new Set([b]));
      await backend.revoke([randomUUID()], { expiresSec: 60 });
      expect(await raw.zScore(set, a)).toBeNull();
    });

    it('rejects bad arguments, bad URLs and any call after close', async () => {
      const backend = open();
      await expect(backend.store(meta('x', 'STARTED'), { expiresSec: 0 })).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
      await expect(backend.revoke(['x'], { expiresSec: Number.NaN })).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
      expect(() => new RedisBackend({ url: 'redis://:hunter2@h/nodb' })).toThrow(/database "nodb"/);
      await backend.connect();
      await backend.connect();
      await backend.close();
      await backend.close();
      expect(backend.state).toBe('closed');
      for (const call of [() => backend.connect(), () => backend.get('a'), () => backend.store(meta('a', 'STARTED'), { expiresSec: 60 }), () => backend.subscribe('a', () => undefined), () => backend.revoked(['a'])]) {
        await expect(call()).rejects.toMatchObject({ code: ErrorCodes.STATE });
      }
    });
  });

  describe('RedisBackend when Redis is down or restarts', () => {
    it('fails with TRANSPORT instead of hanging when nothing listens', async () => {
      const backend = new RedisBackend({ url: 'redis://:hunter2@127.0.0.1:1/0', connectTimeoutMs: 300 });
      const started = Date.now();
      const err = await backend.store(meta('x', 'STARTED'), { expiresSec: 60 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CeleriacError);
      expect((err as CeleriacError).code).toBe(ErrorCodes.TRANSPORT);
      expect((err as Error).message).toMatch(/connect to 127\.0\.0\.1:1/);
      expect((err as Error).message).not.toContain('hunter2');
      expect(Date.now() - started).toBeLessThan(3000);
      // A later call tries again (and fails again) rather than reusing a dead attempt.
      await expect(backend.get('x')).rejects.toMatchObject({ code: ErrorCodes.TRANSPORT });
      await expect(backend.subscribe('x', () => undefined)).rejects.toMatchObject({ code: ErrorCodes.TRANSPORT });
      await backend.close();
    });

    /** A backend and a raw client on a redis-server of the test's own (its connections may be killed); all gone after. */
    async function onPrivateServer(run: (backend: RedisBackend, raw: ReturnType<typeof createClient>) => Promise<void>): Promise<void> {
      const server = new RedisServerProcess(await freePort());
      await server.start();
      const backend = new RedisBackend({ url: server.url });
      const raw = createClient({ url: server.url });
      try {
        await raw.connect();
        await run(backend, raw);
      } finally {
        raw.destroy();
        await backend.close();
        await server.kill();
      }
    }

    it('re-reads subscribed keys after a reconnect of the subscriber', () =>
      onPrivateServer(async (backend, raw) => {
        const id = randomUUID();
        const seen: ResultMeta[] = [];
        await backend.subscribe(id, (m) => seen.push(m));
        // Kill the subscriber (a private server: nobody else's), then write without PUBLISH:
        // only the re-read after the reconnect can deliver this meta.
        expect(await raw.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub'])).toBe(1);
        await raw.set(`celery-task-meta-${id}`, encodeResultMeta(meta(id, 'SUCCESS', 7)));
        await expect.poll(() => seen.length, { timeout: 3000 }).toBeGreaterThanOrEqual(1);
        expect(seen[0]?.result).toBe(7);
      }));

    it('a wait on a channel just left sends no UNSUBSCRIBE and no second SUBSCRIBE to the server', () =>
      onPrivateServer(async (backend, raw) => {
        const id = randomUUID();
        const calls = async (command: string) => Number(/calls=(\d+)/.exec(((await raw.info('commandstats')) as string).split('\n').find((l) => l.startsWith(`cmdstat_${command}:`)) ?? '')?.[1] ?? 0);
        await (await backend.subscribe(id, () => undefined))();
        // No timer can run between the two: the held channel is taken back as it is.
        const seen: ResultMeta[] = [];
        const off = await backend.subscribe(id, (m) => seen.push(m));
        await backend.store(meta(id, 'SUCCESS', 4), { expiresSec: 60 });
        await expect.poll(() => seen.at(-1)?.result, { timeout: 3000 }).toBe(4);
        expect(await calls('subscribe')).toBe(1);
        expect(await calls('unsubscribe')).toBe(0);
        await off();
        await expect.poll(() => calls('unsubscribe'), { timeout: 3000 }).toBe(1);
      }));

    it('held UNSUBSCRIBEs survive a killed subscriber: the next waits get their results, and nothing is left subscribed', () =>
      onPrivateServer(async (backend, raw) => {
        // Ten waits end: their UNSUBSCRIBEs are held.
        const offs = await Promise.all(Array.from({ length: 10 }, () => backend.subscribe(randomUUID(), () => undefined)));
        for (const off of offs) await off();
        // The subscriber connection dies with them held; node-redis reconnects and resubscribes.
        expect(await raw.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub'])).toBe(1);
        const id = randomUUID();
        const seen: ResultMeta[] = [];
        const off = await backend.subscribe(id, (m) => seen.push(m));
        await backend.store(meta(id, 'SUCCESS', 9), { expiresSec: 60 });
        await expect.poll(() => seen.at(-1)?.result, { timeout: 3000 }).toBe(9);
        await off();
        // Every held channel goes in the end: the server counts no channel of ours.
        await expect.poll(async () => ((await raw.sendCommand(['PUBSUB', 'CHANNELS', 'celery-task-meta-*'])) as string[]).length, { timeout: 3000 }).toBe(0);
      }));

    it('gives up on a frozen server after commandTimeoutMs, then reconnects when it answers', async () => {
      const server = new RedisServerProcess(await freePort());
      await server.start();
      const backend = new RedisBackend({ url: server.url, commandTimeoutMs: 300, connectTimeoutMs: 2000 });
      try {
        const id = randomUUID();
        await backend.store(meta(id, 'STARTED'), { expiresSec: 60 });
        server.pause();
        const started = Date.now();
        await expect(backend.get(id)).rejects.toMatchObject({ code: ErrorCodes.TRANSPORT, message: expect.stringMatching(/no reply within 300 ms/) });
        // The connection was replaced; connecting to the frozen server times out the same way.
        await expect(backend.get(id)).rejects.toMatchObject({ code: ErrorCodes.TRANSPORT });
        console.info(`[measure] two calls on a frozen server failed after ${Date.now() - started} ms`);
        server.resume();
        expect((await backend.get(id))?.status).toBe('STARTED');
      } finally {
        server.resume();
        await backend.close();
        await server.kill();
      }
    });

    it('survives kill -9 and a restart of Redis without being recreated', async () => {
      const server = new RedisServerProcess(await freePort());
      await server.start();
      const backend = new RedisBackend({ url: server.url, offlineQueueTimeoutMs: 400, connectTimeoutMs: 2000 });
      try {
        const id = randomUUID();
        const seen: ResultMeta[] = [];
        await backend.subscribe(id, (m) => seen.push(m));
        await backend.store(meta(id, 'STARTED'), { expiresSec: 60 });
        await server.kill();
        // While Redis is down a call waits at most offlineQueueTimeoutMs, then fails.
        const started = Date.now();
        await expect(backend.store(meta(id, 'PROGRESS'), { expiresSec: 60 })).rejects.toMatchObject({ code: ErrorCodes.TRANSPORT });
        expect(Date.now() - started).toBeLessThan(2000);
        await server.start();
        const back = Date.now();
        // The same backend object recovers: a store succeeds once its client has reconnected
        // (the reconnect backoff decides when; each try waits at most offlineQueueTimeoutMs).
        await expect
          .poll(() => backend.store(meta(id, 'SUCCESS', 1), { expiresSec: 60 }).then(() => true, () => false), { timeout: 10_000, interval: 100 })
          .toBe(true);
        console.info(`[measure] first successful store after restart took ${Date.now() - back} ms`);
        expect((await backend.get(id))?.status).toBe('SUCCESS');
        // The subscriber came back too (node-redis resubscribes; we also re-read the key).
        await expect.poll(() => seen.some((m) => m.status === 'SUCCESS'), { timeout: 5000 }).toBe(true);
      } finally {
        await backend.close();
        await server.kill();
      }
    });
  });
});
