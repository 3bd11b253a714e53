/**
 * @module bench/lib/soak-args
 * The flags of `npm run bench:soak` (bench/soak.ts), checked before anything runs.
 */
import { redisAddress, strictFlags, UsageError, wholeNumber } from './args.js';

export const SOAK_USAGE = `Usage: npm run bench:soak -- [flags]

Pushes --n no-op tasks through one Celeriac worker process (results stored), keeping at most
--max-queued tasks waiting, samples the worker's RSS (/proc) and V8 heap (over IPC) every
--sample-every seconds, and writes bench/results/<date>-<host>-soak.md with a table and an SVG
plot. Exits 1 when the RSS at the end is more than --max-growth above the RSS once
--baseline-at tasks were done, or when the run does not finish within --timeout.

  --n <tasks>            tasks in all (default 1000000)
  --baseline-at <tasks>  tasks done when the reference RSS is taken (default 100000; below --n)
  --max-growth <pct>     largest RSS growth from there to the end, in percent (default 10)
  --concurrency <c>      the worker's concurrency (default 100)
  --batch <tasks>        tasks per bulk publish of the producer (default 1000)
  --max-queued <tasks>   most tasks sent but not yet done at any time (default 20000)
  --sample-every <s>     seconds between memory samples (default 2; from 0.1)
  --timeout <s>          the whole run's limit, in seconds (default 1800)
  --redis <host:port>    the Redis to use (default 127.0.0.1:6379)
  --db <n>               its database number (default 0)
  --out <dir>            where the .md, .svg and .json go (default bench/results)
  --help                 this text
`;

export interface SoakArgs {
  readonly help: boolean;
  readonly n: number;
  readonly baselineAt: number;
  /** A fraction: 0.1 is 10%. */
  readonly maxGrowth: number;
  readonly concurrency: number;
  readonly batch: number;
  readonly maxQueued: number;
  readonly sampleEverySec: number;
  readonly timeoutSec: number;
  readonly redisHost: string;
  readonly redisPort: number;
  readonly db: number;
  readonly outDir?: string;
}

function seconds(flag: string, text: string): number {
  const value = /^\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= 0.1 && value <= 3600)) throw new UsageError(`${flag} must be a number of seconds from 0.1 to 3600, got ${JSON.stringify(text)}`);
  return value;
}

function percent(flag: string, text: string): number {
  const value = /^\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= 0 && value <= 1000)) throw new UsageError(`${flag} must be a number of percent from 0 to 1000, got ${JSON.stringify(text)}`);
  return value / 100;
}

/** Reads the soak's flags. @throws UsageError on an unknown flag, a bad value or values that do not fit together. */
export function parseSoakArgs(argv: readonly string[]): SoakArgs {
  const values = strictFlags(argv, {
    help: { type: 'boolean', short: 'h', default: false },
    n: { type: 'string', default: '1000000' },
    'baseline-at': { type: 'string', default: '100000' },
    'max-growth': { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '100' },
    batch: { type: 'string', default: '1000' },
    'max-queued': { type: 'string', default: '20000' },
    'sample-every': { type: 'string', default: '2' },
    timeout: { type: 'string', default: '1800' },
    redis: { type: 'string', default: '127.0.0.1:6379' },
    db: { type: 'string', default: '0' },
    out: { type: 'string' },
  });
  const redis = redisAddress(values.redis);
  const args: SoakArgs = {
    help: values.help,
    n: wholeNumber('--n', values.n, 1),
    baselineAt: wholeNumber('--baseline-at', values['baseline-at'], 1),
    maxGrowth: percent('--max-growth', values['max-growth']),
    concurrency: wholeNumber('--concurrency', values.concurrency, 1, 10_000),
    batch: wholeNumber('--batch', values.batch, 1, 100_000),
    maxQueued: wholeNumber('--max-queued', values['max-queued'], 1),
    sampleEverySec: seconds('--sample-every', values['sample-every']),
    timeoutSec: wholeNumber('--timeout', values.timeout, 1),
    redisHost: redis.host,
    redisPort: redis.port,
    db: wholeNumber('--db', values.db, 0),
    ...(values.out === undefined ? {} : { outDir: values.out }),
  };
  if (args.help) return args;
  if (args.baselineAt >= args.n) throw new UsageError(`--baseline-at (${args.baselineAt}) must be below --n (${args.n}): the growth is measured from there to the end`);
  if (args.maxQueued < args.batch) throw new UsageError(`--max-queued (${args.maxQueued}) must be at least --batch (${args.batch})`);
  return args;
}
