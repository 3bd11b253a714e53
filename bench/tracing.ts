/**
 * What tracing costs a worker, in one run: the same drains as `npm run bench`'s Celeriac
 * column with no tracer provider, with one sampling 100 % of traces and with one sampling 1 %
 * (bench/tracing-provider.ts: BatchSpanProcessor, spans dropped at export), the three
 * interleaved round by round in rotating order. Reports each mode's median drain rate and CPU
 * per task, and the overhead per task against no provider (the median of the rounds' own
 * ratios, and the CPU difference in µs).
 *
 *   npm run build && node --expose-gc --import tsx bench/tracing.ts [--rounds 5] [--n 20000] [--concurrency 1,100]
 *
 * Whether no provider costs anything against a build without tracing is bench/ab.ts's
 * question (`--base` the commit before it); this script compares the modes of one build.
 */
import { randomBytes } from 'node:crypto';
import { strictFlags } from './lib/args.js';
import { median, stderrLog } from './lib/ab.js';
import { drainKey } from './lib/drain-key.js';
import { buildWorkers } from './lib/proc.js';
import { adminClient, redisCpuSeconds } from './lib/redis.js';
import { collectGarbage } from './lib/stats.js';
import type { BenchContext } from './lib/types.js';
import { CeleriacPeer } from './peers/celeriac.js';

const USAGE = 'usage: node --expose-gc --import tsx bench/tracing.ts [--rounds 5] [--n 20000] [--concurrency 1,100]\n';

/** The modes compared: BENCH_TRACING for the worker child ('' = no provider). */
const MODES = [
  { name: 'no provider', env: '' },
  { name: 'provider, 100% sampled', env: '100' },
  { name: 'provider, 1% sampled', env: '1' },
] as const;

type Drain = { perSec: number; cpuMsPerTask: number };

async function main(): Promise<void> {
  let flags;
  try {
    flags = strictFlags(process.argv.slice(2), {
      rounds: { type: 'string', default: '5' },
      n: { type: 'string', default: '20000' },
      concurrency: { type: 'string', default: '1,100' },
      help: { type: 'boolean', default: false },
    });
  } catch (err) {
    process.stderr.write(`tracing: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (flags.help) {
    process.stdout.write(USAGE);
    return;
  }
  const whole = (flag: string, text: string): number => {
    if (/^[1-9]\d*$/.test(text)) return Number(text);
    process.stderr.write(`tracing: --${flag} must be a whole number >= 1, got ${JSON.stringify(text)}\n${USAGE}`);
    process.exit(2);
  };
  const rounds = whole('rounds', flags.rounds);
  const n = whole('n', flags.n);
  const concurrencies = flags.concurrency.split(',').map((c) => whole('concurrency', c));
  const log = stderrLog('tracing');
  buildWorkers();
  let cpuProbe: ReturnType<typeof adminClient> | undefined;
  const ctx: BenchContext = {
    redisHost: '127.0.0.1',
    redisPort: 6379,
    redisDb: 0,
    runPrefix: `celeriac-bench:tracing-${randomBytes(4).toString('hex')}:`,
    stepTimeoutMs: 120_000,
    log,
    redisCpuSeconds: () => redisCpuSeconds((cpuProbe ??= adminClient(ctx))),
  };
  // samples[mode][drainKey] = one Drain per round
  const samples = new Map<string, Map<string, Drain[]>>(MODES.map((m) => [m.name, new Map(concurrencies.map((c) => [drainKey(c), []]))]));
  const peer = new CeleriacPeer(ctx);
  try {
    for (let round = 0; round < rounds; round++) {
      const order = MODES.map((_, i) => MODES[(i + round) % MODES.length]!);
      for (const mode of order) {
        process.env.BENCH_TRACING = mode.env;
        for (const c of concurrencies) {
          collectGarbage();
          const d = await peer.drain(n, { concurrency: c, label: `-c ${c} ${mode.name}` });
          if (d.skipped !== undefined) throw new Error(`${mode.name} c=${c}: ${d.skipped}`);
          const drain = { perSec: d.perSec, cpuMsPerTask: ((d.cpuSec ?? Number.NaN) * 1000) / n };
          samples.get(mode.name)!.get(drainKey(c))!.push(drain);
          log(`round ${round + 1} ${mode.name} c=${c}: ${Math.round(drain.perSec)} tasks/s, ${drain.cpuMsPerTask.toFixed(4)} ms CPU/task`);
        }
      }
    }
  } finally {
    delete process.env.BENCH_TRACING;
    await peer.close();
    cpuProbe?.disconnect();
  }
  process.stdout.write(`\nTracing cost, ${rounds} rounds of ${n} tasks, median per mode; overhead = median of the rounds' own ratios to no provider\n\n`);
  process.stdout.write('| mode | drain | tasks/s | CPU µs/task | time per task vs none | CPU per task vs none |\n| --- | --- | ---: | ---: | ---: | ---: |\n');
  for (const c of concurrencies) {
    const key = drainKey(c);
    const base = samples.get(MODES[0].name)!.get(key)!;
    for (const mode of MODES) {
      const own = samples.get(mode.name)!.get(key)!;
      const timeRatio = median(own.map((d, i) => base[i]!.perSec / d.perSec));
      const cpuRatio = median(own.map((d, i) => d.cpuMsPerTask / base[i]!.cpuMsPerTask));
      const pct = (r: number) => (mode === MODES[0] ? '—' : `${r >= 1 ? '+' : ''}${((r - 1) * 100).toFixed(1)}%`);
      process.stdout.write(
        `| ${mode.name} | ${key} | ${Math.round(median(own.map((d) => d.perSec)))} | ${(median(own.map((d) => d.cpuMsPerTask)) * 1000).toFixed(1)} | ${pct(timeRatio)} | ${pct(cpuRatio)} |\n`,
      );
    }
  }
  process.stdout.write(`\ncommand: node --expose-gc --import tsx bench/tracing.ts --rounds ${rounds} --n ${n} --concurrency ${concurrencies.join(',')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
