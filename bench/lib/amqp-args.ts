/**
 * @module bench/lib/amqp-args
 * The flags of `npm run bench:amqp` (bench/amqp.ts), checked before anything is started: a bad
 * value is a UsageError naming the flag.
 */
import { strictFlags, UsageError, wholeNumber } from './args.js';
import { WARMUP_CALLS } from './flow.js';

export const AMQP_USAGE = `Usage: npm run bench:amqp -- [flags]

  --n <n>                 tasks per drain (default 20000)
  --concurrency <list>    Celeriac's drain concurrencies (default 1,10,100)
  --celery <list>         Celery's drain configurations, pool:concurrency (default prefork:2,threads:100);
                          its column shows the fastest on every drain row
  --rounds <n>            interleaved rounds (default 3)
  --round-trips <n>       sequential round trips per side and round, after --rt-warmup unmeasured (default 1000; 0: none)
  --rt-warmup <n>         unmeasured round trips before them (default ${WARMUP_CALLS}, as the Redis bench: the first
                          few hundred of a fresh Node client and worker run while V8 compiles their path)
  --queue-types <list>    classic, quorum or both (default classic,quorum)
  --skip-celery           Celeriac alone
  --floors                also the amqplib floors (classic queues; see bench/README.md)
  --step-timeout <s>      longest one drain or round-trip step may take (default 180)
  --out <dir>             where the .md and .json go (default bench/results)
  --help                  this text
`;

/** A Celery worker configuration: `-P pool -c concurrency`. */
export interface CeleryConfig {
  readonly pool: 'prefork' | 'threads' | 'gevent';
  readonly concurrency: number;
}

export type QueueType = 'classic' | 'quorum';

export interface AmqpBenchArgs {
  readonly help: boolean;
  readonly n: number;
  readonly concurrency: readonly number[];
  readonly celery: readonly CeleryConfig[];
  readonly rounds: number;
  readonly roundTrips: number;
  readonly rtWarmup: number;
  readonly queueTypes: readonly QueueType[];
  readonly floors: boolean;
  readonly stepTimeoutSec: number;
  readonly out: string | undefined;
}

/**
 * Celery's drain configurations unless `--celery` names others. Not `threads:10`, which the Redis
 * bench runs: on RabbitMQ with late acks, Celery's `-P threads -c 10` (5.2.6 and 5.6.3 alike)
 * stops taking messages for seconds at a time, whoever sent them. 500 tasks from a Celeriac
 * client: 115 results in the first second, then none for nine seconds with 385 messages ready
 * (bench/results/2026-11-29-vm-session41.md); 20,000 never finished within the step's 180 s,
 * so every round of a default run spent that long for a row that said n/a. Celery's open issue
 * #6941 describes it: an ack made on a pool thread waits until the worker's event loop next
 * wakes, and with late acks the prefetch window fills with messages done but not yet acked.
 */
export const DEFAULT_CELERY = 'prefork:2,threads:100';

const list = (text: string) => text.split(',').map((s) => s.trim()).filter((s) => s !== '');

/** The configuration written `pool:concurrency`. @throws UsageError */
export function celeryConfig(text: string): CeleryConfig {
  const m = /^(prefork|threads|gevent):(\d+)$/.exec(text);
  if (m === null) throw new UsageError(`--celery takes pool:concurrency (prefork, threads or gevent), got ${JSON.stringify(text)}`);
  return { pool: m[1] as CeleryConfig['pool'], concurrency: wholeNumber('--celery concurrency', m[2] as string, 1, 1000) };
}

/** The flags of bench/amqp.ts. @throws UsageError */
export function parseAmqpArgs(argv: readonly string[]): AmqpBenchArgs {
  const v = strictFlags(argv, {
    help: { type: 'boolean' },
    n: { type: 'string' },
    concurrency: { type: 'string' },
    celery: { type: 'string' },
    rounds: { type: 'string' },
    'round-trips': { type: 'string' },
    'rt-warmup': { type: 'string' },
    'queue-types': { type: 'string' },
    'skip-celery': { type: 'boolean' },
    floors: { type: 'boolean' },
    'step-timeout': { type: 'string' },
    out: { type: 'string' },
  });
  const queueTypes = list(v['queue-types'] ?? 'classic,quorum').map((t) => {
    if (t !== 'classic' && t !== 'quorum') throw new UsageError(`--queue-types takes classic and/or quorum, got ${JSON.stringify(t)}`);
    return t;
  });
  const concurrency = list(v.concurrency ?? '1,10,100').map((c) => wholeNumber('--concurrency', c, 1, 1000));
  if (queueTypes.length === 0 || concurrency.length === 0) throw new UsageError('--queue-types and --concurrency need at least one value');
  return {
    help: v.help === true,
    n: wholeNumber('--n', v.n ?? '20000', 1, 10_000_000),
    concurrency: [...new Set(concurrency)].sort((a, b) => a - b),
    celery: v['skip-celery'] === true ? [] : list(v.celery ?? DEFAULT_CELERY).map(celeryConfig),
    rounds: wholeNumber('--rounds', v.rounds ?? '3', 1, 100),
    roundTrips: wholeNumber('--round-trips', v['round-trips'] ?? '1000', 0, 1_000_000),
    rtWarmup: wholeNumber('--rt-warmup', v['rt-warmup'] ?? String(WARMUP_CALLS), 0, 1_000_000),
    queueTypes: [...new Set(queueTypes)],
    floors: v.floors === true,
    stepTimeoutSec: wholeNumber('--step-timeout', v['step-timeout'] ?? '180', 1, 3600),
    out: v.out,
  };
}
