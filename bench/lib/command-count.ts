/**
 * @module bench/lib/command-count
 * Redis commands per task, counted by the server itself (`INFO commandstats`, which counts each
 * call a script makes under its own name, beside the EVALSHA that made it), on a redis-server
 * of its own so that nothing else is counted. Unlike CPU time, the count does not move with the
 * machine's load: one more call per task (an EXISTS in a script, a running record's HSET) shows
 * as one more, on any host. bench/guard.ts compares the counts with bench/command-budget.json.
 *
 * Scenarios, each with a fresh worker child (the build `module` names, else the working tree's):
 * - `round trip`: `delay().get()` one after the other against a worker at `-c 10`, after a
 *   warm-up; the client is the working tree's in every case, so a change of count between
 *   builds is the worker's.
 * - `drain c=<n>`: a queue filled first, then drained by a worker at that concurrency; the
 *   wait for the results reads them with TOUCH, which the engine never sends, and is not counted.
 * - `drain c=<n> -E`: the same with task events on and a monitor subscribed to them (a worker
 *   writes no task events while nobody listens), as `npm run bench` drains with `-E`.
 */
import { createApp } from 'celeriac';
import type { Redis } from 'ioredis';
import { globEscape } from './redis.js';
import { fillNoops } from './flow.js';
import { buildWorkers, startNodeWorker } from './proc.js';
import { commandCalls } from './probe-stats.js';
import { privateRedis, stopPrivateRedis } from './redis.js';
import { sleep } from './stats.js';
import { NOOP_TASK, celeriacUrls } from '../peers/celeriac-shared.js';

const PREFIX = 'count:';
const QUEUE = 'bench';
/**
 * The harness's own commands (`config` is how Redis before 7 names CONFIG RESETSTAT), and PING,
 * which the engine's connections send by the clock, not per task.
 */
const NOT_COUNTED = new Set(['info', 'config|resetstat', 'config', 'flushall', 'touch', 'ping', 'psubscribe']);

/** What to count. */
export interface CommandCountPlan {
  /** Timed round trips (0: none), after `warmup` untimed ones. */
  readonly roundTrips: number;
  readonly warmup: number;
  /** Tasks per drain, and the drains: at each concurrency, with task events on or off. */
  readonly drainN: number;
  readonly drains: readonly DrainConfig[];
  /** Longest wait for one scenario, ms. */
  readonly timeoutMs: number;
}

/** One drain of a plan. */
export interface DrainConfig {
  readonly concurrency: number;
  readonly events: boolean;
}

/** A drain's scenario name: `drain c=100`, `drain c=100 -E`. */
export const drainScenario = (d: DrainConfig): string => `drain c=${d.concurrency}${d.events ? ' -E' : ''}`;

/** One scenario's commands per task (per call for the round trip), by command name. */
export interface ScenarioCount {
  readonly scenario: string;
  readonly total: number;
  readonly byCommand: ReadonlyMap<string, number>;
}

/** Per task, by command, from an `INFO commandstats` text; the harness's own commands left out. */
export function countsPerTask(info: string, tasks: number): { total: number; byCommand: Map<string, number> } {
  const byCommand = new Map<string, number>();
  let total = 0;
  for (const [name, calls] of commandCalls(info)) {
    if (NOT_COUNTED.has(name)) continue;
    byCommand.set(name, calls / tasks);
    total += calls / tasks;
  }
  return { total, byCommand: new Map([...byCommand].sort((a, b) => b[1] - a[1])) };
}

function withModule(module: string | undefined): void {
  if (module === undefined) delete process.env.BENCH_CELERIAC_MODULE;
  else process.env.BENCH_CELERIAC_MODULE = module;
}

async function roundTrips(redis: Redis, port: number, module: string | undefined, plan: CommandCountPlan): Promise<ScenarioCount> {
  await redis.flushall();
  const urls = celeriacUrls({ host: '127.0.0.1', port, db: 0, prefix: PREFIX });
  const app = createApp({ broker: urls.broker, backend: urls.backend, logLevel: 'warn', taskDefaultQueue: QUEUE });
  const noop = app.task(NOOP_TASK, () => null);
  withModule(module);
  const worker = await startNodeWorker('celeriac', { host: '127.0.0.1', port, db: 0, prefix: PREFIX, queue: QUEUE, concurrency: 10 });
  try {
    await app.broker.connect();
    await app.backend.connect();
    await worker.go();
    const call = async () => noop.delay().get({ timeoutMs: plan.timeoutMs });
    for (let i = 0; i < plan.warmup; i++) await call();
    await redis.config('RESETSTAT');
    for (let i = 0; i < plan.roundTrips; i++) await call();
    return { scenario: 'round trip', ...countsPerTask(await redis.info('commandstats'), plan.roundTrips) };
  } finally {
    await worker.stop();
    await app.close();
  }
}

async function drain(redis: Redis, port: number, module: string | undefined, plan: CommandCountPlan, d: DrainConfig): Promise<ScenarioCount> {
  await redis.flushall();
  const urls = celeriacUrls({ host: '127.0.0.1', port, db: 0, prefix: PREFIX });
  const app = createApp({ broker: urls.broker, backend: urls.backend, logLevel: 'warn', taskDefaultQueue: QUEUE });
  const noop = app.task(NOOP_TASK, () => null);
  let keys: string[];
  try {
    keys = (await fillNoops(noop, plan.drainN)).map((id) => `celery-task-meta-${id}`);
  } finally {
    await app.close();
  }
  withModule(module);
  // Kombu's fanout channels of the prefix: `<prefix>/<db>.celeryev/<routing key>`.
  const monitor = d.events ? redis.duplicate() : undefined;
  await monitor?.psubscribe(`${globEscape(`${PREFIX}/0.celeryev/`)}*`);
  const worker = await startNodeWorker('celeriac', { host: '127.0.0.1', port, db: 0, prefix: PREFIX, queue: QUEUE, concurrency: d.concurrency, events: d.events });
  try {
    await redis.config('RESETSTAT');
    await worker.go();
    const deadline = Date.now() + plan.timeoutMs;
    for (let i = 0; i < keys.length; i += 1000) {
      const chunk = keys.slice(i, i + 1000);
      while ((await redis.touch(...chunk)) < chunk.length) {
        if (Date.now() > deadline) throw new Error(`command count: ${drainScenario(d)} did not finish within ${plan.timeoutMs} ms`);
        await sleep(20);
      }
    }
    return { scenario: drainScenario(d), ...countsPerTask(await redis.info('commandstats'), plan.drainN) };
  } finally {
    await worker.stop();
    monitor?.disconnect();
  }
}

/** Every scenario of `plan` for one build, on a redis-server of its own started on `port`. */
export async function countCommands(port: number, module: string | undefined, plan: CommandCountPlan): Promise<ScenarioCount[]> {
  buildWorkers();
  const started = await privateRedis(port);
  const { redis } = started;
  const out: ScenarioCount[] = [];
  try {
    if (plan.roundTrips > 0) out.push(await roundTrips(redis, port, module, plan));
    for (const d of plan.drains) out.push(await drain(redis, port, module, plan, d));
  } finally {
    withModule(undefined);
    // Gone before the next build's server takes the port.
    await stopPrivateRedis(started);
  }
  return out;
}
