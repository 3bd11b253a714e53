/**
 * `npm run bench:soak`: memory of one Celeriac worker over a long run (issue 42, item 6).
 *
 * A producer in this process keeps the queue fed in bulk publishes (at most --max-queued tasks
 * sent and not yet done), a worker child (bench/dist/worker-child.js, as in the bench) runs the
 * no-op task with results stored, and every --sample-every seconds the worker's RSS (/proc) and
 * V8 heap (its process.memoryUsage() over IPC) are sampled. A task counts as done once its
 * result key exists; the producer then deletes it (by exact name: Celery never prefixes result
 * keys), so Redis holds at most --max-queued tasks and results whatever --n is. Writes
 * <out>/<date>-<host>-soak.md, .svg and .json; exits 1 when the RSS grew more than
 * --max-growth from --baseline-at tasks to the end, 2 on a bad flag. Flags: `--help`.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApp } from 'celeriac';
import { parseOrExit } from './lib/args.js';
import { buildWorkers, startNodeWorker, vmRssMb, type WorkerHandle } from './lib/proc.js';
import { adminClient, deleteByPrefix, deleteKeys } from './lib/redis.js';
import { parseSoakArgs, SOAK_USAGE } from './lib/soak-args.js';
import { growthVerdict, soakMarkdown, soakSvg, type MemorySample } from './lib/soak-report.js';
import { nowMs, sleep } from './lib/stats.js';
import { celeriacUrls, NOOP_TASK } from './peers/celeriac-shared.js';

const args = parseOrExit('soak', SOAK_USAGE, () => parseSoakArgs(process.argv.slice(2)));
const QUEUE = 'soak';
/** A soak with no task done for this long is stuck, not slow. */
const STALL_MS = 120_000;
const MIB = 2 ** 20;

const prefix = `celeriac-bench:soak-${randomBytes(4).toString('hex')}:`;
const urls = celeriacUrls({ host: args.redisHost, port: args.redisPort, db: args.db, prefix });
const app = createApp({ broker: urls.broker, backend: urls.backend, logLevel: 'warn', taskDefaultQueue: QUEUE });
const noop = app.task(NOOP_TASK, () => null);
const redis = adminClient({ redisHost: args.redisHost, redisPort: args.redisPort, redisDb: args.db });
const started = nowMs();
const log = (line: string) => process.stderr.write(`[soak ${((nowMs() - started) / 1000).toFixed(1).padStart(7)} s] ${line}\n`);

/** Result keys of the batches sent and not yet confirmed, oldest first. */
const pending: string[][] = [];
let sent = 0;
let done = 0;
let worker: WorkerHandle | undefined;

async function cleanup(): Promise<void> {
  await worker?.stop().catch(() => undefined);
  await deleteByPrefix(redis, prefix);
  await deleteKeys(redis, pending.splice(0).flat());
}

async function sendBatch(): Promise<void> {
  const count = Math.min(args.batch, args.n - sent);
  const results = await noop.applyAsyncMany(Array.from({ length: count }, () => [] as []));
  pending.push(results.map((r) => `celery-task-meta-${r.id}`));
  sent += count;
}

/** Confirms (and deletes) the oldest batches whose results are all stored; whether any was. */
async function confirm(): Promise<boolean> {
  let any = false;
  for (let keys = pending[0]; keys !== undefined; keys = pending[0]) {
    if ((await redis.exists(...keys)) !== keys.length) break;
    await redis.unlink(...keys);
    pending.shift();
    done += keys.length;
    any = true;
  }
  return any;
}

/** Feeds and confirms until every task is done; throws past the timeout or a stall. */
async function pump(t0: number): Promise<void> {
  let lastProgress = nowMs();
  let lastLog = nowMs();
  while (done < args.n) {
    while (sent < args.n && sent - done + Math.min(args.batch, args.n - sent) <= args.maxQueued) await sendBatch();
    if (await confirm()) lastProgress = nowMs();
    else {
      // No RSS: its /proc entry is gone, the worker died (a crash is not a stall to wait out).
      if (vmRssMb(worker?.pid ?? 0) === 0) throw new Error(`the worker process exited with ${done}/${args.n} tasks done\n${worker?.output() ?? ''}`);
      await sleep(20);
    }
    if (nowMs() - t0 > args.timeoutSec * 1000) throw new Error(`timed out after ${args.timeoutSec} s with ${done}/${args.n} tasks done`);
    if (nowMs() - lastProgress > STALL_MS) throw new Error(`no task done for ${STALL_MS / 1000} s (${done}/${args.n} done): the worker is stuck\n${worker?.output() ?? ''}`);
    if (nowMs() - lastLog > 10_000) {
      lastLog = nowMs();
      log(`${done.toLocaleString('en-US')} done, ${(sent - done).toLocaleString('en-US')} queued or running, worker RSS ${vmRssMb(worker?.pid ?? 0).toFixed(1)} MiB`);
    }
  }
}

async function sample(w: WorkerHandle, t0: number): Promise<MemorySample> {
  const rssMb = vmRssMb(w.pid);
  const m = await (w.memory as NonNullable<WorkerHandle['memory']>)();
  return { seconds: (nowMs() - t0) / 1000, done, rssMb, heapUsedMb: m.heapUsed / MIB, heapTotalMb: m.heapTotal / MIB, externalMb: m.external / MIB };
}

/** Samples every --sample-every seconds until `finished` says stop. */
async function sampleLoop(w: WorkerHandle, t0: number, samples: MemorySample[], finished: () => boolean): Promise<void> {
  while (!finished()) {
    samples.push(await sample(w, t0));
    for (let waited = 0; waited < args.sampleEverySec * 1000 && !finished(); waited += 100) await sleep(100);
  }
}

async function main(): Promise<number> {
  log(`compiling the worker child; prefix ${prefix}`);
  buildWorkers();
  await app.broker.connect();
  await app.backend.connect();
  worker = await startNodeWorker('celeriac', { host: args.redisHost, port: args.redisPort, db: args.db, prefix, queue: QUEUE, concurrency: args.concurrency });
  // The queue is fed before the worker starts, so its first fetches find work.
  while (sent < Math.min(args.n, args.maxQueued)) await sendBatch();
  const t0 = await worker.go();
  log(`worker ${worker.pid} consuming at -c ${args.concurrency}; ${args.n.toLocaleString('en-US')} tasks to go`);
  const samples: MemorySample[] = [];
  let finished = false;
  const sampling = sampleLoop(worker, t0, samples, () => finished);
  try {
    await pump(t0);
  } finally {
    finished = true;
    await sampling;
  }
  const seconds = (nowMs() - t0) / 1000;
  samples.push(await sample(worker, t0));
  const verdict = growthVerdict(samples, args.baselineAt, args.maxGrowth);
  const outDir = args.outDir ?? fileURLToPath(new URL('./results/', import.meta.url));
  const base = `${new Date().toISOString().slice(0, 10)}-${hostname()}-soak`;
  const title = `Celeriac soak: ${args.n.toLocaleString('en-US')} tasks through one worker (-c ${args.concurrency}), ${new Date().toISOString()}`;
  const setup = [
    `Command: \`npm run bench:soak${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\`. Machine: ${hostname()}, Node ${process.version}, Redis ${args.redisHost}:${args.redisPort}/${args.db}.`,
    `The producer keeps at most ${args.maxQueued.toLocaleString('en-US')} tasks sent and not done (bulk publishes of ${args.batch}); results are stored by the worker and deleted by the producer once seen. Memory sampled every ${args.sampleEverySec} s: RSS from /proc/<pid>/status, V8 heap from the worker's process.memoryUsage() over IPC.`,
  ];
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, `${base}.svg`), soakSvg(samples, title));
  writeFileSync(join(outDir, `${base}.md`), soakMarkdown({ title, setup, verdict, maxGrowth: args.maxGrowth, baselineAt: args.baselineAt, svgFile: `${base}.svg`, seconds, n: args.n }, samples));
  writeFileSync(join(outDir, `${base}.json`), `${JSON.stringify({ args, seconds, verdict, samples }, null, 2)}\n`);
  log(`wrote ${join(outDir, base)}.md, .svg and .json`);
  const line = `RSS ${verdict.baseline.rssMb.toFixed(1)} MiB after ${verdict.baseline.done} tasks -> ${verdict.end.rssMb.toFixed(1)} MiB at ${verdict.end.done}: ${(verdict.growth * 100).toFixed(1)}% (limit ${(args.maxGrowth * 100).toFixed(1)}%)`;
  if (verdict.ok) {
    process.stdout.write(`soak passed: ${line}\n`);
    return 0;
  }
  process.stderr.write(`\nSOAK FAILED: the worker's memory grew: ${line}\n`);
  return 1;
}

process.once('SIGINT', () => {
  log('interrupted: deleting this run\'s keys');
  void cleanup().finally(() => process.exit(130));
});

let code = 1;
try {
  code = await main();
} catch (error) {
  process.stderr.write(`\nSOAK FAILED: ${error instanceof Error ? error.message : String(error)}\n`);
} finally {
  await cleanup().catch((err: unknown) => process.stderr.write(`soak: cleanup failed: ${String(err)}\n`));
  await app.close().catch(() => undefined);
  redis.disconnect();
}
process.exit(code);
