/**
 * Where a Celeriac round trip's time goes (issue 42 item 3), on a redis-server of its own:
 * `delay()` then `get()`, one after the other, against a worker child (-c 10, as
 * `npm run bench`'s round trip), measured by what a loaded machine moves little. `--way
 * chained` (the default) times the bench's `delay().get()`, whose wait is subscribed in the
 * write that sends the task (core/early-wait.ts); `--way awaited` times `(await delay()).get()`,
 * whose wait reads first:
 * - CPU, socket writes and socket reads per round trip of the client and of the worker
 *   (process.cpuUsage(), /proc/<pid>/stat and /proc/<pid>/io: every read and write system
 *   call, nearly all of them on the Redis connections): on a VM a write to a local socket
 *   costs tens of µs of CPU, and each one wakes the reader;
 * - Redis commands per round trip, by name (INFO commandstats), both processes together, and
 *   the server's own latency events of 1 ms or more (LATENCY LATEST): a slow command inside
 *   Redis shows there, a Redis that was not given the CPU does not;
 * - a timeline of the hops: each node-redis command issued (`>`) and settled by its reply
 *   (`<`), and each pub/sub message received, in the client (P) and in the worker (W), as the
 *   median offset from `delay()` over the timed round trips (lib/rt-marks.ts: node-redis's own
 *   diagnostics_channel events, one wall clock for both processes).
 * Scripts show by the start of their SHA1 (`sha1sum packages/celeriac/src/{brokers,backends}/redis/scripts/*.lua`).
 *
 *   npm run build && node --import tsx bench/rt-probe.ts [--base <git rev>] [--n 2000] [--timeline 500] [--port 6401]
 *
 * `--slowest k` also lists the k slowest timed round trips, each with every mark from 2 ms
 * before its start to its end (offsets in µs from its `delay()`): where a tail round trip
 * waited, and who was waiting for whom.
 *
 * `--base` runs the same probe first with that commit's worker (the client is the working
 * tree's for both, as in bench/ab.ts). The p50/p99 printed are for information: on a shared
 * machine they move with its load; the counts and the order of the hops do not.
 * Nothing here runs under `npm test`.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createApp } from 'celeriac';
import type { Redis } from 'ioredis';
import { buildRevision, git } from './lib/ab.js';
import { buildWorkers, startNodeWorker } from './lib/proc.js';
import { commandCalls, processIo } from './lib/probe-stats.js';
import { mark, record, taken, type Mark } from './lib/rt-marks.js';
import { privateRedis } from './lib/redis.js';
import { median, nowMs, percentile } from './lib/stats.js';
import { NOOP_TASK, celeriacUrls } from './peers/celeriac-shared.js';

const PREFIX = 'rtprobe:';
const QUEUE = 'bench';
/** Compiled by buildWorkers() (tsconfig.workers.json), for the worker child's --import. */
const MARKS_MODULE = fileURLToPath(new URL('./dist/lib/rt-marks.js', import.meta.url));
const USAGE = 'usage: node --import tsx bench/rt-probe.ts [--base <git rev>] [--n 2000] [--timeline 500] [--slowest 0] [--way chained|awaited] [--port 6401]\n';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    n: { type: 'string', default: '2000' },
    timeline: { type: 'string', default: '500' },
    port: { type: 'string', default: '6401' },
    slowest: { type: 'string', default: '0' },
    way: { type: 'string', default: 'chained' },
    help: { type: 'boolean', default: false },
  },
});
const n = Number(values.n);
const timed = Number(values.timeline);
const port = Number(values.port);
const slowest = Number(values.slowest);
const way = values.way;
if (way !== 'chained' && way !== 'awaited') {
  process.stderr.write(`--way takes chained or awaited, got ${JSON.stringify(way)}\n${USAGE}`);
  process.exit(2);
}

/** The median offset of each mark from the start of its round trip, in the order they come. */
function timeline(trips: readonly { start: number; end: number }[], marks: readonly Mark[]): string[] {
  const offsets = new Map<string, number[]>();
  let i = 0;
  for (const trip of trips) {
    while (i < marks.length && marks[i]![0] < trip.start) i++;
    const seen = new Map<string, number>();
    for (let j = i; j < marks.length && marks[j]![0] <= trip.end; j++) {
      const [us, label] = marks[j]!;
      const k = (seen.get(label) ?? 0) + 1;
      seen.set(label, k);
      const key = k === 1 ? label : `${label} (#${k})`;
      let list = offsets.get(key);
      if (list === undefined) offsets.set(key, (list = []));
      list.push(us - trip.start);
    }
  }
  return [...offsets]
    .filter(([, v]) => v.length >= trips.length / 2)
    .map(([label, v]) => ({ label, at: median(v) }))
    .sort((a, b) => a.at - b.at)
    .map(({ label, at }) => `${at.toFixed(0).padStart(7)}  ${label}`);
}

/** CPU time of a process so far, all its threads, in µs (/proc/<pid>/stat utime + stime, in USER_HZ ticks of 10 ms). */
function processCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

async function side(redis: Redis, label: string, module: string | undefined): Promise<string[]> {
  await redis.flushall();
  if (module === undefined) delete process.env.BENCH_CELERIAC_MODULE;
  else process.env.BENCH_CELERIAC_MODULE = module;
  const urls = celeriacUrls({ host: '127.0.0.1', port, db: 0, prefix: PREFIX });
  const app = createApp({ broker: urls.broker, backend: urls.backend, logLevel: 'warn', taskDefaultQueue: QUEUE });
  const noop = app.task(NOOP_TASK, () => null);
  await app.broker.connect();
  await app.backend.connect();
  const marksFile = join(tmpdir(), `rt-probe-${process.pid}-${Date.now()}.json`);
  process.env.RT_MARKS_FILE = marksFile;
  const worker = await startNodeWorker('celeriac', { host: '127.0.0.1', port, db: 0, prefix: PREFIX, queue: QUEUE, concurrency: 10 }, { nodeArgs: ['--import', MARKS_MODULE] });
  delete process.env.RT_MARKS_FILE;
  const out: string[] = [];
  const trips: { start: number; end: number }[] = [];
  try {
    await worker.go();
    // The bench's way (`delay().get()`: the wait subscribed in the send's write, core/early-wait.ts)
    // or the wait started on the awaited result (`(await delay()).get()`: it reads first).
    const roundTrip = way === 'chained' ? () => noop.delay().get({ timeoutMs: 10_000 }) : async () => (await noop.delay()).get({ timeoutMs: 10_000 });
    for (let i = 0; i < 100; i++) await roundTrip();
    await redis.config('RESETSTAT');
    await redis.call('LATENCY', 'RESET');
    const samples: number[] = [];
    const io0 = [processIo('self'), processIo(worker.pid)];
    const cpu0 = [process.cpuUsage(), processCpuUs(worker.pid)] as const;
    for (let i = 0; i < n; i++) {
      const t0 = nowMs();
      await roundTrip();
      samples.push(nowMs() - t0);
    }
    const io1 = [processIo('self'), processIo(worker.pid)];
    const clientCpu = process.cpuUsage(cpu0[0]);
    const workerCpu = processCpuUs(worker.pid) - cpu0[1];
    const calls = [...commandCalls(await redis.info('commandstats'))].filter(([name]) => !['info', 'config|resetstat', 'ping'].includes(name)).sort((a, b) => b[1] - a[1]);
    out.push(`${label}, ${way === 'chained' ? 'delay().get()' : '(await delay()).get()'}: p50 ${percentile(samples, 50).toFixed(3)} ms, p99 ${percentile(samples, 99).toFixed(3)} ms (n=${n}; moves with the machine's load)`);
    const per = (x: number, digits = 2) => (x / n).toFixed(digits);
    out.push(`  per round trip, client (this process): CPU ${per(clientCpu.user + clientCpu.system, 0)} µs, socket writes ${per(io1[0]!.syscw - io0[0]!.syscw)}, reads ${per(io1[0]!.syscr - io0[0]!.syscr)}`);
    out.push(`  per round trip, worker: CPU ${per(workerCpu, 0)} µs, socket writes ${per(io1[1]!.syscw - io0[1]!.syscw)}, reads ${per(io1[1]!.syscr - io0[1]!.syscr)}`);
    out.push(`  Redis commands per round trip: ${calls.map(([name, c]) => `${name} ${(c / n).toFixed(2)}`).join(', ')}`);
    // LATENCY LATEST: [event, unix time of the latest, its ms, the most ms] per event.
    const events = (await redis.call('LATENCY', 'LATEST')) as [string, number, number, number][];
    out.push(`  Redis's own latency events of 1 ms or more over those round trips: ${events.length === 0 ? 'none' : events.map(([event, , , max]) => `${event} (up to ${max} ms)`).join(', ')}`);
    record(true);
    for (let i = 0; i < timed; i++) {
      const start = (performance.timeOrigin + performance.now()) * 1000;
      mark('delay() called');
      const sent = noop.delay();
      const got = way === 'chained' ? sent.get({ timeoutMs: 10_000 }) : undefined;
      const r = await sent;
      mark('delay() resolved');
      await (got ?? r.get({ timeoutMs: 10_000 }));
      mark('get() resolved');
      trips.push({ start, end: (performance.timeOrigin + performance.now()) * 1000 });
    }
    record(false);
  } finally {
    await worker.stop();
    await app.close();
  }
  const marks: Mark[] = taken().splice(0).map(([us, l]): Mark => [us, `P ${l}`]);
  if (existsSync(marksFile)) {
    for (const [us, l] of JSON.parse(readFileSync(marksFile, 'utf8')) as Mark[]) marks.push([us, `W ${l}`]);
    rmSync(marksFile);
  }
  marks.sort((a, b) => a[0] - b[0]);
  out.push(`  timeline, median µs from delay() over ${trips.length} round trips (P client, W worker; > command issued, < its reply):`);
  for (const line of timeline(trips, marks)) out.push(`  ${line}`);
  for (const trip of [...trips].sort((a, b) => b.end - b.start - (a.end - a.start)).slice(0, slowest)) {
    out.push(`  a slow round trip: ${((trip.end - trip.start) / 1000).toFixed(2)} ms (µs from its delay(); the marks of the 2 ms before it first)`);
    for (const [us, label] of marks) if (us >= trip.start - 2000 && us <= trip.end) out.push(`  ${(us - trip.start).toFixed(0).padStart(7)}  ${label}`);
  }
  return out;
}

async function main(): Promise<void> {
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (!(n >= 1 && timed >= 1 && port > 0 && Number.isInteger(slowest) && slowest >= 0)) {
    process.stderr.write(`rt-probe: --n, --timeline and --port must be whole numbers >= 1, --slowest one >= 0\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  buildWorkers();
  const sides: [string, string | undefined][] = [];
  if (values.base !== undefined) sides.push([`base ${values.base}`, buildRevision(values.base)]);
  sides.push([`HEAD ${git('rev-parse', '--short', 'HEAD')}`, undefined]);
  const { server, redis } = await privateRedis(port, ['--latency-monitor-threshold', '1']);
  try {
    for (const [label, module] of sides) process.stdout.write(`${(await side(redis, label, module)).join('\n')}\n`);
  } finally {
    redis.disconnect();
    server.kill('SIGTERM');
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${String((error as Error).stack ?? error)}\n`);
  process.exitCode = 1;
});
