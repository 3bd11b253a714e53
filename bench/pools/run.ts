/**
 * Per-task overhead of each execution pool, on the memory broker (no network), so that what
 * differs between the rows is the pool: n no-op tasks are queued, then a worker is started
 * and timed until every task has finished with its result stored.
 *
 *   npm run build && node --import tsx bench/pools/run.ts [--n 2000] [--rounds 3]
 *
 * Prints a Markdown table (median of the rounds) and the threads pool's extra cost per task
 * over the async pool at the same concurrency. Nothing here runs under `npm test`.
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { Worker, type WorkerOptions } from 'celeriac';
import { app, noop } from './app.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '3' } } });
const N = Number(values.n);
const ROUNDS = Number(values.rounds);
const appModule = new URL('./app.ts', import.meta.url);

interface Row {
  label: string;
  startMs: number;
  drainMs: number;
}

async function once(options: WorkerOptions): Promise<{ startMs: number; drainMs: number }> {
  await Promise.all(Array.from({ length: N }, () => noop.delay()));
  const worker = new Worker(app, { hostname: 'bench@pools', prefetchMultiplier: 4, ...options });
  let done = 0;
  const finished = new Promise<void>((resolve) =>
    worker.onTaskEvent((e) => {
      if (e.type === 'task-succeeded' && ++done === N) resolve();
    }),
  );
  const t0 = performance.now();
  await worker.start();
  const t1 = performance.now();
  await finished;
  const t2 = performance.now();
  await worker.close();
  return { startMs: t1 - t0, drainMs: t2 - t1 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function measure(label: string, options: WorkerOptions): Promise<Row> {
  await once(options); // warm-up: JIT, tsx's compile cache
  const runs = [];
  for (let i = 0; i < ROUNDS; i++) runs.push(await once(options));
  return { label, startMs: median(runs.map((r) => r.startMs)), drainMs: median(runs.map((r) => r.drainMs)) };
}

const configs: [string, WorkerOptions][] = [
  ['solo', { pool: 'solo' }],
  ['async c=1', { pool: 'async', concurrency: 1 }],
  ['async c=2', { pool: 'async', concurrency: 2 }],
  ['async c=10', { pool: 'async', concurrency: 10 }],
  ['threads c=1', { pool: 'threads', concurrency: 1, appModule }],
  ['threads c=2', { pool: 'threads', concurrency: 2, appModule }],
  ['threads c=4', { pool: 'threads', concurrency: 4, appModule }],
];
const rows: Row[] = [];
for (const [label, options] of configs) {
  rows.push(await measure(label, options));
  process.stderr.write(`${label} done\n`);
}

const us = (ms: number) => ((ms * 1000) / N).toFixed(1);
console.log(`\n${N} no-op tasks, memory broker and backend, median of ${ROUNDS} rounds; node ${process.version}, ${cpus().length} CPUs\n`);
console.log('| pool | worker start (ms) | drain (ms) | tasks/s | µs per task |');
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const r of rows) console.log(`| ${r.label} | ${r.startMs.toFixed(0)} | ${r.drainMs.toFixed(0)} | ${Math.round(N / (r.drainMs / 1000))} | ${us(r.drainMs)} |`);
const by = (label: string) => rows.find((r) => r.label === label)!;
console.log('\nThreads pool extra cost per task over the async pool at the same concurrency:');
for (const c of [1, 2]) console.log(`- c=${c}: ${(((by(`threads c=${c}`).drainMs - by(`async c=${c}`).drainMs) * 1000) / N).toFixed(1)} µs`);
await app.close();
