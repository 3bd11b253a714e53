/**
 * Steady state, A/B: Celeriac's worker against an earlier commit once both are warm. bench/ab.ts
 * starts a fresh worker process for every drain of 20,000 tasks, so its figures include what a
 * worker pays once: start(), V8 compiling the hot path, the heap growing to its working size.
 * Here one process per side and round keeps one worker (c=100 unless --concurrency) and drains
 * --rounds batches of --n tasks through it, timed from a full queue to the last result stored;
 * the first --warm batches are not reported. The producer lives in the same process and is
 * idle while a batch drains (its CPU is the result polling, the same for both sides).
 *
 *   npm run build && node --import tsx bench/warm-ab.ts --base <git rev> [--pairs 3] [--rounds 6] [--warm 3] [--n 10000] [--concurrency 100] [--port 6530] [--events]
 *
 * With --events the workers send task events (`-E`), received by a subscriber in this (the
 * parent) process that counts them, as `npm run bench`'s -E row has one in the bench process:
 * what events cost a worker that runs for hours, apart from what compiling their code costs a
 * fresh one (bench/ab.ts --events).
 *
 * Prints, per side, the median over pairs of each batch's worker CPU per task (all threads, and
 * the main thread's) and rate, batch by batch: the cold batches show the warm-up, the last ones
 * the steady state. Its redis-server is its own (started on --port, flushed before each batch,
 * removed after). Nothing here runs under `npm test`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createClient } from 'redis';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type * as Celeriac from 'celeriac';
import { buildRevision, git } from './lib/ab.js';
import { strictFlags, wholeNumber } from './lib/args.js';
import { median, nowMs, sleep } from './lib/stats.js';

const values = strictFlags(process.argv.slice(2), {
  base: { type: 'string' },
  pairs: { type: 'string', default: '3' },
  rounds: { type: 'string', default: '6' },
  warm: { type: 'string', default: '3' },
  n: { type: 'string', default: '10000' },
  concurrency: { type: 'string', default: '100' },
  port: { type: 'string', default: '6530' },
  child: { type: 'string' },
  events: { type: 'boolean', default: false },
});
const n = wholeNumber('--n', values.n, 1);
const rounds = wholeNumber('--rounds', values.rounds, 1);
const warm = wholeNumber('--warm', values.warm, 0);
const port = wholeNumber('--port', values.port, 1, 65535);
const concurrency = wholeNumber('--concurrency', values.concurrency, 1);

interface Batch {
  cpuUs: number;
  mainUs: number;
  perSec: number;
}

/** CPU (user + system, µs) of this process's main thread, from /proc (10 ms ticks). */
function mainThreadUs(): number {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10_000;
}

/** One side's process: a worker kept for `rounds` batches; one JSON line per batch. */
async function child(module: string): Promise<void> {
  const { createApp, Worker } = (await import(module)) as typeof Celeriac;
  const { createClient } = await import('redis');
  const url = `redis://127.0.0.1:${port}/0`;
  const raw = createClient({ url });
  await raw.connect();
  const app = createApp({ broker: url, backend: url, logLevel: 'error' });
  const noop = app.task('bench.noop', () => null);
  await app.broker.connect();
  await app.backend.connect();
  const worker = new Worker(app, { concurrency, sendTaskEvents: values.events });
  await worker.start();
  for (let r = 0; r < rounds; r++) {
    const results = await noop.applyAsyncMany(Array.from({ length: n }, () => []));
    const keys = results.map((x) => `celery-task-meta-${x.id}`);
    const main0 = mainThreadUs();
    const cpu0 = process.cpuUsage();
    const t0 = nowMs();
    while ((await raw.exists(keys.slice(-200))) < Math.min(200, n) || (await raw.exists(keys)) < n) await sleep(5);
    const seconds = (nowMs() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const batch: Batch = { cpuUs: (cpu.user + cpu.system) / n, mainUs: (mainThreadUs() - main0) / n, perSec: n / seconds };
    process.stdout.write(`${JSON.stringify(batch)}\n`);
    await raw.flushDb();
  }
  await worker.close({ deadlineMs: 5_000 });
  await app.close();
  await raw.quit();
}

async function main(): Promise<void> {
  if (values.base === undefined) throw new Error('warm-ab: --base <git rev> is required');
  const pairs = wholeNumber('--pairs', values.pairs, 1);
  const sides = [
    { label: `base ${git('rev-parse', '--short', values.base)}`, module: buildRevision(values.base) },
    { label: `HEAD ${git('rev-parse', '--short', 'HEAD')}`, module: fileURLToPath(new URL('../packages/celeriac/dist/index.js', import.meta.url)) },
  ];
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  try {
    while (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() !== 'PONG') await sleep(50);
    // A monitor listens, outside the workers' processes: a worker drops task events that reach nobody (event-dispatcher.ts).
    if (values.events) {
      monitor = createClient({ url: `redis://127.0.0.1:${port}/0` });
      await monitor.connect();
      await monitor.pSubscribe('*celeryev*', () => eventMessages++);
    }
    const batches = new Map<string, Batch[][]>(sides.map((s) => [s.label, []]));
    for (let p = 0; p < pairs; p++) {
      for (const side of p % 2 === 0 ? sides : [...sides].reverse()) {
        spawnSync('redis-cli', ['-p', String(port), 'flushall']);
        const events0 = eventMessages;
        // Not spawnSync: this process's subscriber reads the events while the child runs.
        const out = await runChild(side.module);
        if (out.status !== 0) throw new Error(`${side.label} failed:\n${out.stderr}`);
        if (values.events && eventMessages === events0) throw new Error(`warm-ab --events: ${side.label} sent no task events that reached the subscriber`);
        batches.get(side.label)?.push(out.stdout.trim().split('\n').map((line) => JSON.parse(line) as Batch));
        process.stderr.write(`[warm-ab] pair ${p + 1}/${pairs}: ${side.label} done\n`);
      }
    }
    const cell = (runs: Batch[][], r: number, pick: (b: Batch) => number, digits: number): string => median(runs.map((run) => pick(run[r] as Batch))).toFixed(digits);
    const lines = [`| n=${n} c=${concurrency}${values.events ? ' -E' : ''}, medians of ${pairs} | batch | worker CPU us/task | main thread us/task | tasks/s |`, '| --- | ---: | ---: | ---: | ---: |'];
    for (const side of sides) {
      const runs = batches.get(side.label) ?? [];
      for (let r = 0; r < rounds; r++) {
        const tag = r < warm ? ' (warm-up)' : '';
        lines.push(`| ${side.label} | ${r + 1}${tag} | ${cell(runs, r, (b) => b.cpuUs, 1)} | ${cell(runs, r, (b) => b.mainUs, 1)} | ${cell(runs, r, (b) => b.perSec, 0)} |`);
      }
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await monitor?.quit();
    server.kill();
  }
}

/** Task event messages the parent's subscriber received (--events). */
let eventMessages = 0;
let monitor: ReturnType<typeof createClient> | undefined;

/** One side's child process, run to its end. */
function runChild(module: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2), '--child', module], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

if (values.child !== undefined) await child(values.child);
else await main();
