/**
 * A drain measured by what a loaded machine moves little, on a redis-server of its own: Redis
 * commands and Redis CPU per task, bytes the worker allocates per task, CPU per task by thread, and the time
 * its start() takes before the first consume (which a drain's rate includes and bench/ab.ts's
 * CPU per task does not). `--help` (lib/probe-stats.ts) says what it prints.
 *
 *   npm run build && node --import tsx bench/probe.ts [--base <git rev>] [--n 20000] [--concurrency 100] [--events] [--rounds 1] [--port 6400] [--cpu-prof <dir>] [--alloc-prof <dir>] [--jit]
 *
 * Nothing here runs under `npm test`. The server is started with no persistence and is
 * flushed before each drain: it is the probe's alone (the port must be free).
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApp } from 'celeriac';
import type { Redis } from 'ioredis';
import { listenForEvents } from './lib/event-listener.js';
import { UsageError } from './lib/args.js';
import { buildRevision, git } from './lib/ab.js';
import { fillNoops } from './lib/flow.js';
import { buildWorkers, startNodeWorker } from './lib/proc.js';
import { commandCalls, gcTotals, jitNote, jitTotals, parseProbeArgs, processIo, PROBE_USAGE, threadCpuDelta, threadStat, topAllocations, type AllocationNode, type ProbeArgs } from './lib/probe-stats.js';
import { globEscape, missingKeys, privateRedis, redisCpuSeconds } from './lib/redis.js';
import { nowMs, sleep } from './lib/stats.js';
import { NOOP_TASK, celeriacUrls } from './peers/celeriac-shared.js';

const PREFIX = 'probe:';
const QUEUE = 'bench';
/** USER_HZ: the unit of /proc stat times. */
const TICK_MS = 10;

/**
 * CPU ticks per thread name of `pid` (V8's helper threads share one name, summed). A thread not
 * in `before` (the tids of an earlier look) is named as started in the drain: the lease keeper
 * thread (brokers/redis/lease-keeper.ts) boots in start(), and is told apart from V8's that way.
 */
function threads(pid: number, before?: ReadonlySet<string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const { name, ticks } = threadStat(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
      const key = tid === String(pid) ? `${name} (main)` : before !== undefined && !before.has(tid) ? `${name} (started in the drain)` : name;
      out.set(key, (out.get(key) ?? 0) + ticks);
    } catch {
      // The thread ended while we looked.
    }
  }
  return out;
}

/** Per drain with --alloc-prof: the functions that allocated most; with --jit: what the optimizing compiler did. */
const notes: string[] = [];

/** One drain of one build. */
async function drain(redis: Redis, args: ProbeArgs, label: string, module: string | undefined): Promise<string> {
  await redis.flushall();
  const urls = celeriacUrls({ host: '127.0.0.1', port: args.port, db: 0, prefix: PREFIX });
  const app = createApp({ broker: urls.broker, backend: urls.backend, logLevel: 'warn', taskDefaultQueue: QUEUE });
  const noop = app.task(NOOP_TASK, () => null);
  let ids: string[];
  try {
    ids = await fillNoops(noop, args.n);
  } finally {
    await app.close();
  }
  if (module === undefined) delete process.env.BENCH_CELERIAC_MODULE;
  else process.env.BENCH_CELERIAC_MODULE = module;
  // A monitor listens, as in the bench: a worker drops task events that reach nobody
  // (event-dispatcher.ts), and a drain with -E would then measure events not sent.
  const listener = args.events ? await listenForEvents('127.0.0.1', args.port, `${globEscape(`${PREFIX}/0.celeryev/`)}*`) : undefined;
  let gcText = '';
  let recording = false;
  const allocFile = args.allocProf === undefined ? undefined : join(args.allocProf, `alloc-${label.replace(/[^\w.-]+/g, '_')}-${Date.now()}.heapprofile`);
  if (args.allocProf !== undefined) mkdirSync(args.allocProf, { recursive: true });
  const worker = await startNodeWorker('celeriac', { host: '127.0.0.1', port: args.port, db: 0, prefix: PREFIX, queue: QUEUE, concurrency: args.concurrency, events: args.events }, {
    nodeArgs: ['--trace-gc-nvp', ...(args.jit ? ['--trace-opt', '--trace-deopt'] : [])],
    ...(args.cpuProf === undefined ? {} : { cpuProf: args.cpuProf }),
    ...(allocFile === undefined ? {} : { allocProf: allocFile }),
    onOutput: (text) => {
      if (recording) gcText += text;
    },
  });
  try {
    await redis.config('RESETSTAT');
    const tids0 = new Set(readdirSync(`/proc/${worker.pid}/task`));
    const cpu0 = threads(worker.pid);
    const io0 = processIo(worker.pid);
    const redis0 = await redisCpuSeconds(redis);
    recording = true;
    const t0 = await worker.go();
    const started = nowMs();
    const keys = ids.map((id) => `celery-task-meta-${id}`);
    while ((await redis.exists(...keys.slice(-1000))) < Math.min(1000, keys.length) || (await missingKeys(redis, keys)).length > 0) await sleep(20);
    const end = nowMs();
    recording = false;
    const io = processIo(worker.pid);
    const cpu = threadCpuDelta(cpu0, threads(worker.pid, tids0));
    const redisUs = ((await redisCpuSeconds(redis)) - redis0) * 1e6;
    const calls = commandCalls(await redis.info('commandstats'));
    const gc = gcTotals(gcText);
    if (args.jit) notes.push(...jitNote(label, jitTotals(gcText)));
    const perTask = (x: number) => (x / args.n).toFixed(3);
    const total = [...cpu.values()].reduce((a, b) => a + b, 0) * TICK_MS;
    const commands = [...calls].filter(([name]) => !['exists', 'info', 'config|resetstat'].includes(name)).sort((a, b) => b[1] - a[1]).slice(0, 8);
    return [
      `| ${label} | ${Math.round(started - t0)} | ${Math.round(args.n / ((end - started) / 1000))}`,
      `${((total / args.n) * 1000).toFixed(1)} (${[...cpu].map(([name, ticks]) => `${name} ${ticks * TICK_MS}`).join(', ')})`,
      (redisUs / args.n).toFixed(1),
      `${perTask(io.syscw - io0.syscw)} / ${perTask(io.syscr - io0.syscr)}`,
      commands.map(([name, n]) => `${name} ${perTask(n)}`).join(', '),
      `${(gc.allocatedBytes / args.n / 1024).toFixed(2)} (${gc.collections} GCs, ${gc.markCompacts} full, ${Math.round(gc.pauseMs)} ms paused)${listener === undefined ? '' : `; ${perTask(listener.counter.messages)} celeryev messages per task`} |`,
    ].join(' | ');
  } finally {
    await worker.stop();
    listener?.close();
    // Written by the worker on stop (worker-child.ts); it also counts the drain's last moments.
    if (allocFile !== undefined) {
      const top = topAllocations((JSON.parse(readFileSync(allocFile, 'utf8')) as { head: AllocationNode }).head, args.n, 12);
      notes.push(`${label}: bytes allocated per task by function (${allocFile})`, ...top.map((t) => `  ${Math.round(t.bytesPerTask).toString().padStart(6)}  ${t.frame}`));
    }
  }
}

async function main(): Promise<void> {
  const args = parseProbeArgs(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(PROBE_USAGE);
    return;
  }
  buildWorkers();
  const sides: [string, string | undefined][] = [];
  if (args.base !== undefined) sides.push([`base ${args.base}`, buildRevision(args.base)]);
  sides.push([`HEAD ${git('rev-parse', '--short', 'HEAD')}`, undefined]);
  const { server, redis } = await privateRedis(args.port);
  const rows = [
    `| n=${args.n} c=${args.concurrency}${args.events ? ' -E' : ''} | start() ms | tasks/s after start | worker CPU us/task (ms by thread) | Redis CPU us/task | worker socket writes / reads per task | Redis commands per task | KB allocated per task |`,
    '| --- | ---: | ---: | --- | ---: | --- | --- | ---: |',
  ];
  try {
    for (let round = 1; round <= args.rounds; round++) {
      const order = round % 2 === 1 ? sides : [...sides].reverse();
      for (const [label, module] of order) rows.push(await drain(redis, args, args.rounds === 1 ? label : `${label} (round ${round})`, module));
    }
  } finally {
    redis.disconnect();
    server.kill('SIGTERM');
  }
  process.stdout.write(`${rows.join('\n')}\n`);
  if (notes.length > 0) process.stdout.write(`\n${notes.join('\n')}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof UsageError ? `probe: ${error.message}\n${PROBE_USAGE}` : String((error as Error).stack ?? error)}\n`);
  process.exitCode = error instanceof UsageError ? 2 : 1;
});
