/**
 * @module settings
 * The application's settings: read once at start from the environment (and a `.env` file),
 * checked against one schema, and frozen. A bad value stops the start with a message that
 * names the variable, what was expected and what was given, never a stack trace.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';
import type { LogFormat } from 'celeriac';

/** The roles a process can run. `all` is everything in one process (`npm start`). */
export type Role = 'all' | 'api' | 'worker' | 'beat' | 'flower';

/** The roles, as the command line accepts them. */
export const ROLES: readonly Role[] = Object.freeze(['all', 'api', 'worker', 'beat', 'flower']);

/** The resolved, frozen settings of one process. */
export interface AppSettings {
  readonly apiHost: string;
  readonly apiPort: number;
  /** Celery broker URL (`memory://` = the embedded broker). */
  readonly brokerUrl: string;
  /** Celery result backend URL. */
  readonly resultBackend: string;
  /** Cache Redis URL; null = the in-process cache. */
  readonly redisUrl: string | null;
  /** Postgres URL; null = the embedded PGlite database in `dataDir`. */
  readonly databaseUrl: string | null;
  /** Where the embedded database and export files live. */
  readonly dataDir: string;
  /** Where export files are written (shared by API and workers). */
  readonly exportDir: string;
  readonly flowerPort: number;
  /** `user:password` pairs for the dashboard; empty = no authentication. */
  readonly flowerBasicAuth: readonly string[];
  /** Task names (globs with `*`) the generic task endpoints may send. */
  readonly taskAllowList: readonly string[];
  /** IANA zone of the app: beat's crontabs (`daily_cleanup` at 02:00) are read in it. */
  readonly timezone: string;
  readonly logLevel: string;
  /** `human` lines as Celery prints them, `json`, or `auto`: human on a terminal, JSON otherwise. */
  readonly logFormat: LogFormat;
  /** Largest request body accepted, in bytes. */
  readonly bodyLimit: number;
  /** Longest a client may take to send a whole request (headers and body), in ms. */
  readonly requestTimeoutMs: number;
  readonly workerConcurrency: number;
  /** Node name of this process's worker (`%h` = host name). */
  readonly workerName: string;
  /** Seconds between `maintenance.heartbeat` runs. */
  readonly heartbeatEverySec: number;
  /** Prefix of every cache key in Redis. */
  readonly cachePrefix: string;
  /** Seed demo data at start when the database has no users. */
  readonly seedDemoData: boolean;
}

/** A setting that failed its check. */
export interface SettingProblem {
  readonly name: string;
  readonly message: string;
}

/** Thrown by {@link loadSettings}: every bad value at once, one line each. */
export class SettingsError extends Error {
  constructor(readonly problems: readonly SettingProblem[]) {
    super(`invalid settings:\n${problems.map((p) => `  ${p.name}: ${p.message}`).join('\n')}`);
    this.name = 'SettingsError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

const APP_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
const LOG_FORMATS = ['auto', 'human', 'json'];
/** The Redis schemes of a broker or result backend, Sentinel's included. */
const REDIS_SCHEMES = ['redis', 'rediss', 'sentinel', 'redis+sentinel'];
const SENTINEL_URL = /^(sentinel|redis\+sentinel):\/\//i;

/** Reads a `.env` file into a plain object; a missing file gives `{}`. */
export function readEnvFile(path: string): Record<string, string> {
  if (!existsSync(path)) return {};
  return parseEnv(readFileSync(path, 'utf8')) as Record<string, string>;
}

/**
 * The environment the app reads: `.env` values first, the real environment over them
 * (as docker compose and most dotenv loaders do), so a deployment can override the file.
 */
export function appEnvironment(env: Env = process.env, envFile = resolve(process.cwd(), '.env')): Env {
  return { ...readEnvFile(envFile), ...env };
}

/** Collects problems while reading values, so one start reports every bad variable. */
class Reader {
  readonly problems: SettingProblem[] = [];

  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const v = this.env[name]?.trim();
    return v === undefined || v === '' ? undefined : v;
  }

  string(name: string, fallback: string, check?: (v: string) => string | null): string {
    const v = this.raw(name) ?? fallback;
    const problem = check?.(v) ?? null;
    if (problem !== null) this.problems.push({ name, message: `${problem}, got ${JSON.stringify(v)}` });
    return v;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!/^-?\d+$/.test(v) || n < min || n > max) {
      this.problems.push({ name, message: `expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}` });
      return fallback;
    }
    return n;
  }

  boolean(name: string, fallback: boolean): boolean {
    const v = this.raw(name)?.toLowerCase();
    if (v === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    this.problems.push({ name, message: `expected true or false, got ${JSON.stringify(v)}` });
    return fallback;
  }

  url(name: string, schemes: readonly string[]): string | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    let scheme: string;
    try {
      // kombu's Sentinel forms name several hosts (`sentinel://h1;sentinel://h2/0`), which URL
      // refuses: the engine parses them when it connects, and refuses a bad one by name.
      scheme = SENTINEL_URL.exec(v)?.[1]?.toLowerCase() ?? new URL(v).protocol.replace(/:$/, '');
    } catch {
      this.problems.push({ name, message: `expected a URL (${schemes.map((s) => `${s}://`).join(', ')}), got ${JSON.stringify(redact(v))}` });
      return undefined;
    }
    if (!schemes.includes(scheme)) {
      this.problems.push({ name, message: `expected a URL with scheme ${schemes.join(', ')}, got ${JSON.stringify(redact(v))}` });
    }
    return v;
  }
}

/** A URL with its password replaced by `***`, for messages and logs. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:@/]*):[^@/]*@/g, '//$1:***@');
  }
}

function checkZone(zone: string): string | null {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return null;
  } catch {
    return 'expected an IANA time zone such as UTC or Europe/Berlin';
  }
}

function checkAuth(value: string): string | null {
  return value.split(',').every((pair) => /^[^:,]+:.+$/.test(pair.trim())) ? null : 'expected user:password pairs separated by commas';
}

function checkAllowList(value: string): string | null {
  return value.split(',').every((n) => /^[\w.*:-]+$/.test(n.trim())) ? null : 'expected task names or globs (letters, digits, . _ - : *) separated by commas';
}

/**
 * Reads and checks the settings. `env` is what {@link appEnvironment} returns (the `.env`
 * file merged under the process environment); `role` adds the checks of split deployments:
 * a process that runs only some roles cannot use the in-process broker, cache or database.
 * @throws SettingsError naming every bad variable
 */
export function loadSettings(env: Env, role: Role = 'all'): AppSettings {
  const r = new Reader(env);
  const brokerUrl = r.url('CELERY_BROKER_URL', ['memory', ...REDIS_SCHEMES, 'amqp', 'amqps']) ?? 'memory://';
  // A Redis broker doubles as the result backend unless told otherwise, as most deployments want
  // (behind Sentinel, the backend's master name goes in CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS).
  const isRedis = REDIS_SCHEMES.some((scheme) => brokerUrl.toLowerCase().startsWith(`${scheme}://`));
  const resultBackend = r.url('CELERY_RESULT_BACKEND', ['memory', ...REDIS_SCHEMES, 'rpc']) ?? (isRedis ? brokerUrl : 'memory://');
  const redisUrl = r.url('REDIS_URL', ['redis', 'rediss']) ?? null;
  const databaseUrl = r.url('DATABASE_URL', ['postgres', 'postgresql']) ?? null;
  const dataDir = resolve(r.string('DATA_DIR', resolve(APP_DIR, '.data')));
  const settings: AppSettings = {
    apiHost: r.string('API_HOST', '127.0.0.1'),
    apiPort: r.integer('API_PORT', 8000, 0, 65535),
    brokerUrl,
    resultBackend,
    redisUrl,
    databaseUrl,
    dataDir,
    exportDir: resolve(r.string('EXPORT_DIR', resolve(dataDir, 'exports'))),
    flowerPort: r.integer('FLOWER_PORT', 5555, 0, 65535),
    flowerBasicAuth: r.raw('FLOWER_BASIC_AUTH') === undefined ? [] : r.string('FLOWER_BASIC_AUTH', '', checkAuth).split(',').map((s) => s.trim()),
    taskAllowList: r.string('TASK_ALLOW_LIST', 'demo.*', checkAllowList).split(',').map((s) => s.trim()),
    timezone: r.string('APP_TIMEZONE', 'UTC', checkZone),
    logLevel: r.string('LOG_LEVEL', 'info', (v) => (LOG_LEVELS.includes(v) ? null : `expected one of ${LOG_LEVELS.join(', ')}`)),
    logFormat: r.string('LOG_FORMAT', 'auto', (v) => (LOG_FORMATS.includes(v) ? null : `expected one of ${LOG_FORMATS.join(', ')}`)) as LogFormat,
    bodyLimit: r.integer('API_BODY_LIMIT', 64 * 1024, 1024, 16 * 1024 * 1024),
    requestTimeoutMs: r.integer('API_REQUEST_TIMEOUT_MS', 30_000, 100, 600_000),
    workerConcurrency: r.integer('WORKER_CONCURRENCY', 4, 1, 1000),
    workerName: r.string('WORKER_NAME', role === 'all' ? 'embedded@%h' : 'worker@%h', (v) => (/^[^\s]+$/.test(v) ? null : 'expected a node name without spaces')),
    heartbeatEverySec: r.integer('HEARTBEAT_EVERY', 30, 1, 86_400),
    cachePrefix: r.string('CACHE_PREFIX', 'celeriac-app:', (v) => (/^[\w.:-]+$/.test(v) ? null : 'expected letters, digits and . _ : -')),
    seedDemoData: r.boolean('SEED_DEMO_DATA', role === 'all'),
  };
  if (role !== 'all') splitRoleProblems(settings, role).forEach((p) => r.problems.push(p));
  if (r.problems.length > 0) throw new SettingsError(r.problems);
  return Object.freeze(settings);
}

/** What a process running only some roles needs: everything shared must live outside it. */
function splitRoleProblems(s: AppSettings, role: Role): SettingProblem[] {
  const problems: SettingProblem[] = [];
  const why = 'must be set when roles run as separate processes';
  if (s.brokerUrl.startsWith('memory:')) problems.push({ name: 'CELERY_BROKER_URL', message: `${why} (memory:// lives inside one process)` });
  // Beat only sends messages, and the dashboard only watches (its history has its own store): the broker is all they share.
  if (role === 'beat' || role === 'flower') return problems;
  if (s.resultBackend.startsWith('memory:')) problems.push({ name: 'CELERY_RESULT_BACKEND', message: `${why} (memory:// lives inside one process)` });
  if (s.redisUrl === null) problems.push({ name: 'REDIS_URL', message: `${why} (the in-process cache cannot be invalidated from another process)` });
  if (s.databaseUrl === null) problems.push({ name: 'DATABASE_URL', message: `${why} (the embedded database serves one process)` });
  return problems;
}
