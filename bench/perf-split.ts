/**
 * Where each Celeriac worker's CPU time went in a recorded drain, by thread and by kind
 * (lib/perf-split.ts): V8's optimizing compiler, the collector, the kernel, JS, builtins,
 * other native code; for the main thread and for V8's helper threads apart. It reads the
 * samples of `perf record` (a clock, not instructions: bench/instructions.ts counts those), so
 * it tells how the time of a run was spent, not what a change saves by itself.
 *
 *   NODE_OPTIONS=--perf-basic-prof perf record -a -g -e cpu-clock -F 2999 -o /tmp/ab.perf -- \
 *     node --expose-gc --import tsx bench/ab.ts --base <rev> --rounds 1 --concurrency 100 --events --redis 127.0.0.1:6500
 *   perf script -i /tmp/ab.perf -F pid,tid,time,ip,sym > /tmp/ab.txt
 *   rm -f isolate-*-v8.log   # V8's logs, which --perf-basic-prof turns on
 *   node --import tsx bench/perf-split.ts /tmp/ab.txt [--hz 2999] [--tasks 20000] [--top 15] [--compare <pid>,<pid>]
 *
 * Each worker process is one table, in the order the workers started (bench/ab.ts: per round
 * and side, each drain, then its `-E` drain with --events, then the round trip's worker),
 * named by the folder its engine came from (the base's build is under /tmp/celeriac-ab/) and
 * whether it wrote task events. With `--tasks` (the tasks each drain ran) the samples are
 * also given as µs of CPU per task at `--hz` (perf record's -F). `--perf-basic-prof` names the
 * JIT's code: without it JS shows as unknown native code. perf comes from Debian's linux-perf.
 * Nothing here runs under `npm test`.
 */
import { readFileSync } from 'node:fs';
import { parseOrExit, strictFlags, UsageError, wholeNumber } from './lib/args.js';
import { movedLeaves, parsePerfScript, splitTable, splitWorkers } from './lib/perf-split.js';

const USAGE = 'usage: node --import tsx bench/perf-split.ts <perf script -F pid,tid,time,ip,sym output> [--hz 2999] [--tasks <n>] [--top 15] [--compare <pid>,<pid>]\n';
const args = parseOrExit('perf-split', USAGE, () => {
  const argv = process.argv.slice(2);
  const file = argv[0] !== undefined && !argv[0].startsWith('--') ? argv.shift() : undefined;
  const v = strictFlags(argv, {
    hz: { type: 'string', default: '2999' },
    tasks: { type: 'string' },
    top: { type: 'string', default: '15' },
    compare: { type: 'string' },
    help: { type: 'boolean', default: false },
  });
  const compare = v.compare === undefined ? undefined : v.compare.split(',').map((pid) => wholeNumber('--compare', pid, 1));
  if (compare !== undefined && compare.length !== 2) throw new UsageError(`--compare takes two worker pids, as 1234,1240; got ${JSON.stringify(v.compare)}`);
  if (file === undefined && !v.help) throw new UsageError('the file perf script wrote is required');
  return {
    help: v.help,
    file: file ?? '',
    hz: wholeNumber('--hz', v.hz, 1),
    tasks: v.tasks === undefined ? undefined : wholeNumber('--tasks', v.tasks, 1),
    top: wholeNumber('--top', v.top, 0, 200),
    compare: compare as [number, number] | undefined,
  };
});

let workers: ReturnType<typeof splitWorkers>;
try {
  workers = splitWorkers(parsePerfScript(readFileSync(args.file, 'utf8')));
} catch (err) {
  process.stderr.write(`perf-split: ${(err as Error).message}\n`);
  process.exit(1);
}
if (workers.length === 0) {
  process.stderr.write('perf-split: no worker in the samples (no main thread ran packages/celeriac/dist/worker/executor.js): was the worker run with --perf-basic-prof?\n');
  process.exit(1);
}
const lines: string[] = [];
for (const w of workers) {
  lines.push(...splitTable(w, args.hz, args.tasks), '');
  if (args.top === 0) continue;
  lines.push(`| pid ${w.pid}: main thread's samples by leaf | samples |`, '| --- | ---: |');
  for (const [name, n] of w.leaves.slice(0, args.top)) lines.push(`| \`${name.replaceAll('|', '\\|')}\` | ${n} |`);
  lines.push('');
}
if (args.compare !== undefined) {
  const [a, b] = args.compare.map((pid) => workers.find((w) => w.pid === pid));
  if (a === undefined || b === undefined) {
    process.stderr.write(`perf-split: --compare names a pid that is not a worker here (workers: ${workers.map((w) => w.pid).join(', ')})\n`);
    process.exit(1);
  }
  lines.push(`| main thread's leaves that moved most, pid ${a.pid} to pid ${b.pid} | ${a.pid} | ${b.pid} | moved |`, '| --- | ---: | ---: | ---: |');
  for (const [name, x, y] of movedLeaves(a, b, Math.max(args.top, 1))) lines.push(`| \`${name.replaceAll('|', '\\|')}\` | ${x} | ${y} | ${y >= x ? '+' : ''}${y - x} |`);
  lines.push('');
}
process.stdout.write(`${lines.join('\n')}\n`);
