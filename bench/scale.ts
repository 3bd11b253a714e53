/**
 * Scale-out bench (issue 48 point 5): W Celeriac worker processes and P producer processes on
 * one broker, one queue or several, flowing N no-op tasks (results ignored) at once. Reports
 * throughput (tasks/s from the first send to the last run), CPU per task of the workers, the
 * producers and the broker server (from /proc/<pid>/stat), and the machine's load. Never run
 * by the tests: a manual measurement (bench/README.md, "Scale-out").
 *
 *   node --import tsx bench/scale.ts --broker redis|amqp|sentinel [--tasks 20000]
 *     [--workers 1,2,4,8] [--producers 2] [--queues 1] [--concurrency 8] [--port-base 6500] [--out file.json]
 *
 * redis: a private redis-server on port P = --port-base (AOF, fsync every second); sentinel: a
 * private master (P+1) with one replica (P+2) and a sentinel (P+3), AOF everysec on both, the workers and
 * producers going through the sentinel; amqp: the machine's RabbitMQ on 5672, queues named
 * fleet-scale-*, deleted afterwards. Server CPU is the redis-server master's, or RabbitMQ's
 * beam.smp (shared with whatever else uses that node).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const CHILD = fileURLToPath(new URL('./scale-child.ts', import.meta.url));
const TICK_MS = 10; // USER_HZ 100 on Linux

const { values: flags } = parseArgs({
  options: {
    broker: { type: 'string', default: 'redis' },
    tasks: { type: 'string', default: '20000' },
    workers: { type: 'string', default: '1,2,4,8' },
    producers: { type: 'string', default: '2' },
    queues: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '8' },
    'port-base': { type: 'string', default: '6500' },
    out: { type: 'string' },
  },
  strict: true,
});
const list = (s: string) => s.split(',').map(Number);

/** utime + stime of a process, ms; 0 once it is gone. */
function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

interface Child {
  proc: ChildProcess;
  next(type: string): Promise<Record<string, unknown>>;
}

function child(env: Record<string, string>): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = new Map<string, (m: Record<string, unknown>) => void>();
  proc.on('message', (m: Record<string, unknown>) => {
    if (m['type'] === 'error') throw new Error(`scale child failed: ${String(m['message'])}`);
    const w = waiting.get(String(m['type']));
    waiting.delete(String(m['type']));
    w?.(m);
  });
  return { proc, next: (type) => new Promise((resolve) => waiting.set(type, resolve)) };
}

async function startServer(args: string[]): Promise<ChildProcess> {
  const p = spawn('redis-server', args, { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 400));
  return p;
}

interface Setup {
  url: string;
  transport: Record<string, unknown>;
  serverPid: number;
  stop(): Promise<void>;
}

async function setUp(broker: string): Promise<Setup> {
  const base = Number(flags['port-base']);
  if (!Number.isInteger(base) || base < 1 || base > 65_532) throw new Error(`--port-base must be a port number, got ${flags['port-base']}`);
  const [p0, p1, p2, p3] = [base, base + 1, base + 2, base + 3].map(String) as [string, string, string, string];
  if (broker === 'redis') {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-scale-'));
    const server = await startServer(['--port', p0, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', dir]);
    return { url: `redis://127.0.0.1:${p0}/0`, transport: {}, serverPid: server.pid ?? 0, stop: async () => { server.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }); } };
  }
  if (broker === 'sentinel') {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-scale-'));
    const common = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec'];
    const master = await startServer(['--port', p1, '--dir', join(dir), ...common]);
    const rdir = mkdtempSync(join(tmpdir(), 'fleet-scale-r-'));
    const replica = await startServer(['--port', p2, '--dir', rdir, ...common, '--replicaof', '127.0.0.1', p1]);
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(conf, [`port ${p3}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor scale 127.0.0.1 ${p1} 1`, ''].join('\n'));
    const sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 1500));
    return {
      url: `sentinel://127.0.0.1:${p3}/0`, transport: { master_name: 'scale' }, serverPid: master.pid ?? 0,
      stop: async () => { for (const p of [sentinel, replica, master]) p.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }); rmSync(rdir, { recursive: true, force: true }); },
    };
  }
  // The node listening on 5672: other beam.smp processes may run on the machine (a test's cluster nodes).
  const { execFileSync } = await import('node:child_process');
  const listening = /pid=(\d+)/.exec(execFileSync('ss', ['-ltnpH', 'sport = :5672']).toString())?.[1];
  if (listening === undefined) throw new Error('no process listens on 127.0.0.1:5672 (ss -ltnp): is RabbitMQ running?');
  const beam = Number(listening);
  return { url: 'amqp://guest:guest@127.0.0.1:5672//', transport: {}, serverPid: beam, stop: async () => undefined };
}

async function deleteAmqpQueues(url: string, names: string[]): Promise<void> {
  const amqplib = await import('amqplib');
  const conn = await amqplib.connect(url);
  const ch = await conn.createChannel();
  for (const q of names) await ch.deleteQueue(q);
  await conn.close();
}

interface Row { broker: string; workers: number; producers: number; queues: number; tasks: number; seconds: number; perSec: number; workerCpuUsPerTask: number; producerCpuUsPerTask: number; serverCpuUsPerTask: number; serverCpuShare: number; load1: number }

async function run(s: Setup, broker: string, workers: number, producers: number, queueCount: number, tasks: number, concurrency: number): Promise<Row> {
  const tag = randomUUID().slice(0, 8);
  const queues = Array.from({ length: queueCount }, (_, i) => (broker === 'amqp' ? `fleet-scale-${tag}-q${i}` : `scale-${tag}-q${i}`));
  const base = { SCALE_BROKER: s.url, SCALE_QUEUES: queues.join(','), SCALE_TRANSPORT: JSON.stringify(s.transport) };
  const ws = Array.from({ length: workers }, () => child({ ...base, SCALE_ROLE: 'worker', SCALE_CONCURRENCY: String(concurrency) }));
  const share = Math.ceil(tasks / producers);
  const ps = Array.from({ length: producers }, (_, i) => child({ ...base, SCALE_ROLE: 'producer', SCALE_TASKS: String(Math.min(share, tasks - i * share)) }));
  await Promise.all([...ws, ...ps].map((c) => c.next('ready')));
  const cpu0 = { w: ws.map((c) => cpuMs(c.proc.pid ?? 0)), p: ps.map((c) => cpuMs(c.proc.pid ?? 0)), s: cpuMs(s.serverPid) };
  const t0 = performance.now();
  for (const c of [...ws, ...ps]) c.proc.send({ type: 'go' });
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const counts = await Promise.all(ws.map(async (c) => { const m = c.next('count'); c.proc.send({ type: 'count' }); return Number((await m)['ran']); }));
    if (counts.reduce((a, b) => a + b, 0) >= tasks) break;
    if (performance.now() - t0 > 600_000) throw new Error('scale run did not finish in 10 minutes');
  }
  const seconds = (performance.now() - t0) / 1000;
  const sum = (a: number[], b: number[]) => a.reduce((n, v, i) => n + v - (b[i] ?? 0), 0);
  const workerCpu = sum(ws.map((c) => cpuMs(c.proc.pid ?? 0)), cpu0.w);
  const producerCpu = sum(ps.map((c) => cpuMs(c.proc.pid ?? 0)), cpu0.p);
  const serverCpu = cpuMs(s.serverPid) - cpu0.s;
  for (const c of [...ws, ...ps]) c.proc.send({ type: 'stop' });
  await Promise.all([...ws, ...ps].map((c) => new Promise((r) => (c.proc.exitCode === null ? c.proc.once('exit', r) : r(null)))));
  if (broker === 'amqp') await deleteAmqpQueues(s.url, queues);
  const us = (ms: number) => Math.round((ms * 1000) / tasks);
  return { broker, workers, producers, queues: queueCount, tasks, seconds: Number(seconds.toFixed(2)), perSec: Math.round(tasks / seconds), workerCpuUsPerTask: us(workerCpu), producerCpuUsPerTask: us(producerCpu), serverCpuUsPerTask: us(serverCpu), serverCpuShare: Number((serverCpu / 1000 / seconds).toFixed(2)), load1: Number(loadavg()[0]!.toFixed(1)) };
}

const broker = flags.broker;
const s = await setUp(broker);
const rows: Row[] = [];
try {
  for (const q of list(flags.queues)) for (const p of list(flags.producers)) for (const w of list(flags.workers)) {
    const row = await run(s, broker, w, p, q, Number(flags.tasks), Number(flags.concurrency));
    rows.push(row);
    console.log(JSON.stringify(row));
  }
} finally {
  await s.stop();
}
if (flags.out) writeFileSync(flags.out, `${JSON.stringify(rows, null, 1)}\n`);
