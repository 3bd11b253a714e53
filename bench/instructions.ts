/**
 * Instructions per task of Celeriac's worker against an earlier commit's: the drains of
 * bench/ab.ts (lib/ab.ts, the same interleaving and builds), with each worker run under
 * valgrind's callgrind, which counts the instructions it runs.
 *
 * Why: on a shared VM a drain's rate and CPU time swing by a quarter from run to run, so an
 * A/B of CPU time cannot see a change of a few percent. On a machine otherwise idle, the same
 * build counts within a percent of itself in most rounds (bench/README.md has the figures, and
 * the rounds that stray: the median of --rounds is printed). Instructions are not time: a JS
 * loop that replaced a native call ran more instructions in less time; a cache miss or a system
 * call's kernel side costs nothing here; and the timers a worker runs by the clock count more
 * under callgrind, which stretches a drain 30-60 times. Use it to see whether and where a
 * change alters the worker's work; use bench/ab.ts for what it does to time.
 *
 * Each drain's worker first drains `--warmup` tasks unmeasured (its code compiled, its heap
 * grown), then the count runs from before the n tasks are sent to when the last result is
 * stored. The worker runs with node's `--single-threaded`: V8's compiler and GC work on the main
 * thread, which counts it once and in the same order every time (lib/proc.ts says why).
 *
 *   npm run build && node --import tsx bench/instructions.ts --base <git rev> \
 *     [--rounds 3] [--n 2000] [--warmup 3000] [--concurrency 1,100] [--events] [--functions 0] [--redis host:port]
 *
 * `--functions <k>` also counts function by function (node's --perf-basic-prof names the JIT's
 * code) and prints, per drain, the k functions whose own count per task moved most.
 *
 * Needs valgrind (`apt-get install valgrind`). Nothing here runs under `npm test`.
 */
import { execFileSync } from 'node:child_process';
import { buildRevision, git, median, runAb, stderrLog, type Side } from './lib/ab.js';
import { parseOrExit, redisAddress, strictFlags, UsageError, wholeNumber } from './lib/args.js';
import { drainKey } from './lib/drain-key.js';
import type { InstructionWindow } from './lib/types.js';

const USAGE = 'usage: node --import tsx bench/instructions.ts --base <git rev> [--rounds 3] [--n 2000] [--warmup 3000] [--concurrency 1,100] [--events] [--functions 0] [--redis 127.0.0.1:6379]\n';
const args = parseOrExit('instructions', USAGE, () => {
  const v = strictFlags(process.argv.slice(2), {
    base: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    n: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '1,100' },
    events: { type: 'boolean', default: false },
    functions: { type: 'string', default: '0' },
    redis: { type: 'string', default: '127.0.0.1:6379' },
    help: { type: 'boolean', default: false },
  });
  if (v.base === undefined && !v.help) throw new UsageError('--base is required');
  const { host, port } = redisAddress(v.redis);
  return {
    help: v.help,
    base: v.base ?? '',
    rounds: wholeNumber('--rounds', v.rounds, 1),
    n: wholeNumber('--n', v.n, 1),
    warmup: wholeNumber('--warmup', v.warmup, 0),
    concurrencies: v.concurrency.split(',').map((c) => wholeNumber('--concurrency', c, 1)),
    events: v.events,
    functions: wholeNumber('--functions', v.functions, 0, 60),
    redisHost: host,
    redisPort: port,
  };
});

type Functions = readonly (readonly [string, number])[];

/**
 * The --functions functions whose own count per task moved most from base to HEAD, in the last
 * round of each (each side keeps its 60 largest: a function below that on one side counts 0).
 */
function functionTable(key: string, base: Functions, head: Functions): string[] {
  const before = new Map(base);
  const after = new Map(head);
  const moved = [...new Set([...before.keys(), ...after.keys()])]
    .map((name) => [name, before.get(name) ?? 0, after.get(name) ?? 0] as const)
    .sort((a, b) => Math.abs(b[2] - b[1]) - Math.abs(a[2] - a[1]))
    .slice(0, args.functions);
  const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
  return [`| drain ${args.n} ${key}: own instructions per task, last round | base | HEAD | moved |`, '| --- | ---: | ---: | ---: |', ...moved.map(([name, b, h]) => `| \`${name.replaceAll('|', '\\|')}\` | ${fmt(b)} | ${fmt(h)} | ${h >= b ? '+' : ''}${fmt(h - b)} |`), ''];
}

/** Fails at once, saying what to install, when valgrind's tools are missing. */
function requireValgrind(): void {
  for (const tool of ['valgrind', 'callgrind_control']) {
    try {
      execFileSync(tool, ['--version'], { stdio: 'ignore' });
    } catch {
      throw new Error(`${tool} not found: bench/instructions.ts runs the worker under valgrind (apt-get install valgrind)`);
    }
  }
}

async function main(): Promise<void> {
  requireValgrind();
  const head = `HEAD ${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--untracked-files=no', '--', 'packages/celeriac') === '' ? '' : '+changes'}`;
  const sides: Side[] = [{ name: `base ${args.base}`, module: buildRevision(args.base) }, { name: head, module: undefined }];
  const samples = await runAb(sides, { ...args, roundTrips: 0, callgrind: true, functions: args.functions > 0 }, stderrLog('instructions'));
  const keys = args.concurrencies.flatMap((c) => (args.events ? [drainKey(c), drainKey(c, true)] : [drainKey(c)]));
  const windows = (side: Side, key: string) => samples.get(side.name)!.map((s) => s.drains[key]!.instructions!);
  const parts: readonly (readonly [string, (w: InstructionWindow) => number])[] = [
    ['all', (w) => w.total],
    ['outside the optimizing compiler', (w) => w.total - w.compiler],
    ['in collections (GC)', (w) => w.gc],
  ];
  const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
  const lines = [`| instructions per task, median of ${args.rounds} | ${sides.map((s) => s.name).join(' | ')} | ratio | all rounds |`, '| --- | ---: | ---: | ---: | --- |'];
  for (const key of keys) {
    for (const [part, pick] of parts) {
      const [base, now] = sides.map((s) => median(windows(s, key).map(pick))) as [number, number];
      const all = sides.map((s) => windows(s, key).map((w) => fmt(pick(w))).join(' ')).join(' / ');
      lines.push(`| drain ${args.n} ${key}: ${part} | ${fmt(base)} | ${fmt(now)} | ${(now / base).toFixed(3)} | ${all} |`);
    }
  }
  if (args.functions > 0) lines.push('', ...keys.flatMap((key) => functionTable(key, ...(sides.map((s) => samples.get(s.name)!.at(-1)!.drains[key]!.instructions!.functions ?? []) as [Functions, Functions]))));
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
