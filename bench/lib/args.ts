/**
 * @module bench/lib/args
 * The flags of `npm run bench`, checked: a bad value is refused with a line that names the
 * flag, before any peer is started.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** The `options` of a parseArgs config. */
type FlagOptions = NonNullable<ParseArgsConfig['options']>;
import { PEER_NAMES, type PeerName } from './types.js';

export const USAGE = `Usage: npm run bench -- [flags]

  --quick              small n: a check that everything works (about a minute)
  --only <peers>       measure only these peers (${PEER_NAMES.join(', ')}); comma-separated or repeated
  --rounds <n>         interleaved drain rounds per row (default 5; 1 with --quick)
  --redis <host:port>  the Redis to measure on (default 127.0.0.1:6379)
  --db <n>             its database number (default 0)
  --step-timeout <s>   longest a measured step may take, in seconds (default 120)
  --cpu-prof <dir>     Celeriac's worker children write V8 CPU profiles there
  --help               this text
`;

/** A flag or value the bench cannot run with. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface BenchArgs {
  readonly help: boolean;
  readonly quick: boolean;
  readonly peers: readonly PeerName[];
  readonly rounds: number;
  readonly redisHost: string;
  readonly redisPort: number;
  readonly db: number;
  readonly stepTimeoutSec: number;
  readonly cpuProf?: string;
}

/** A whole number from min to max written in `text`. @throws UsageError naming the flag. */
export function wholeNumber(flag: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= min && value <= max)) throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return value;
}

/** A script's flags by `options`, strictly: an unknown flag or a positional is a UsageError. */
export function strictFlags<const O extends FlagOptions>(argv: readonly string[], options: O): ReturnType<typeof parseArgs<{ args: string[]; strict: true; allowPositionals: false; options: O }>>['values'] {
  try {
    return parseArgs({ args: [...argv], strict: true, allowPositionals: false, options }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** `host:port` of `--redis`. @throws UsageError when it is not one. */
export function redisAddress(text: string): { host: string; port: number } {
  const match = /^([^:]+):(\d+)$/.exec(text);
  if (match === null) throw new UsageError(`--redis must be host:port, got ${JSON.stringify(text)}`);
  return { host: match[1] as string, port: wholeNumber('--redis port', match[2] as string, 1, 65535) };
}

/**
 * Runs a script's argument parser: on a UsageError it prints the reason and the usage to
 * stderr and exits with code 2; with `--help` it prints the usage and exits with 0.
 */
export function parseOrExit<T extends { readonly help: boolean }>(name: string, usage: string, parse: () => T): T {
  let parsed: T;
  try {
    parsed = parse();
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${name}: ${err.message}\n\n${usage}`);
    process.exit(2);
  }
  if (parsed.help) {
    process.stdout.write(usage);
    process.exit(0);
  }
  return parsed;
}

/** Reads the bench's flags. @throws UsageError on an unknown flag or a bad value. */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        help: { type: 'boolean', short: 'h', default: false },
        quick: { type: 'boolean', default: false },
        only: { type: 'string', multiple: true },
        'cpu-prof': { type: 'string' },
        redis: { type: 'string', default: '127.0.0.1:6379' },
        db: { type: 'string', default: '0' },
        'step-timeout': { type: 'string', default: '120' },
        rounds: { type: 'string' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const only = (values.only ?? []).flatMap((s) => s.split(',')).map((s) => s.trim().toLowerCase()).filter(Boolean);
  for (const name of only) {
    if (!(PEER_NAMES as readonly string[]).includes(name)) throw new UsageError(`--only: unknown peer ${JSON.stringify(name)}; known: ${PEER_NAMES.join(', ')}`);
  }
  const redis = redisAddress(values.redis);
  const args: BenchArgs = {
    help: values.help,
    quick: values.quick,
    peers: only.length > 0 ? PEER_NAMES.filter((p) => only.includes(p)) : [...PEER_NAMES],
    rounds: values.rounds === undefined ? (values.quick ? 1 : 5) : wholeNumber('--rounds', values.rounds, 1),
    redisHost: redis.host,
    redisPort: redis.port,
    db: wholeNumber('--db', values.db, 0),
    stepTimeoutSec: wholeNumber('--step-timeout', values['step-timeout'], 1),
  };
  return values['cpu-prof'] === undefined ? args : { ...args, cpuProf: values['cpu-prof'] };
}
