/**
 * A/B of Celeriac's worker against an earlier commit, in one run: the same drains and round
 * trips as `npm run bench`'s Celeriac column, alternating the two builds round by round
 * (which one goes first alternates too), so that a noisy, shared machine moves both alike.
 * Reports the median of the rounds of each side.
 *
 *   npm run build && node --expose-gc --import tsx bench/ab.ts --base <git rev> \
 *     [--rounds 5] [--n 20000] [--round-trips 1000] [--concurrency 1,100] [--events]
 *
 * `--events` adds, after each drain, the same drain with task events on (`-E`): what events cost,
 * before and after, in one run.
 * The base is `git archive`d into <tmpdir>/celeriac-ab/<sha>/ and compiled there once (then
 * reused), outside the repository so no linter or test runner sees it; links to the
 * workspace's node_modules let node and tsc find its dependencies. Only the worker child loads
 * the base (through BENCH_CELERIAC_MODULE, see peers/celeriac-worker.ts): the producer is
 * the current build for both sides. Nothing here runs under `npm test`.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { buildWorkers } from './lib/proc.js';
import { adminClient, redisCpuSeconds } from './lib/redis.js';
import { collectGarbage, nowMs } from './lib/stats.js';
import type { BenchContext } from './lib/types.js';
import { CeleriacPeer } from './peers/celeriac.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    n: { type: 'string', default: '20000' },
    'round-trips': { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '1,100' },
    events: { type: 'boolean', default: false },
  },
});
const USAGE = 'usage: node --expose-gc --import tsx bench/ab.ts --base <git rev> [--rounds 5] [--n 20000] [--round-trips 1000] [--concurrency 1,100] [--events]\n';

/** A whole number >= 1, or the run stops with the flag's name (exit code 2). */
function count(flag: string, text: string): number {
  if (/^[1-9]\d*$/.test(text)) return Number(text);
  process.stderr.write(`ab: --${flag} must be a whole number >= 1, got ${JSON.stringify(text)}\n${USAGE}`);
  process.exit(2);
}

if (values.base === undefined) {
  process.stderr.write(`ab: --base is required\n${USAGE}`);
  process.exit(2);
}
const ROUNDS = count('rounds', values.rounds);
const N = count('n', values.n);
const ROUND_TRIPS = count('round-trips', values['round-trips']);
const CONCURRENCIES = values.concurrency.split(',').map((c) => count('concurrency', c));

const git = (...args: string[]) => execFileSync('git', args, { cwd: REPO, encoding: 'utf8' }).trim();

/** Compiles the base commit's engine under <tmpdir>/celeriac-ab/<sha>/ (once); returns its entry module. */
function buildBase(rev: string): string {
  const sha = git('rev-parse', '--verify', `${rev}^{commit}`);
  const root = join(tmpdir(), 'celeriac-ab', sha, '/');
  const entry = `${root}packages/celeriac/dist/index.js`;
  if (existsSync(`${root}ok`)) return entry;
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  execFileSync('sh', ['-c', `git archive ${sha} tsconfig.base.json packages/celeriac | tar -x -C '${root}'`], { cwd: REPO, stdio: 'inherit' });
  symlinkSync(`${REPO}node_modules`, `${root}node_modules`);
  // The engine's own dependencies that npm did not hoist (commander...) live beside it.
  const own = `${REPO}packages/celeriac/node_modules`;
  if (existsSync(own)) symlinkSync(own, `${root}packages/celeriac/node_modules`);
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', `${root}packages/celeriac/tsconfig.json`], { stdio: 'inherit' });
  execFileSync(process.execPath, [`${root}packages/celeriac/scripts/copy-assets.mjs`], { stdio: 'inherit' });
  writeFileSync(`${root}ok`, `${sha}\n`);
  return entry;
}

/** Each drain of a round: concurrency and whether task events are on; `c=100 -E` style keys. */
const DRAINS = CONCURRENCIES.flatMap((c) => (values.events ? [[c, false], [c, true]] : [[c, false]]) as [number, boolean][]);
const drainKey = (c: number, events: boolean) => `c=${c}${events ? ' -E' : ''}`;

interface Sample {
  drains: Record<string, { perSec: number; cpuMsPerTask: number }>;
  p50Ms: number;
}

const started = nowMs();
let cpuProbe: ReturnType<typeof adminClient> | undefined;
const ctx: BenchContext = {
  redisHost: '127.0.0.1',
  redisPort: 6379,
  redisDb: 0,
  runPrefix: `celeriac-bench:ab-${randomBytes(4).toString('hex')}:`,
  stepTimeoutMs: 120_000,
  log: (line) => process.stderr.write(`[ab ${((nowMs() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`),
  redisCpuSeconds: () => redisCpuSeconds((cpuProbe ??= adminClient(ctx))),
};

/** One round of one side: every drain, then the round trips. */
async function measure(peer: CeleriacPeer, side: string, module: string | undefined): Promise<Sample> {
  if (module === undefined) delete process.env.BENCH_CELERIAC_MODULE;
  else process.env.BENCH_CELERIAC_MODULE = module;
  const sample: Sample = { drains: {}, p50Ms: Number.NaN };
  for (const [c, events] of DRAINS) {
    const key = drainKey(c, events);
    collectGarbage();
    const d = await peer.drain(N, { concurrency: c, label: `-c ${c}${events ? ' -E' : ''}`, events });
    if (d.skipped !== undefined) throw new Error(`${side} ${key}: ${d.skipped}`);
    const drain = { perSec: d.perSec, cpuMsPerTask: ((d.cpuSec ?? Number.NaN) * 1000) / N };
    sample.drains[key] = drain;
    ctx.log(`${side} drain ${key}: ${Math.round(d.perSec)} tasks/s, ${drain.cpuMsPerTask.toFixed(3)} ms CPU/task`);
  }
  collectGarbage();
  const rt = await peer.roundTrip(ROUND_TRIPS);
  sample.p50Ms = rt.p50Ms;
  ctx.log(`${side} round trip p50 ${rt.p50Ms.toFixed(3)} ms`);
  return sample;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  const baseModule = buildBase(values.base!);
  buildWorkers();
  const head = `HEAD ${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--untracked-files=no', '--', 'packages/celeriac') === '' ? '' : '+changes'}`;
  const sides: [string, string | undefined][] = [[`base ${values.base}`, baseModule], [head, undefined]];
  const samples = new Map<string, Sample[]>(sides.map(([name]) => [name, []]));
  const peer = new CeleriacPeer(ctx);
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const [name, module] of order) samples.get(name)!.push(await measure(peer, `${name} (round ${round + 1})`, module));
    }
  } finally {
    await peer.close();
    cpuProbe?.disconnect();
  }
  const rows = [
    ...DRAINS.flatMap(([c, events]) => [
      [`drain ${N} ${drainKey(c, events)} (tasks/s)`, (s: Sample) => s.drains[drainKey(c, events)]!.perSec, 0] as const,
      [`drain ${N} ${drainKey(c, events)} (worker CPU ms/task)`, (s: Sample) => s.drains[drainKey(c, events)]!.cpuMsPerTask, 4] as const,
    ]),
    // What events cost on each side: the per-round ratio of the drain with -E to the one without.
    ...(values.events
      ? CONCURRENCIES.flatMap((c) => {
          const on = (s: Sample) => s.drains[drainKey(c, true)]!;
          const off = (s: Sample) => s.drains[drainKey(c, false)]!;
          return [
            [`events cost c=${c}: drain time (%)`, (s: Sample) => (off(s).perSec / on(s).perSec - 1) * 100, 1] as const,
            [`events cost c=${c}: worker CPU per task (%)`, (s: Sample) => (on(s).cpuMsPerTask / off(s).cpuMsPerTask - 1) * 100, 1] as const,
          ];
        })
      : []),
    [`round trip p50 (ms, n=${ROUND_TRIPS})`, (s: Sample) => s.p50Ms, 3] as const,
  ];
  const lines = [`| median of ${ROUNDS} interleaved rounds | ${sides.map(([n]) => n).join(' | ')} | all rounds |`, `| --- | ${sides.map(() => '---').join(' | ')} | --- |`];
  for (const [label, pick, digits] of rows) {
    const cells = sides.map(([name]) => median(samples.get(name)!.map(pick)).toFixed(digits));
    const all = sides.map(([name]) => samples.get(name)!.map((s) => pick(s).toFixed(digits)).join(' ')).join(' / ');
    lines.push(`| ${label} | ${cells.join(' | ')} | ${all} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
