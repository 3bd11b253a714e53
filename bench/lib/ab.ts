/**
 * The interleaved A/B of Celeriac's worker that bench/ab.ts prints and bench/guard.ts checks:
 * two builds of the engine, alternated round by round (which one goes first alternates too),
 * so that a noisy, shared machine moves both alike; each round runs the same drains (and,
 * when asked, round trips) as `npm run bench`'s Celeriac column.
 *
 * A build other than the working tree's is `git archive`d into <tmpdir>/celeriac-ab/<sha>/
 * and compiled there once (then reused), outside the repository so no linter or test runner
 * sees it; links to the workspace's node_modules let node and tsc find its dependencies. Only
 * the worker child loads it (through BENCH_CELERIAC_MODULE, see peers/celeriac-worker.ts):
 * the producer is the working tree's build for both sides.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWorkers } from './proc.js';
import { adminClient, redisCpuSeconds } from './redis.js';
import { drainKey } from './drain-key.js';
import { collectGarbage, nowMs } from './stats.js';

export { median } from './stats.js';
import type { BenchContext, InstructionWindow } from './types.js';
import { CeleriacPeer } from '../peers/celeriac.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** Runs git in the repository; its trimmed output. */
export const git = (...args: string[]): string => execFileSync('git', args, { cwd: REPO, encoding: 'utf8' }).trim();

/**
 * Compiles `rev`'s engine under <tmpdir>/celeriac-ab/<sha>/ (once); returns its entry module.
 * Throws, saying so, when the commit is not in this clone (a shallow one, say).
 */
export function buildRevision(rev: string): string {
  let sha: string;
  try {
    sha = git('rev-parse', '--verify', '--quiet', `${rev}^{commit}`);
  } catch {
    throw new Error(`commit ${rev} is not in this clone (a shallow clone? fetch its history first): the A/B cannot build it`);
  }
  const root = join(tmpdir(), 'celeriac-ab', sha, '/');
  const entry = `${root}packages/celeriac/dist/index.js`;
  if (existsSync(`${root}ok`)) {
    // The build outlives the checkout that made it (a worktree or CI clone since removed):
    // its links must reach this checkout's node_modules, or its worker cannot load pino.
    linkDependencies(root);
    return entry;
  }
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  execFileSync('sh', ['-c', `git archive ${sha} tsconfig.base.json packages/celeriac | tar -x -C '${root}'`], { cwd: REPO, stdio: 'inherit' });
  linkDependencies(root);
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  // Emit only: the commit was type-checked when it landed, and checking it again is most of
  // a build's CPU (CI builds the guard's baseline in every run).
  execFileSync(process.execPath, [tsc, '-p', `${root}packages/celeriac/tsconfig.json`, '--noCheck'], { stdio: 'inherit' });
  execFileSync(process.execPath, [`${root}packages/celeriac/scripts/copy-assets.mjs`], { stdio: 'inherit' });
  writeFileSync(`${root}ok`, `${sha}\n`);
  return entry;
}

/** Points a build's node_modules links at this checkout's (replacing any earlier ones). */
function linkDependencies(root: string): void {
  const links: [string, string][] = [[`${REPO}node_modules`, `${root}node_modules`]];
  // The engine's own dependencies that npm did not hoist (commander...) live beside it.
  const own = `${REPO}packages/celeriac/node_modules`;
  if (existsSync(own)) links.push([own, `${root}packages/celeriac/node_modules`]);
  for (const [target, link] of links) {
    rmSync(link, { force: true });
    symlinkSync(target, link);
  }
}

/** One side of an A/B: a label and the engine module its worker loads (undefined: the working tree's build). */
export interface Side {
  readonly name: string;
  readonly module: string | undefined;
}

/** What one round measured of one side. */
export interface Sample {
  /** By {@link drainKey}: `c=100`, `c=100 -E`. peakRssMb: the worker process's peak resident set (VmHWM), MiB. */
  /** redisUsPerTask: the Redis server's CPU over the drain, per task (a server of the run's own, `--redis`, or it counts every client). */
  /** instructions: the worker's per task, under callgrind ({@link AbPlan.callgrind}) only. */
  readonly drains: Record<string, { perSec: number; cpuMsPerTask: number; peakRssMb: number; redisUsPerTask: number; instructions?: InstructionWindow }>;
  /** NaN when round trips were not asked for. */
  readonly p50Ms: number;
  /** The worker's peak resident set over the round trips, MiB; NaN when they were not asked for. */
  readonly roundTripPeakRssMb: number;
}

/** How much to measure. */
export interface AbPlan {
  readonly rounds: number;
  readonly n: number;
  readonly concurrencies: readonly number[];
  /** Sequential round trips per round; 0 for none. */
  readonly roundTrips: number;
  /** After each drain, the same drain with task events on (`-E`). */
  readonly events?: boolean;
  readonly redisHost?: string;
  readonly redisPort?: number;
  /**
   * Runs each worker under valgrind's callgrind and counts its instructions (bench/instructions.ts):
   * a count the machine's load moves far less than it moves rates and CPU times.
   */
  readonly callgrind?: boolean;
  /** Under callgrind, also count function by function, the JIT's code named (lib/callgrind.ts). */
  readonly functions?: boolean;
  /** Tasks each drain's worker drains unmeasured first (its code compiled, its heap grown); 0 for none. */
  readonly warmup?: number;
}

/** Runs `plan` over `sides`, interleaved; each side's samples, in round order. */
export async function runAb(sides: readonly Side[], plan: AbPlan, log: (line: string) => void): Promise<Map<string, Sample[]>> {
  buildWorkers();
  let cpuProbe: ReturnType<typeof adminClient> | undefined;
  const ctx: BenchContext = {
    redisHost: plan.redisHost ?? '127.0.0.1',
    redisPort: plan.redisPort ?? 6379,
    redisDb: 0,
    runPrefix: `celeriac-bench:ab-${randomBytes(4).toString('hex')}:`,
    // Under callgrind a worker runs 30-60 times slower.
    stepTimeoutMs: plan.callgrind === true ? 900_000 : 120_000,
    log,
    redisCpuSeconds: () => redisCpuSeconds((cpuProbe ??= adminClient(ctx))),
  };
  const samples = new Map<string, Sample[]>(sides.map((s) => [s.name, []]));
  const peer = new CeleriacPeer(ctx, { callgrind: plan.callgrind === true, callgrindFunctions: plan.functions === true });
  try {
    for (let round = 0; round < plan.rounds; round++) {
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) samples.get(side.name)!.push(await measure(peer, ctx, `${side.name} (round ${round + 1})`, side.module, plan));
    }
  } finally {
    await peer.close();
    cpuProbe?.disconnect();
  }
  return samples;
}

/** One round of one side: every drain, then the round trips. */
async function measure(peer: CeleriacPeer, ctx: BenchContext, label: string, module: string | undefined, plan: AbPlan): Promise<Sample> {
  if (module === undefined) delete process.env.BENCH_CELERIAC_MODULE;
  else process.env.BENCH_CELERIAC_MODULE = module;
  const drains: Sample['drains'] = {};
  for (const c of plan.concurrencies) {
    for (const events of plan.events === true ? [false, true] : [false]) {
      const key = drainKey(c, events);
      collectGarbage();
      const d = await peer.drain(plan.n, { concurrency: c, label: `-c ${c}${events ? ' -E' : ''}`, events, warmup: plan.warmup ?? 0 });
      if (d.skipped !== undefined) throw new Error(`${label} ${key}: ${d.skipped}`);
      const drain = {
        perSec: d.perSec,
        cpuMsPerTask: ((d.cpuSec ?? Number.NaN) * 1000) / plan.n,
        peakRssMb: d.rss?.peakMb ?? Number.NaN,
        redisUsPerTask: ((d.redisCpuSec ?? Number.NaN) * 1e6) / plan.n,
        ...(d.instructions === undefined ? {} : { instructions: perTask(d.instructions, plan.n) }),
      };
      drains[key] = drain;
      const i = drain.instructions;
      const counted = i === undefined ? '' : `, ${Math.round(i.total)} instructions/task (compiler ${Math.round(i.compiler)}, GC ${Math.round(i.gc)})`;
      ctx.log(`${label} drain ${key}: ${Math.round(d.perSec)} tasks/s, ${drain.cpuMsPerTask.toFixed(3)} ms CPU/task, Redis ${drain.redisUsPerTask.toFixed(1)} us/task, peak RSS ${drain.peakRssMb.toFixed(1)} MiB${counted}`);
    }
  }
  let p50Ms = Number.NaN;
  let roundTripPeakRssMb = Number.NaN;
  if (plan.roundTrips > 0) {
    collectGarbage();
    const rt = await peer.roundTrip(plan.roundTrips);
    p50Ms = rt.p50Ms;
    roundTripPeakRssMb = rt.rss?.peakMb ?? Number.NaN;
    ctx.log(`${label} round trip p50 ${p50Ms.toFixed(3)} ms, peak RSS ${roundTripPeakRssMb.toFixed(1)} MiB`);
  }
  return { drains, p50Ms, roundTripPeakRssMb };
}

/** A drain's instruction counts divided by its tasks. */
const perTask = (w: InstructionWindow, n: number): InstructionWindow => ({
  total: w.total / n,
  compiler: w.compiler / n,
  gc: w.gc / n,
  ...(w.functions === undefined ? {} : { functions: w.functions.map(([name, count]) => [name, count / n] as const) }),
});

/** A timestamped logger for stderr. */
export function stderrLog(tag: string): (line: string) => void {
  const started = nowMs();
  return (line) => process.stderr.write(`[${tag} ${((nowMs() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
}
