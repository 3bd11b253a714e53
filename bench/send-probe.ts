/**
 * What one-by-one sending costs the producer (issue 42 item 3), measured by what a loaded
 * machine moves least: CPU per send. Each side runs in a fresh process (a cold JIT, as
 * `npm run bench` times its 10,000 sends) that sends `--n` tasks one after the other, each
 * awaited before the next, and reports per send: wall time, the process's CPU (all its
 * threads: JIT compiler and GC helpers too), and its main thread's CPU
 * (`/proc/self/task/<pid>/schedstat`), over all sends and over the second (warm) half.
 * Sides alternate round by round; medians are printed.
 *
 *   npm run build && node --import tsx bench/send-probe.ts [--base <git rev>] [--rounds 8] [--n 10000] [--redis 127.0.0.1:6379]
 *
 * Sides: `--base`'s build (its src/, loaded through tsx as the bench loads Celeriac), the
 * working tree's src/, node-redis's bare LPUSH of the bytes of one of its messages (what any
 * send costs here: one command, one round trip), and Bee-Queue's `job.save()` as the reference. Keys are the probe's
 * own (a prefix per process), deleted by exact name afterwards.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Queue from 'bee-queue';
import type * as Celeriac from 'celeriac';
import { Redis } from 'ioredis';
import { buildRevision } from './lib/ab.js';
import { median, nowMs } from './lib/stats.js';

const HERE = fileURLToPath(import.meta.url);
const QUEUE = 'bench';

interface Figures {
  wall: number;
  cpu: number;
  main: number;
  warmWall: number;
  warmCpu: number;
  warmMain: number;
}

/** CPU microseconds of this process (all threads) and of its main thread. */
function cpuNow(): { all: number; main: number } {
  const u = process.cpuUsage();
  const ns = Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
  return { all: u.user + u.system, main: ns / 1000 };
}

/** One message as the working tree's producer pushes it (the lpush side's payload). */
async function sampleMessage(host: string, port: number, prefix: string): Promise<string> {
  const { createApp } = await import('celeriac');
  const app = createApp({ broker: `redis://${host}:${port}/0?global_keyprefix=${prefix}sample:`, backend: `redis://${host}:${port}/0`, logLevel: 'warn', taskDefaultQueue: QUEUE });
  await app.task('bench.noop', () => null).delay();
  await app.close();
  const admin = new Redis({ host, port });
  const key = `${prefix}sample:${QUEUE}`;
  const [body] = await admin.lrange(key, 0, 0);
  // The queue and the doorbell its send rang (keys.ts).
  await admin.del(key, `${prefix}sample:celeriac.bell.${QUEUE}`);
  admin.disconnect();
  if (body === undefined) throw new Error('send-probe: the sample message was not found');
  return body;
}

/**
 * The child: `n` sequential sends through `module` ('bee' for Bee-Queue, 'lpush' for a bare
 * node-redis LPUSH of a Celeriac message's bytes), figures on stdout.
 */
async function child(module: string, host: string, port: number, n: number): Promise<void> {
  const prefix = `sendprobe${process.pid}`;
  const admin = new Redis({ host, port, lazyConnect: true });
  let send: () => Promise<unknown>;
  let close: () => Promise<unknown>;
  let keys: string[];
  if (module === 'lpush') {
    // The floor of a send: node-redis's LPUSH of the bytes Celeriac would push, nothing around it.
    const { createClient } = await import('redis');
    const c = createClient({ url: `redis://${host}:${port}/0` });
    await c.connect();
    const body = await sampleMessage(host, port, prefix);
    const key = `${prefix}:${QUEUE}`;
    send = () => c.lPush(key, body);
    close = () => c.quit();
    keys = [key];
  } else if (module === 'bee') {
    const q = new Queue(QUEUE, { prefix, redis: { host, port }, isWorker: false, getEvents: false, sendEvents: false, storeJobs: false, activateDelayedJobs: false });
    await q.ready();
    send = () => q.createJob({}).save();
    close = () => q.close();
    keys = ['id', 'jobs', 'waiting'].map((k) => `${prefix}:${QUEUE}:${k}`);
  } else {
    const { createApp } = (await import(module)) as typeof Celeriac;
    const app = createApp({ broker: `redis://${host}:${port}/0?global_keyprefix=${prefix}:`, backend: `redis://${host}:${port}/0`, logLevel: 'warn', taskDefaultQueue: QUEUE });
    const noop = app.task('bench.noop', () => null);
    await app.broker.connect();
    send = () => noop.delay();
    close = () => app.close();
    keys = [`${prefix}:${QUEUE}`, `${prefix}:celeriac.bell.${QUEUE}`];
  }
  const t0 = nowMs();
  const c0 = cpuNow();
  let half = { t: t0, c: c0 };
  for (let i = 0; i < n; i++) {
    if (i === n / 2) half = { t: nowMs(), c: cpuNow() };
    await send();
  }
  const t1 = nowMs();
  const c1 = cpuNow();
  await close();
  await admin.connect();
  await admin.del(...keys);
  admin.disconnect();
  const per = (us: number, count: number) => us / count;
  const figures: Figures = {
    wall: per((t1 - t0) * 1000, n),
    cpu: per(c1.all - c0.all, n),
    main: per(c1.main - c0.main, n),
    warmWall: per((t1 - half.t) * 1000, n - n / 2),
    warmCpu: per(c1.all - half.c.all, n - n / 2),
    warmMain: per(c1.main - half.c.main, n - n / 2),
  };
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      base: { type: 'string' },
      rounds: { type: 'string', default: '8' },
      n: { type: 'string', default: '10000' },
      redis: { type: 'string', default: '127.0.0.1:6379' },
      child: { type: 'string' },
    },
  });
  const [host = '127.0.0.1', portText = '6379'] = values.redis.split(':');
  const port = Number(portText);
  const n = 2 * Math.round(Number(values.n) / 2);
  if (values.child !== undefined) return child(values.child, host, port, n);
  const head = join(dirname(HERE), '../packages/celeriac/src/index.ts');
  const sides: [string, string][] = [];
  if (values.base !== undefined) sides.push([`base ${values.base}`, join(dirname(buildRevision(values.base)), '../src/index.ts')]);
  sides.push(['working tree', head], ['node-redis LPUSH of the same bytes', 'lpush'], ['Bee-Queue', 'bee']);
  const samples = new Map<string, Figures[]>(sides.map(([name]) => [name, []]));
  const rounds = Number(values.rounds);
  for (let r = 0; r < rounds; r++) {
    for (const [name, module] of r % 2 === 0 ? sides : [...sides].reverse()) {
      const out = execFileSync(process.execPath, ['--import', 'tsx', HERE, '--child', module, '--redis', values.redis, '--n', String(n)], { encoding: 'utf8' });
      samples.get(name)!.push(JSON.parse(out.trim().split('\n').pop()!) as Figures);
    }
    process.stderr.write(`[send-probe] round ${r + 1}/${rounds} done\n`);
  }
  const cols: (keyof Figures)[] = ['wall', 'cpu', 'main', 'warmWall', 'warmCpu', 'warmMain'];
  process.stdout.write(`\nus per send, median of ${rounds} rounds, ${n} sequential sends per fresh process (warm = second half)\n\n`);
  process.stdout.write(`| side | ${cols.join(' | ')} |\n| --- |${cols.map(() => ' ---: |').join('')}\n`);
  for (const [name] of sides) {
    const s = samples.get(name)!;
    process.stdout.write(`| ${name} | ${cols.map((c) => median(s.map((f) => f[c])).toFixed(1)).join(' | ')} |\n`);
  }
}

await main();
