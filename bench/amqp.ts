/**
 * The RabbitMQ bench: Celeriac against Python Celery on the same RabbitMQ, in one run, in one
 * vhost made for the run (rabbitmqctl) and deleted at the end; classic queues (Celery 5.2.6)
 * and quorum queues (the Celery 5.6.3 oracle: 5.2 cannot consume them).
 *
 * ```sh
 * npm run bench:amqp [-- --n 20000 --concurrency 1,10,100 --rounds 3 --queue-types classic,quorum]
 * npm run bench:amqp -- --help
 * ```
 *
 * Per round and queue type, interleaved: Celeriac's drain at each concurrency, Celery's at
 * each configuration (`--celery`, default prefork -c 2, threads -c 10, threads -c 100, as the
 * Redis bench), then the round trips of each side (Celeriac's client and worker -c 10,
 * Celery's own client and worker `-P threads -c 10`). Every measurement records the machine's
 * load average. The report (bench/lib/amqp-report.ts) goes to
 * `results/<date>-<host>-amqp.md` and `.json`. Nothing asserts a number.
 */
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import type { App } from 'celeriac';
import { AMQP_USAGE, parseAmqpArgs, type AmqpBenchArgs, type CeleryConfig, type QueueType } from './lib/amqp-args.js';
import { UsageError } from './lib/args.js';
import { floor } from './lib/amqp-floor.js';
import { amqpMarkdown, type AmqpRun, type DrainRun, type FloorRun, type RoundTripRun, type Side } from './lib/amqp-report.js';
import { buildWorkers, cpuSeconds, processTree } from './lib/proc.js';
import { percentile } from './lib/stats.js';
import { celeriacApp, queueOf, celeryRoundTrips, celeryVersion, startCeleriacWorker, startCeleryWorker, type AmqpWorker } from './peers/amqp-peers.js';

const run = promisify(execFile);
const HOST = process.env['CELERIAC_TEST_AMQP_HOST'] ?? '127.0.0.1:5672';
/** Round trips of each side: Celeriac's worker at this concurrency, Celery's `-P threads` at it. */
const RT_CONCURRENCY = 10;

let args: AmqpBenchArgs;
try {
  args = parseAmqpArgs(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  console.error(`${err.message}\n\n${AMQP_USAGE}`);
  process.exit(2);
}
if (args.help) {
  console.log(AMQP_USAGE);
  process.exit(0);
}

const load1 = () => loadavg()[0] as number;
const perTask = (sec: number, n: number) => Math.round((sec * 1e6) / n);

/**
 * rabbitmqctl, bounded: a hung broker CLI fails the step instead of the run hanging (on
 * 2026-11-25 `add_vhost` hung for good once RabbitMQ's file handle cache was full: a new
 * vhost waits for a handle to recover). On timeout its whole process tree is killed: killing
 * the script alone left its Erlang VM behind.
 */
function ctl(...a: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('rabbitmqctl', ['-q', ...a], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      // The whole tree: the script runs its VM through su, in a session of its own.
      for (const pid of processTree(child.pid as number).reverse()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      reject(new Error(`rabbitmqctl ${a.join(' ')} did not answer within 60 s (a wedged broker?)`));
    }, 60_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (timedOut) return;
      if (code === 0) resolve(out);
      else reject(new Error(`rabbitmqctl ${a.join(' ')} exited ${code}: ${err.trim()}`));
    });
  });
}

/**
 * The local RabbitMQ's Erlang VM, whose CPU is read around each drain: the pid the node reports
 * (`pgrep beam.smp` may find a rabbitmqctl's VM instead); undefined for a remote broker.
 */
const RABBIT_PID = await ctl('eval', 'os:getpid().').then(
  (out) => Number(out.trim().replace(/"/g, '')) || undefined,
  () => undefined,
);
const rabbitSeconds = () => (RABBIT_PID === undefined ? NaN : cpuSeconds(RABBIT_PID, false));

async function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: over --step-timeout ${args.stepTimeoutSec} s`)), args.stepTimeoutSec * 1000);
  });
  try {
    return await Promise.race([p, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** Sends n `bench.noop` tasks to `queue` in batches of 1,000; their ids. */
async function enqueue(app: App, queue: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 1000) {
    const batch = Array.from({ length: Math.min(1000, n - i) }, () => ({ name: 'bench.noop', options: { queue } }));
    for (const r of await app.sendTasks(batch)) ids.push(r.id);
  }
  return ids;
}

/**
 * Empties `queue` when it exists: a drain that failed leaves its tasks behind, and the next
 * drain of that queue must not run them on its clock.
 */
async function purge(url: string, queue: string): Promise<void> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    await ch.purgeQueue(queue).catch(() => undefined); // 404: not declared yet
  } finally {
    await conn.close().catch(() => undefined);
  }
}

async function drain(url: string, side: Side, queueType: QueueType, config: string, round: number, start: () => Promise<AmqpWorker>): Promise<DrainRun> {
  await purge(url, queueOf(side, queueType));
  const app = celeriacApp(url, queueType);
  try {
    const t0 = performance.now();
    const ids = await enqueue(app, queueOf(side, queueType), args.n);
    const enqueuePerSec = Math.round((args.n / (performance.now() - t0)) * 1000);
    const worker = await start();
    try {
      const cpu0 = worker.cpu();
      const rabbit0 = rabbitSeconds();
      const self0 = process.cpuUsage();
      const t = performance.now();
      await withTimeout(Promise.all(ids.map((id) => app.asyncResult(id).get({ timeoutMs: args.stepTimeoutSec * 1000 }))), `${side} ${config} drain`);
      const ms = performance.now() - t;
      const self = process.cpuUsage(self0);
      return {
        side,
        queueType,
        config,
        round,
        n: args.n,
        tasksPerSec: Math.round((args.n / ms) * 1000),
        enqueuePerSec,
        workerCpuUs: perTask(worker.cpu() - cpu0, args.n),
        clientCpuUs: perTask((self.user + self.system) / 1e6, args.n),
        rabbitCpuUs: perTask(rabbitSeconds() - rabbit0, args.n),
        peakRssMb: worker.peakRssMb(),
        load: load1(),
      };
    } finally {
      await worker.stop();
    }
  } finally {
    await app.close();
  }
}

/** Celeriac's round trips: `(await sendTask()).get()` from this process against its worker child. */
async function celeriacRoundTrips(url: string, queueType: QueueType): Promise<number[]> {
  const app = celeriacApp(url, queueType);
  try {
    const samples: number[] = [];
    for (let i = 0; i < args.rtWarmup + args.roundTrips; i++) {
      const t = performance.now();
      await (await app.sendTask('bench.noop', [], {}, { queue: queueOf('celeriac', queueType) })).get({ timeoutMs: 30_000 });
      if (i >= args.rtWarmup) samples.push(performance.now() - t);
    }
    return samples;
  } finally {
    await app.close();
  }
}

async function roundTrip(url: string, side: Side, queueType: QueueType, round: number): Promise<RoundTripRun> {
  const config = side === 'celeriac' ? `c=${RT_CONCURRENCY}` : `threads -c ${RT_CONCURRENCY}`;
  const worker = side === 'celeriac' ? await startCeleriacWorker(url, queueOf(side, queueType), queueType, RT_CONCURRENCY) : await startCeleryWorker(url, queueOf(side, queueType), queueType, { pool: 'threads', concurrency: RT_CONCURRENCY });
  try {
    const what = `${side} round trips`;
    const samples = await withTimeout(side === 'celeriac' ? celeriacRoundTrips(url, queueType) : celeryRoundTrips(url, queueOf(side, queueType), queueType, args.roundTrips, args.rtWarmup, args.stepTimeoutSec * 1000), what);
    return { side, queueType, config, round, samples: samples.length, p50: percentile(samples, 50), p99: percentile(samples, 99), peakRssMb: worker.peakRssMb(), load: load1() };
  } finally {
    await worker.stop();
  }
}

const celeryName = (c: CeleryConfig) => `${c.pool} -c ${c.concurrency}`;

async function main(): Promise<void> {
  buildWorkers();
  const started = new Date();
  const loadBefore = loadavg();
  const notes: string[] = [];
  const drains: DrainRun[] = [];
  const roundTrips: RoundTripRun[] = [];
  const floors: FloorRun[] = [];
  const celeryVersions: Partial<Record<QueueType, string>> = {};
  if (args.celery.length > 0) for (const t of args.queueTypes) celeryVersions[t] = await celeryVersion(t);
  const rabbitmq = (await ctl('eval', 'rabbit_misc:version().').catch(() => '?')).trim().replace(/"/g, '');
  const vhost = `celeriac-bench-${randomUUID().slice(0, 8)}`;
  await ctl('add_vhost', vhost);
  let deleted = false;
  const dropVhost = async () => {
    if (deleted) return;
    deleted = true;
    await ctl('delete_vhost', vhost).catch((err: unknown) => console.error(`could not delete vhost ${vhost}: ${String(err)}`));
  };
  process.once('SIGINT', () => void dropVhost().then(() => process.exit(130)));
  try {
    await ctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
    const url = `amqp://guest:guest@${HOST}/${encodeURIComponent(vhost)}`;
    const step = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await fn();
      } catch (err) {
        notes.push(`${what} failed: ${String((err as Error).message ?? err).split('\n')[0]}`);
        console.error(`${what} failed:`, err);
        return undefined;
      }
    };
    for (let round = 1; round <= args.rounds; round++) {
      for (const queueType of args.queueTypes) {
        // Which side drains first alternates by round.
        const sides: Side[] = round % 2 === 1 ? ['celeriac', 'celery'] : ['celery', 'celeriac'];
        for (const side of sides) {
          if (side === 'celeriac') {
            for (const c of args.concurrency) {
              const d = await step(`round ${round} ${queueType} celeriac c=${c}`, () => drain(url, 'celeriac', queueType, `c=${c}`, round, () => startCeleriacWorker(url, queueOf('celeriac', queueType), queueType, c)));
              if (d) drains.push(d);
            }
          } else {
            for (const config of args.celery) {
              const d = await step(`round ${round} ${queueType} celery ${celeryName(config)}`, () => drain(url, 'celery', queueType, celeryName(config), round, () => startCeleryWorker(url, queueOf('celery', queueType), queueType, config)));
              if (d) drains.push(d);
            }
          }
        }
        if (args.roundTrips > 0) {
          for (const side of sides) {
            if (side === 'celery' && args.celery.length === 0) continue;
            const r = await step(`round ${round} ${queueType} ${side} round trips`, () => roundTrip(url, side, queueType, round));
            if (r) roundTrips.push(r);
          }
        }
        const mine = drains.filter((d) => d.round === round && d.queueType === queueType).map((d) => `${d.side} ${d.config} ${d.tasksPerSec}/s`);
        console.error(`round ${round}/${args.rounds} ${queueType}: ${mine.join(', ')}; load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
      }
      if (args.floors) {
        const c = Math.max(...args.concurrency);
        for (const kind of ['minimal', 'celery'] as const) {
          const f = await step(`round ${round} floor ${kind}`, () => floor(url, kind, args.n, c));
          if (f) floors.push({ kind, round, ...f, load: load1() });
        }
      }
    }
  } finally {
    await dropVhost();
  }
  const commit = (await run('git', ['rev-parse', '--short', 'HEAD']).catch(() => ({ stdout: '?' }))).stdout.trim();
  const result: AmqpRun = {
    started: started.toISOString().slice(0, 16).replace('T', ' '),
    finished: new Date().toISOString().slice(0, 16).replace('T', ' '),
    host: hostname(),
    commit,
    command: `npm run bench:amqp${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    n: args.n,
    rounds: args.rounds,
    celeryVersions,
    rabbitmq,
    loadBefore,
    loadAfter: loadavg(),
    drains,
    roundTrips,
    floors,
    notes,
  };
  const md = amqpMarkdown(result);
  console.log(md);
  const out = args.out ?? join(fileURLToPath(new URL('.', import.meta.url)), 'results');
  mkdirSync(out, { recursive: true });
  const base = join(out, `${started.toISOString().slice(0, 10)}-${hostname()}-amqp`);
  writeFileSync(`${base}.md`, md);
  writeFileSync(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
  console.error(`written: ${base}.md and .json`);
  if (notes.length > 0) process.exitCode = 1;
}

await main();
