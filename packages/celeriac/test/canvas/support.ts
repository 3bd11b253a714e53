/**
 * Canvas test environments: the same tasks and worker on the memory broker + backend, and on
 * Redis (a random key prefix for broker and backend keys, deleted afterwards), so every
 * canvas test runs on both.
 */
import { pino } from 'pino';
import { RedisBackend } from '../../src/backends/redis/redis-backend.js';
import { RedisBroker } from '../../src/brokers/redis/redis-broker.js';
import { createApp, Worker, type App } from '../../src/index.js';
import { MemoryBackend, MemoryBroker } from '../../src/exports/memory.js';
import { deleteKeys, randomKeyPrefix, REDIS_URL } from '../support/redis.js';
import { settle, watchChords, watchSends, type HangProbe } from './hang.js';
import type { AsyncResult, GroupResult } from '../../src/index.js';
import { sleep } from 'celeriac/testing';

/** One environment: an app with canvas tasks, a running worker, and what the tasks saw. */
export interface CanvasEnv {
  app: App;
  backend: MemoryBackend | RedisBackend;
  worker: Worker;
  /** Calls of `t.record`, in order. */
  recorded: unknown[][];
  /** Key prefix on Redis, empty on memory. */
  prefix: string;
  /** Where the hang detector looks (test/canvas/hang.ts). */
  probe: HangProbe;
  /** `get()` through the hang detector: on timeout, fails with the pending parts and chord counters. */
  settle<T = unknown>(result: AsyncResult | GroupResult, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

/** Registers the tasks the canvas tests use. */
export function defineTasks(app: App, recorded: unknown[][]) {
  const add = app.task('t.add', (x: number, y: number) => x + y);
  const mul = app.task('t.mul', (x: number, y: number) => x * y);
  const tsum = app.task('t.tsum', (values: number[]) => values.reduce((a, b) => a + b, 0));
  const fail = app.task('t.fail', (msg: string) => {
    throw new RangeError(msg);
  });
  // Finishes after `ms`: lets a test make header parts end out of order.
  const slow = app.task('t.slow', async (value: number, ms: number) => {
    await sleep(ms);
    return value;
  });
  const record = app.task('t.record', (...args: unknown[]) => {
    recorded.push(args);
    return args.length;
  });
  const ident = app.task('t.ident', (value: unknown) => value as number[]);
  // Python's `def pack(*args): return list(args)`: takes anything, so any nesting composes.
  const pack = app.task('t.pack', (...args: unknown[]) => args as number[]);
  return { add, mul, tsum, fail, slow, record, ident, pack };
}

/** The environments every canvas test runs in. */
export const ENVIRONMENTS = ['memory', 'redis'] as const;

/** Creates an environment of `kind` with its worker started. */
export async function makeCanvasEnv(kind: (typeof ENVIRONMENTS)[number]) {
  const recorded: unknown[][] = [];
  const logger = pino({ level: 'silent' });
  let app: App;
  let backend: MemoryBackend | RedisBackend;
  let prefix = '';
  if (kind === 'memory') {
    backend = new MemoryBackend();
    app = createApp({}, { broker: new MemoryBroker(), backend, logger, env: {} });
  } else {
    prefix = randomKeyPrefix();
    backend = new RedisBackend({ url: REDIS_URL, keyPrefix: prefix });
    const broker = new RedisBroker(`${REDIS_URL}?global_keyprefix=${encodeURIComponent(prefix)}`, { pollIntervalMs: 20 });
    app = createApp({}, { broker, backend, logger, env: {} });
  }
  const tasks = defineTasks(app, recorded);
  const probe: HangProbe = { backend, chords: watchChords(backend), sent: watchSends(app), ...(prefix !== '' ? { redis: { url: REDIS_URL, prefix } } : {}) };
  const worker = new Worker(app, { concurrency: 8, hostname: `canvas-${kind}@test` });
  await worker.start();
  const env: CanvasEnv = {
    app,
    backend,
    worker,
    recorded,
    prefix,
    probe,
    settle: (result, timeoutMs) => settle(result, probe, timeoutMs),
    async close() {
      await worker.close({ deadlineMs: 2000 });
      await app.close();
      if (prefix !== '') await deleteKeys(prefix);
    },
  };
  return { env, ...tasks };
}
