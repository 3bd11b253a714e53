/**
 * A/B of Celeriac's worker against an earlier commit, in one run (lib/ab.ts says how): the
 * same drains and round trips as `npm run bench`'s Celeriac column, alternating the two builds
 * round by round. Reports the median of the rounds of each side, and every round: rates, worker
 * CPU per task, the worker process's peak RSS (VmHWM, as `npm run bench` reads it) and the
 * Redis server's CPU per task (INFO cpu: every client of the server counts, so give the run a
 * redis-server of its own with `--redis` when others use the machine's).
 *
 *   npm run build && node --expose-gc --import tsx bench/ab.ts --base <git rev> \
 *     [--rounds 5] [--n 20000] [--round-trips 1000] [--concurrency 1,100] [--events] [--redis host:port]
 *
 * `--events` adds, after each drain, the same drain with task events on (`-E`), and a row of
 * what events cost on each side (the median of the rounds' own ratios): before and after, in
 * one run.
 * Nothing here runs under `npm test`; bench/guard.ts is the CI check built on the same run.
 */
import { parseArgs } from 'node:util';
import { buildRevision, git, median, runAb, stderrLog, type Sample, type Side } from './lib/ab.js';
import { drainKey } from './lib/drain-key.js';
import { redisAddress } from './lib/args.js';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    n: { type: 'string', default: '20000' },
    'round-trips': { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '1,100' },
    events: { type: 'boolean', default: false },
    redis: { type: 'string', default: '127.0.0.1:6379' },
    help: { type: 'boolean', default: false },
  },
});
const USAGE = 'usage: node --expose-gc --import tsx bench/ab.ts --base <git rev> [--rounds 5] [--n 20000] [--round-trips 1000] [--concurrency 1,100] [--events] [--redis 127.0.0.1:6379]\n';
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

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
/** --redis: where both sides run (a redis-server of your own keeps a shared one's load and keys out). */
function address(text: string): { redisHost: string; redisPort: number } {
  try {
    const { host, port } = redisAddress(text);
    return { redisHost: host, redisPort: port };
  } catch (err) {
    process.stderr.write(`ab: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

const plan = {
  ...address(values.redis),
  rounds: count('rounds', values.rounds),
  n: count('n', values.n),
  roundTrips: count('round-trips', values['round-trips']),
  concurrencies: values.concurrency.split(',').map((c) => count('concurrency', c)),
  events: values.events,
};

async function main(): Promise<void> {
  const head = `HEAD ${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--untracked-files=no', '--', 'packages/celeriac') === '' ? '' : '+changes'}`;
  const sides: Side[] = [{ name: `base ${values.base}`, module: buildRevision(values.base!) }, { name: head, module: undefined }];
  const samples = await runAb(sides, plan, stderrLog('ab'));
  const keys = plan.concurrencies.flatMap((c) => (plan.events ? [drainKey(c), drainKey(c, true)] : [drainKey(c)]));
  const rows = [
    ...keys.flatMap((k) => [
      [`drain ${plan.n} ${k} (tasks/s)`, (s: Sample) => s.drains[k]!.perSec, 0] as const,
      [`drain ${plan.n} ${k} (worker CPU ms/task)`, (s: Sample) => s.drains[k]!.cpuMsPerTask, 4] as const,
      [`drain ${plan.n} ${k} (worker peak RSS, MiB)`, (s: Sample) => s.drains[k]!.peakRssMb, 1] as const,
      [`drain ${plan.n} ${k} (Redis CPU us/task)`, (s: Sample) => s.drains[k]!.redisUsPerTask, 1] as const,
    ]),
    // What events cost on each side: the per-round ratio of the drain with -E to the one without.
    ...(plan.events
      ? plan.concurrencies.flatMap((c) => {
          const on = (s: Sample) => s.drains[drainKey(c, true)]!;
          const off = (s: Sample) => s.drains[drainKey(c)]!;
          return [
            [`events cost c=${c}: drain time (%)`, (s: Sample) => (off(s).perSec / on(s).perSec - 1) * 100, 1] as const,
            [`events cost c=${c}: worker CPU per task (%)`, (s: Sample) => (on(s).cpuMsPerTask / off(s).cpuMsPerTask - 1) * 100, 1] as const,
          ];
        })
      : []),
    [`round trip p50 (ms, n=${plan.roundTrips})`, (s: Sample) => s.p50Ms, 3] as const,
    [`round trip worker peak RSS (MiB)`, (s: Sample) => s.roundTripPeakRssMb, 1] as const,
  ];
  const lines = [`| median of ${plan.rounds} interleaved rounds | ${sides.map((s) => s.name).join(' | ')} | all rounds |`, `| --- | ${sides.map(() => '---').join(' | ')} | --- |`];
  for (const [label, pick, digits] of rows) {
    const cells = sides.map((s) => median(samples.get(s.name)!.map(pick)).toFixed(digits));
    const all = sides.map((s) => samples.get(s.name)!.map((x) => pick(x).toFixed(digits)).join(' ')).join(' / ');
    lines.push(`| ${label} | ${cells.join(' | ')} | ${all} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
