/**
 * @module bench/lib/redis
 * The harness's own Redis client: progress probes and cleanup. Cleanup only ever deletes keys
 * under a peer's own prefix (SCAN MATCH + UNLINK) or keys it named itself; never FLUSHDB/FLUSHALL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { UsageError } from './args.js';
import { nowMs, sleep } from './stats.js';
import type { BenchContext } from './types.js';

/** A plain ioredis client on the bench's Redis and db. */
export function adminClient(ctx: Pick<BenchContext, 'redisHost' | 'redisPort' | 'redisDb'>): Redis {
  return new Redis({ host: ctx.redisHost, port: ctx.redisPort, db: ctx.redisDb, maxRetriesPerRequest: 3, lazyConnect: false });
}

/** CPU seconds (user + system, all its threads) the Redis server has used since it started. */
export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  const seconds = field('used_cpu_user') + field('used_cpu_sys');
  if (!Number.isFinite(seconds)) throw new Error('INFO cpu of the bench Redis has no used_cpu_user/used_cpu_sys');
  return seconds;
}

/** Escapes SCAN MATCH glob characters. */
export function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}

/** UNLINKs every key matching `prefix*`; returns how many. */
export async function deleteByPrefix(redis: Redis, prefix: string): Promise<number> {
  if (prefix.length < 8) throw new Error(`refusing to delete by a short prefix: ${JSON.stringify(prefix)}`);
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${globEscape(prefix)}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}

/** UNLINKs the named keys in batches. */
export async function deleteKeys(redis: Redis, keys: readonly string[]): Promise<number> {
  let deleted = 0;
  for (let i = 0; i < keys.length; i += 1000) deleted += await redis.unlink(...keys.slice(i, i + 1000));
  return deleted;
}

/**
 * The keys that do not exist. Each chunk of 1,000 is first counted with one variadic EXISTS
 * and looked at key by key only when some are missing. A completion probe polls this while
 * the worker under test runs on the same Redis: a pipeline of 20,000 single EXISTS, when
 * the queue first runs empty, would take Redis time from the drain it measures.
 */
export async function missingKeys(redis: Redis, keys: readonly string[]): Promise<string[]> {
  const missing: string[] = [];
  for (let i = 0; i < keys.length; i += 1000) {
    const slice = keys.slice(i, i + 1000);
    if ((await redis.exists(...slice)) === slice.length) continue;
    const pipe = redis.pipeline();
    for (const k of slice) pipe.exists(k);
    const replies = (await pipe.exec()) ?? [];
    replies.forEach(([, v], j) => {
      if (v !== 1) missing.push(slice[j] as string);
    });
  }
  return missing;
}

/** Keys per EXISTS call of {@link resultKeysProbe}. */
const PROBE_CHUNK = 1000;

/**
 * The completion probe of a drain whose tasks store `celery-task-meta-<id>` keys (Celeriac,
 * Celery): a function that resolves with how many of `keys` (in the order their tasks were
 * sent) have no result yet.
 *
 * While the queue list is not empty, a call costs one LLEN, plus at most one variadic EXISTS
 * for the oldest chunk not yet confirmed, once its tasks were fetched at least a chunk ago
 * (the queue is FIFO). So when the queue runs empty only the last chunks are left to check,
 * and the end of the drain is seen within about one poll, as SCARD / ZCARD see it for
 * Bee-Queue and BullMQ. Checking all 20,000 keys only then took 30-40 ms, a few percent of
 * a drain, counted against these two peers alone.
 */
export function resultKeysProbe(redis: Redis, queueKey: string, keys: readonly string[]): () => Promise<number> {
  const total = keys.length;
  let pending = [...keys];
  return async () => {
    const queued = await redis.llen(queueKey);
    if (queued === 0) {
      pending = await missingKeys(redis, pending);
      return pending.length;
    }
    const fetched = total - queued;
    const confirmed = total - pending.length;
    if (pending.length > PROBE_CHUNK && confirmed + 2 * PROBE_CHUNK <= fetched) {
      const chunk = pending.slice(0, PROBE_CHUNK);
      if ((await redis.exists(...chunk)) === chunk.length) pending = pending.slice(PROBE_CHUNK);
    }
    return pending.length;
  };
}

/**
 * A redis-server of the caller's own on `port` (no persistence, loopback only, `extra` flags
 * after), and a client of it once it answers. The port must be free: a probe that flushes or
 * reads the server's CPU must not land on a shared server (UsageError otherwise).
 */
export function privateRedis(port: number, extra: readonly string[] = []): Promise<{ server: ChildProcess; redis: Redis }> {
  return spawnPrivate(port, ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1', ...extra], async (redis) => (await redis.ping()) === 'PONG');
}

/**
 * A sentinel of the caller's own on `port` (redis-server in sentinel mode, its config in a
 * directory of its own, removed when it exits) watching the {@link privateRedis} on
 * `masterPort` as master `name`, and a client of it once it names that master.
 */
export function privateSentinel(port: number, masterPort: number, name: string): Promise<{ server: ChildProcess; redis: Redis }> {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-bench-sentinel-'));
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`, ''].join('\n'));
  const started = spawnPrivate(port, [conf, '--sentinel'], async (redis) => {
    const addr = (await redis.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as string[] | null;
    return addr?.[1] === String(masterPort);
  });
  return started.then(
    (s) => (s.server.once('exit', () => rmSync(dir, { recursive: true, force: true })), s),
    (err: unknown) => {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    },
  );
}

/** Starts redis-server with `args` on the free `port`; resolves with a client once `ready` says so (10 s at most). */
async function spawnPrivate(port: number, args: readonly string[], ready: (redis: Redis) => Promise<boolean>): Promise<{ server: ChildProcess; redis: Redis }> {
  const probe = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  // Refused is the answer hoped for here, not an error to print.
  probe.on('error', () => undefined);
  const taken = await probe.connect().then(
    () => true,
    () => false,
  );
  probe.disconnect();
  if (taken) throw new UsageError(`port ${port} already answers: this needs a redis-server of its own (--port)`);
  const server = spawn('redis-server', args, { stdio: 'ignore' });
  // No binary on PATH, or a server that exits at once (a flag it refuses): said, not waited out.
  let failed: string | null = null;
  server.once('error', (err) => (failed = `redis-server could not start: ${err.message}`));
  server.once('exit', (code, signal) => (failed ??= `redis-server on port ${port} exited (${signal ?? `code ${String(code)}`}) before answering`));
  const redis = new Redis({ port, maxRetriesPerRequest: 1 });
  // Refused until the server listens; ioredis reconnects by itself.
  const quiet = (): void => undefined;
  redis.on('error', quiet);
  const deadline = nowMs() + 10_000;
  while (!(await ready(redis).catch(() => false))) {
    if (failed !== null || nowMs() > deadline) {
      redis.disconnect();
      server.kill('SIGTERM');
      throw new Error(failed ?? `redis-server on port ${port} did not answer within 10 s`);
    }
    await sleep(50);
  }
  redis.off('error', quiet);
  return { server, redis };
}

/** A TCP port on the loopback that nothing listens on now: where a test starts its {@link privateRedis}. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** Ends a {@link privateRedis}: its client, then its server, once the server has exited. */
export async function stopPrivateRedis(started: { server: ChildProcess; redis: Redis } | undefined): Promise<void> {
  if (started === undefined) return;
  started.redis.disconnect();
  if (started.server.exitCode !== null || started.server.signalCode !== null) return;
  const exited = once(started.server, 'exit');
  started.server.kill('SIGTERM');
  await exited;
}
