/**
 * The RabbitMQ section of the bench: Celeriac against Python Celery 5.2.6 on the same
 * RabbitMQ (a throw-away vhost per measurement), plus the floor of amqplib alone.
 *
 * ```sh
 * npm run bench:amqp [-- --n 20000] [--concurrency 100] [--rounds 3] [--round-trips 300]
 *                    [--celery-pools threads,prefork] [--skip-celery]
 * ```
 *
 * Rows (tasks/s unless said otherwise):
 * - floor: amqplib alone, no Celery format: publish n messages on a confirm channel
 *   (pipelined), then consume them with prefetch 4 x c, and per message publish a reply and ack
 *   it (what a late-ack worker with rpc:// results does on the wire), until every reply is back.
 * - floor, Celery's messages: the same with what Celeriac cannot skip: the task's properties and
 *   header table as Celeriac sends them (captured, a fresh id per copy), the rpc:// result's
 *   properties and body, each ack sent only once its reply is confirmed, each reply parsed.
 * - enqueue: n `bench.noop` tasks sent by Celeriac (`sendTasks`, batches of 1,000), and 2,000
 *   sent one by one, each awaited.
 * - drain: n tasks pre-enqueued, then a worker started at concurrency c with late acks and
 *   rpc:// results; time from its readiness until the client got every result. Celeriac's
 *   worker runs in a child process (bench/amqp-worker.ts, async pool); Celery's with each pool
 *   of `--celery-pools` (default threads,prefork; threads and gevent at `-c c`, prefork at `-c` =
 *   CPU count: c processes would not fit the machine), prefetch multiplier 4 everywhere; gevent
 *   (python3-gevent) is skipped when not importable.
 * - round trip: sequential send + `get()` over rpc://, p50 and p99 in ms (first round only).
 * - worker CPU per drained task: user + system time of the worker process over the drain
 *   (from /proc; Celery's only for a one-process pool), and of the floor's process over its
 *   drain. Less sensitive to the shared machine's load than the rates.
 * - client and RabbitMQ CPU per drained task: the bench process (every `get()` over rpc://)
 *   and the local broker's `beam.smp` over the same drain (on a shared broker it includes the
 *   other users' traffic). On a 2-core machine a drain is bound by the sum of the three.
 *
 * The floor and every drain run once per round, interleaved, so a change in the machine's load
 * hits them alike; the table shows the median of the rounds and their range, and the load
 * average before and after. Celery's column is its best pool by median (named).
 * Nothing asserts a number; the figures are printed as a markdown table.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { pino } from 'pino';
import { createApp, type App } from 'celeriac';
import { buildWorkers } from './lib/proc.js';

const run = promisify(execFile);
const args = process.argv.slice(2);
const flag = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const N = flag('n', 20_000);
const C = flag('concurrency', 100);
const RT = flag('round-trips', 300);
const ROUNDS = flag('rounds', 3);
const SKIP_CELERY = args.includes('--skip-celery');
const poolsArg = args.indexOf('--celery-pools');
type Pool = 'threads' | 'prefork' | 'gevent';
const POOLS = (poolsArg >= 0 ? String(args[poolsArg + 1]) : 'threads,prefork').split(',') as Pool[];
const HOST = process.env['CELERIAC_TEST_AMQP_HOST'] ?? '127.0.0.1:5672';

const PY_TASKS = `
from celery import Celery
from celery.signals import worker_ready
import os
app = Celery('bench', broker=os.environ['CELERY_BROKER'], backend='rpc://')
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=4, worker_hijack_root_logger=False)
@app.task(name='bench.noop')
def noop():
    return None
@worker_ready.connect
def ready(**kwargs):
    print('BENCH-READY', flush=True)
`;

const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function ctl(...a: string[]): Promise<void> {
  await run('rabbitmqctl', ['-q', ...a], { timeout: 60_000 });
}

async function withVhost<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const vhost = `celeriac-bench-${randomUUID().slice(0, 8)}`;
  await ctl('add_vhost', vhost);
  await ctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
  try {
    return await fn(`amqp://guest:guest@${HOST}/${vhost}`);
  } finally {
    await ctl('delete_vhost', vhost).catch(() => undefined);
  }
}

/** CPU seconds (user + system) a process used so far, from /proc (Linux); NaN elsewhere. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

const usPerTask = (cpuSec: number) => Math.round((cpuSec * 1e6) / N);

/** The local RabbitMQ's Erlang VM (beam.smp), whose CPU is read around each drain; undefined when not found (a remote broker). */
const RABBIT_PID = await run('pgrep', ['-o', 'beam.smp']).then(
  ({ stdout }) => Number(stdout.trim()) || undefined,
  () => undefined,
);
/** RabbitMQ's CPU seconds so far (NaN without a local broker). On a shared broker it includes everyone's traffic. */
const rabbitSeconds = () => (RABBIT_PID === undefined ? NaN : cpuSeconds(RABBIT_PID));
/** CPU used since `from` by this process (the floor's, or the drain's client), and by RabbitMQ, in us per task. */
function cpuSince(from: { self: NodeJS.CpuUsage; rabbit: number }): { self: number; rabbit: number } {
  const used = process.cpuUsage(from.self);
  return { self: usPerTask((used.user + used.system) / 1e6), rabbit: usPerTask(rabbitSeconds() - from.rabbit) };
}
const cpuMark = () => ({ self: process.cpuUsage(), rabbit: rabbitSeconds() });

interface FloorResult {
  publish: number;
  drain: number;
  /** us per task: the floor's process (consumer and reply reader), and RabbitMQ. */
  cpu: number;
  rabbitCpu: number;
}

/**
 * The floor: amqplib alone. `minimal`: small messages (two headers, two properties), replies
 * acked without waiting for their confirm, replies only counted. `celery`: the same work with
 * what Celeriac must put on the wire and wait for: the properties and header table of a task
 * Celeriac sent (captured from the vhost, each copy with its own id), the rpc:// result's
 * properties and body, each delivery acked only once its reply is confirmed (acksLate), and
 * each reply parsed by the reader. Neither decodes the task's body or runs anything.
 */
async function floor(url: string, kind: 'minimal' | 'celery'): Promise<FloorResult> {
  const celery = kind === 'celery' ? await captureTask(url) : undefined;
  const conn = await amqp.connect(url);
  const pub = await conn.createConfirmChannel();
  await pub.assertQueue('floor', { durable: true });
  await pub.assertQueue('floor-reply', { durable: false, autoDelete: true });
  const body = celery?.content ?? Buffer.from('[[], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]');
  let t = performance.now();
  for (let i = 0; i < N; i++) {
    if (celery === undefined) {
      pub.publish('', 'floor', body, { contentType: 'application/json', deliveryMode: 2, headers: { id: String(i), task: 'bench.noop' } });
    } else {
      const id = randomUUID();
      pub.publish('', 'floor', body, { ...celery.options, headers: { ...celery.headers, id, root_id: id }, correlationId: id, replyTo: 'floor-reply' });
    }
  }
  await pub.waitForConfirms();
  const publish = rate(N, performance.now() - t);
  const replies = await conn.createChannel();
  let got = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  await replies.consume('floor-reply', (msg) => {
    if (celery !== undefined && msg !== null) JSON.parse(msg.content.toString('utf8'));
    if (++got === N) done();
  }, { noAck: true });
  const work = await conn.createConfirmChannel();
  await work.prefetch(4 * C, true);
  const cpu0 = cpuMark();
  t = performance.now();
  await work.consume('floor', (msg) => {
    if (msg === null) return;
    if (celery === undefined) {
      work.publish('', 'floor-reply', Buffer.from('{"status": "SUCCESS", "result": null}'), { contentType: 'application/json', deliveryMode: 1 });
      work.ack(msg);
      return;
    }
    const id = String(msg.properties.correlationId);
    const reply = Buffer.from(`{"task_id": "${id}", "status": "SUCCESS", "result": null, "traceback": null, "children": []}`);
    const props = { contentType: 'application/json', contentEncoding: 'utf-8', headers: {}, deliveryMode: 1, priority: 0, correlationId: id };
    work.publish('', String(msg.properties.replyTo), reply, props, (err) => {
      if (err === null || err === undefined) work.ack(msg);
    });
  });
  await all;
  const drain = rate(N, performance.now() - t);
  const used = cpuSince(cpu0);
  await conn.close();
  return { publish, drain, cpu: used.self, rabbitCpu: used.rabbit };
}

/** The properties and body of a `bench.noop` task as Celeriac publishes it, read back from the vhost. */
async function captureTask(url: string): Promise<{ options: amqp.Options.Publish; headers: Record<string, unknown>; content: Buffer }> {
  const app = newApp(url);
  try {
    await app.sendTask('bench.noop', [], {}, { queue: 'floor-capture' });
  } finally {
    await app.close();
  }
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    const msg = await ch.get('floor-capture', { noAck: true });
    if (msg === false) throw new Error('floor: the captured task is not in its queue');
    const p = msg.properties;
    const options: amqp.Options.Publish = { contentType: p.contentType, contentEncoding: p.contentEncoding, deliveryMode: p.deliveryMode, priority: p.priority };
    return { options, headers: { ...(p.headers ?? {}) }, content: msg.content };
  } finally {
    await conn.close();
  }
}

function newApp(url: string): App {
  return createApp({ broker: url, backend: 'rpc://' }, { env: {}, logger: pino({ level: 'warn' }) });
}

async function enqueue(app: App, n: number): Promise<{ ids: string[]; ms: number }> {
  const ids: string[] = [];
  const t = performance.now();
  for (let i = 0; i < n; i += 1000) {
    const batch = Array.from({ length: Math.min(1000, n - i) }, () => ({ name: 'bench.noop', options: { queue: 'bench' } }));
    for (const r of await app.sendTasks(batch)) ids.push(r.id);
  }
  return { ids, ms: performance.now() - t };
}

async function startWorker(kind: 'celeriac' | 'celery', url: string, pool: Pool = 'threads'): Promise<{ child: ChildProcess; stop: () => Promise<void> }> {
  let child: ChildProcess;
  let dir = '';
  if (kind === 'celeriac') {
    // Plain node on the built package (bench/dist/, see buildWorkers), as a worker runs in production.
    child = spawn(process.execPath, [...(process.env['BENCH_CPU_PROF'] ? ['--cpu-prof', '--cpu-prof-dir', process.env['BENCH_CPU_PROF']] : []), join(import.meta.dirname, 'dist', 'amqp-worker.js'), url, String(C)], { stdio: ['ignore', 'pipe', 'pipe'] });
  } else {
    dir = mkdtempSync(join(tmpdir(), 'celeriac-bench-amqp-'));
    writeFileSync(join(dir, 'bench_amqp.py'), PY_TASKS);
    child = spawn('/usr/bin/python3', ['-m', 'celery', '--workdir', dir, '-A', 'bench_amqp', 'worker', '-Q', 'bench', '-P', pool, '-c', String(pool === 'prefork' ? cpus().length : C), '--without-mingle', '--without-gossip', '--without-heartbeat', '-l', 'WARNING'], {
      env: { ...process.env, CELERY_BROKER: url, PYTHONUNBUFFERED: '1' },
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} worker not ready:\n${out}`)), 60_000);
    const on = (d: Buffer) => {
      out += d.toString();
      if (out.includes('BENCH-READY')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.once('exit', (code) => reject(new Error(`${kind} worker exited ${code}:\n${out}`)));
  });
  return {
    child,
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
      if (dir !== '') rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function drainAndRoundTrip(kind: 'celeriac' | 'celery', url: string, pool: Pool = 'threads', roundTrips = RT): Promise<{ drain: number; cpu: number; clientCpu: number; rabbitCpu: number; p50: number; p99: number }> {
  const app = newApp(url);
  try {
    const { ids } = await enqueue(app, N);
    const worker = await startWorker(kind, url, pool);
    try {
      const pid = worker.child.pid ?? 0;
      const cpu0 = cpuSeconds(pid);
      const mark = cpuMark();
      const t = performance.now();
      await Promise.all(ids.map((id) => app.asyncResult(id).get({ timeoutMs: 600_000 })));
      const drain = rate(N, performance.now() - t);
      const cpu = usPerTask(cpuSeconds(pid) - cpu0);
      const { self: clientCpu, rabbit: rabbitCpu } = cpuSince(mark);
      const samples: number[] = [];
      for (let i = 0; i < (roundTrips > 0 ? roundTrips + 20 : 0); i++) {
        const s = performance.now();
        const r = await app.sendTask('bench.noop', [], {}, { queue: 'bench' });
        await r.get({ timeoutMs: 30_000 });
        if (i >= 20) samples.push(performance.now() - s);
      }
      return { drain, cpu, clientCpu, rabbitCpu, p50: pct(samples, 50), p99: pct(samples, 99) };
    } finally {
      await worker.stop();
    }
  } finally {
    await app.close();
  }
}

async function hasGevent(): Promise<boolean> {
  return run('/usr/bin/python3', ['-c', 'import gevent']).then(
    () => true,
    () => false,
  );
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : Math.round(((s[m - 1] as number) + (s[m] as number)) / 2);
};
const spread = (xs: number[]) => (xs.length > 1 ? ` (${Math.min(...xs)}-${Math.max(...xs)})` : '');
const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');

buildWorkers();
const pools = SKIP_CELERY ? [] : [...POOLS];
if (pools.includes('gevent') && !(await hasGevent())) pools.splice(pools.indexOf('gevent'), 1);
const loadBefore = load();
const started = new Date().toISOString().slice(0, 16);
const floors: FloorResult[] = [];
const celeryFloors: FloorResult[] = [];
const ts: number[] = [];
const tsCpu: number[] = [];
const tsClient: number[] = [];
const tsRabbit: number[] = [];
const py = new Map<Pool, number[]>(pools.map((p) => [p, []]));
const pyCpu = new Map<Pool, number[]>(pools.map((p) => [p, []]));
const pyClient = new Map<Pool, number[]>(pools.map((p) => [p, []]));
const pyRabbit = new Map<Pool, number[]>(pools.map((p) => [p, []]));
let tsRt = { p50: NaN, p99: NaN };
let pyRt: { p50: number; p99: number } | undefined;
for (let round = 0; round < ROUNDS; round++) {
  const roundTrips = round === 0 ? RT : 0;
  floors.push(await withVhost((url) => floor(url, 'minimal')));
  celeryFloors.push(await withVhost((url) => floor(url, 'celery')));
  const mine = await withVhost((url) => drainAndRoundTrip('celeriac', url, 'threads', roundTrips));
  ts.push(mine.drain);
  tsCpu.push(mine.cpu);
  tsClient.push(mine.clientCpu);
  tsRabbit.push(mine.rabbitCpu);
  if (round === 0) tsRt = mine;
  for (const pool of pools) {
    const theirs = await withVhost((url) => drainAndRoundTrip('celery', url, pool, pool === 'threads' ? roundTrips : 0));
    py.get(pool)?.push(theirs.drain);
    pyCpu.get(pool)?.push(theirs.cpu);
    pyClient.get(pool)?.push(theirs.clientCpu);
    pyRabbit.get(pool)?.push(theirs.rabbitCpu);
    if (round === 0 && pool === 'threads') pyRt = theirs;
  }
  console.error(
    `round ${round + 1}/${ROUNDS}: floor ${floors.at(-1)?.drain} (${floors.at(-1)?.cpu} us/task), floor with Celery's messages ${celeryFloors.at(-1)?.drain} (${celeryFloors.at(-1)?.cpu} us/task), celeriac ${mine.drain} (${mine.cpu} us/task), ${pools.map((p) => `celery ${p} ${py.get(p)?.at(-1)}`).join(', ')} (load ${load()})`,
  );
}
const enq = await withVhost(async (url) => {
  const app = newApp(url);
  try {
    const batched = await enqueue(app, N);
    const t = performance.now();
    for (let i = 0; i < 2000; i++) await app.sendTask('bench.noop', [], {}, { queue: 'bench' });
    return { batched: rate(N, batched.ms), single: rate(2000, performance.now() - t) };
  } finally {
    await app.close();
  }
});
const floorDrain = floors.map((f) => f.drain);
const floorPublish = floors.map((f) => f.publish);
const cFloorDrain = celeryFloors.map((f) => f.drain);
const cFloorPublish = celeryFloors.map((f) => f.publish);
const cFloorCpu = celeryFloors.map((f) => f.cpu);
let best: Pool | undefined;
for (const pool of pools) if (best === undefined || median(py.get(pool) ?? []) > median(py.get(best) ?? [])) best = pool;
const bestDrain = best === undefined ? undefined : median(py.get(best) ?? []);
const ratio = (a: number, b: number | undefined) => (b === undefined ? '' : `${(a / b).toFixed(1)}x`);
const rows: string[] = [];
rows.push(`${started} UTC, ${ROUNDS} round(s), medians (range); load average ${loadBefore} before, ${load()} after`, '');
rows.push(`| row | Celeriac | Celery 5.2.6${best === undefined ? '' : ` (-P ${best})`} | ratio | amqplib floor | Celeriac / floor | floor, Celery's messages | Celeriac / that floor |`, `|---|---|---|---|---|---|---|---|`);
rows.push(
  `| enqueue batched (tasks/s, n=${N}) | ${enq.batched} | | | ${median(floorPublish)}${spread(floorPublish)} (confirmed publish) | ${(enq.batched / median(floorPublish)).toFixed(2)} | ${median(cFloorPublish)}${spread(cFloorPublish)} | ${(enq.batched / median(cFloorPublish)).toFixed(2)} |`,
);
rows.push(`| enqueue one by one (tasks/s, 2000) | ${enq.single} | | | | |`);
rows.push(
  `| drain c=${C}, late acks, rpc results (tasks/s, n=${N}) | ${median(ts)}${spread(ts)} | ${bestDrain === undefined ? 'skipped' : `${bestDrain}${spread(py.get(best as Pool) ?? [])}`} | ${ratio(median(ts), bestDrain)} | ${median(floorDrain)}${spread(floorDrain)} (consume+reply+ack) | ${(median(ts) / median(floorDrain)).toFixed(2)} | ${median(cFloorDrain)}${spread(cFloorDrain)} | ${(median(ts) / median(cFloorDrain)).toFixed(2)} |`,
);
const floorCpu = floors.map((f) => f.cpu);
const bestCpu = best === undefined || best === 'prefork' ? undefined : pyCpu.get(best);
rows.push(
  `| worker CPU per drained task (us, user+system) | ${median(tsCpu)}${spread(tsCpu)} | ${bestCpu === undefined ? '' : `${median(bestCpu)}${spread(bestCpu)}`} | | ${median(floorCpu)}${spread(floorCpu)} (consumer and reply reader, one process) | | ${median(cFloorCpu)}${spread(cFloorCpu)} | |`,
);
const ofBest = (m: Map<Pool, number[]>) => (best === undefined ? '' : `${median(m.get(best) ?? [])}${spread(m.get(best) ?? [])}`);
const floorRabbit = floors.map((f) => f.rabbitCpu);
const cFloorRabbit = celeryFloors.map((f) => f.rabbitCpu);
rows.push(`| client CPU per drained task (us: the bench process's get() of every result over rpc://) | ${median(tsClient)}${spread(tsClient)} | ${ofBest(pyClient)} | | (in the row above) | | (in the row above) | |`);
rows.push(
  `| RabbitMQ CPU per drained task (us, beam.smp; includes other users of a shared broker) | ${median(tsRabbit)}${spread(tsRabbit)} | ${ofBest(pyRabbit)} | | ${median(floorRabbit)}${spread(floorRabbit)} | | ${median(cFloorRabbit)}${spread(cFloorRabbit)} | |`,
);
rows.push(`| round trip p50 / p99 (ms, round 1) | ${tsRt.p50.toFixed(2)} / ${tsRt.p99.toFixed(2)} | ${pyRt === undefined ? 'skipped' : `${pyRt.p50.toFixed(2)} / ${pyRt.p99.toFixed(2)} (-P threads)`} | | | |`);
if (pools.length > 0) rows.push('', `Celery drain by pool: ${pools.map((p) => `${p}${p === 'prefork' ? ` -c ${cpus().length}` : ` -c ${C}`} ${median(py.get(p) ?? [])}${spread(py.get(p) ?? [])}`).join('; ')}`);
console.log(rows.join('\n'));
