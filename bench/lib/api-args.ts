/**
 * @module bench/lib/api-args
 * The flags of `npm run bench:api` (bench/api.ts), checked before anything starts.
 */
import { redisAddress, strictFlags, UsageError, wholeNumber } from './args.js';

/** The two services, in the order of the table's columns. */
export const API_STACKS = ['celeriac', 'bullmq'] as const;
export type ApiStack = (typeof API_STACKS)[number];

export const API_USAGE = `Usage: npm run bench:api -- [flags]

The full HTTP path of a task, POST /tasks/demo.add then GET /tasks/<id>/events (server-sent
events) until its final state, through the reference app (apps/api: its api and worker roles as
two processes on Redis and Postgres) and through a minimal Fastify + BullMQ service (a service
and a worker process on the same Redis), at each client concurrency, in one run. Writes
bench/results/<date>-<host>-api.md and .json.

  --requests <n>        measured calls per service and concurrency (default 2000)
  --warmup <n>          unmeasured calls before each measurement (default 200)
  --concurrency <list>  client concurrencies, comma-separated (default 1,10,50)
  --worker-concurrency <c>  each service's worker concurrency (default 10)
  --only <stacks>       ${API_STACKS.join(' or ')} (default both)
  --redis <host:port>   the Redis (default 127.0.0.1:6379)
  --db <n>              its database number (default 0)
  --postgres <url>      a Postgres admin URL; the run creates and drops its own database there
                        (default postgres://postgres@127.0.0.1:5432/postgres)
  --timeout <s>         the whole run's limit, in seconds (default 900)
  --out <dir>           where the .md and .json go (default bench/results)
  --help                this text
`;

export interface ApiArgs {
  readonly help: boolean;
  readonly requests: number;
  readonly warmup: number;
  readonly concurrencies: readonly number[];
  readonly workerConcurrency: number;
  readonly stacks: readonly ApiStack[];
  readonly redisHost: string;
  readonly redisPort: number;
  readonly db: number;
  readonly postgresUrl: string;
  readonly timeoutSec: number;
  readonly outDir?: string;
}

/** Reads the API bench's flags. @throws UsageError on an unknown flag or a bad value. */
export function parseApiArgs(argv: readonly string[]): ApiArgs {
  const values = strictFlags(argv, {
    help: { type: 'boolean', short: 'h', default: false },
    requests: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '1,10,50' },
    'worker-concurrency': { type: 'string', default: '10' },
    only: { type: 'string' },
    redis: { type: 'string', default: '127.0.0.1:6379' },
    db: { type: 'string', default: '0' },
    postgres: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    timeout: { type: 'string', default: '900' },
    out: { type: 'string' },
  });
  const concurrencies = values.concurrency.split(',').map((c) => wholeNumber('--concurrency', c.trim(), 1, 1000));
  const only = values.only === undefined ? [...API_STACKS] : values.only.split(',').map((s) => s.trim().toLowerCase());
  for (const s of only) if (!(API_STACKS as readonly string[]).includes(s)) throw new UsageError(`--only: unknown service ${JSON.stringify(s)}; known: ${API_STACKS.join(', ')}`);
  let postgres: URL;
  try {
    postgres = new URL(values.postgres);
  } catch {
    throw new UsageError(`--postgres must be a postgres:// URL, got ${JSON.stringify(values.postgres)}`);
  }
  if (!/^postgres(ql)?:$/.test(postgres.protocol)) throw new UsageError(`--postgres must be a postgres:// URL, got ${JSON.stringify(values.postgres)}`);
  const redis = redisAddress(values.redis);
  return {
    help: values.help,
    requests: wholeNumber('--requests', values.requests, 1),
    warmup: wholeNumber('--warmup', values.warmup, 0),
    concurrencies: [...new Set(concurrencies)],
    workerConcurrency: wholeNumber('--worker-concurrency', values['worker-concurrency'], 1, 1000),
    stacks: API_STACKS.filter((s) => only.includes(s)),
    redisHost: redis.host,
    redisPort: redis.port,
    db: wholeNumber('--db', values.db, 0),
    postgresUrl: postgres.toString(),
    timeoutSec: wholeNumber('--timeout', values.timeout, 1),
    ...(values.out === undefined ? {} : { outDir: values.out }),
  };
}
