/**
 * @module cli
 * `celeriac flower`: the dashboard's command line, with Flower's option names (dashes or
 * underscores) and `FLOWER_<OPTION>` environment variables (docs/dashboard.md). Precedence:
 * command line, then environment, then default. The `celeriac` CLI delegates here (it loads
 * this package only when `flower` runs), passing the app built from `-A`/`-b`.
 *
 * Differences from Flower, on purpose: history is kept by default (`--persistent` defaults to
 * true; `--db` names the data directory of the embedded database); `DATABASE_URL` (or
 * `--database-url`) keeps it in Postgres instead.
 */
import type { App } from 'celeriac';
import { Command, CommanderError, Option } from 'commander';
import { parseBuckets } from './ingest/metrics.js';
import { checkTraceUrl, FLOWER_HEAP_GROWING_PERCENT, startDashboard, type DashboardOptions } from './dashboard.js';
import { maskUrl } from './store/sql-driver.js';

/** What the CLI needs from its caller. */
export interface FlowerCliContext {
  /** The app to watch (from `-A`, or built from `-b`/`CELERY_BROKER_URL`). */
  app: App;
  out(text: string): void;
  err(text: string): void;
  /** Environment. @default process.env */
  env?: NodeJS.ProcessEnv;
  /**
   * Called once the options are checked, before the dashboard starts; the dashboard stops when
   * its promise resolves (once started, when that was during the start). The `celeriac` CLI
   * passes its first SIGINT or SIGTERM (a library installs no signal handlers).
   */
  stop: () => Promise<void>;
  /** Called once the dashboard listens (tests). */
  onStarted?: (url: string) => void;
}

const TRUE = new Set(['y', 'yes', 't', 'true', 'on', '1']);
const FALSE = new Set(['n', 'no', 'f', 'false', 'off', '0']);

function strtobool(name: string, value: string | boolean | undefined): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  const v = value.trim().toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw new UsageError(`--${name} must be a boolean (true/false), got ${JSON.stringify(value)}`);
}

/** `--trace-url` as startDashboard takes it; a UsageError when it is not an http(s) URL with {trace_id}. */
function traceUrl(value: string | undefined): string | undefined {
  try {
    return checkTraceUrl(value) ?? undefined;
  } catch (error) {
    throw new UsageError(`--trace-url: ${(error as Error).message}`);
  }
}

function number(name: string, value: string | undefined, { integer = false, min = 0, max = Infinity } = {}): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    const range = max === Infinity ? `>= ${min}` : `from ${min} to ${max}`;
    throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} ${range}, got ${JSON.stringify(value)}`);
  }
  return n;
}

const list = (value: string | undefined): string[] | undefined => (value === undefined ? undefined : value.split(',').map((s) => s.trim()).filter((s) => s !== ''));

class UsageError extends Error {}

/** Flower's options, as `[flag, description, isBoolean]`. */
const OPTIONS: readonly [string, string, boolean][] = [
  ['port', 'HTTP port (default 5555)', false],
  ['address', 'bind address (default: all interfaces)', false],
  ['url-prefix', 'serve under this path, e.g. /flower (behind a proxy)', false],
  ['basic-auth', 'user:pass[,user2:pass2] (Flower basic auth)', false],
  ['viewers', 'basic-auth users who may only read, comma-separated', false],
  ['api-tokens', 'bearer tokens for the API: token[:viewer],...', false],
  ['cookie-secret', 'signs sessions and CSRF tokens; pin it to keep sessions across restarts (default: fresh on each start)', false],
  ['session-idle-sec', 'a browser session unused this many seconds ends (default 28800)', false],
  ['session-max-age-sec', 'any browser session ends this many seconds after login (default 604800)', false],
  ['unauthenticated-api', 'without auth: let scripts use the API, actions included (FLOWER_UNAUTHENTICATED_API)', true],
  ['anonymous-control', 'without auth: let the pages act (default: pages only read)', true],
  ['auth', 'OIDC login: a regular expression the whole verified email must match, e.g. .*@example\\.com', false],
  ['auth-provider', 'the login provider of --auth: google, gitlab, github, okta or oidc (with --oidc-issuer); Flower\'s handler class names work', false],
  ['oidc-issuer', 'the issuer URL of the OIDC provider (FLOWER_OAUTH2_OKTA_BASE_URL is read too)', false],
  ['oauth2-key', 'the OIDC client id (FLOWER_OAUTH2_KEY)', false],
  ['oauth2-secret', 'the OIDC client secret (FLOWER_OAUTH2_SECRET)', false],
  ['oauth2-redirect-uri', 'the callback URL registered with the provider: <public URL>/login/callback', false],
  ['read-only', 'refuse every action', true],
  ['trace-url', "link a task's trace id there: a URL with {trace_id} where the id goes (Jaeger: http://jaeger:16686/trace/{trace_id})", false],
  ['persistent', 'keep history across restarts (default true)', true],
  ['db', 'data directory of the embedded database and audit log, made 0700 (default ./celeriac-flower)', false],
  ['database-url', 'Postgres URL for the history (default: DATABASE_URL, else embedded)', false],
  ['max-tasks', 'most tasks kept in the history (default 1000000)', false],
  ['max-workers', 'most workers kept (default 5000)', false],
  ['inspect-timeout', "milliseconds (Flower's name and unit) an inspection or worker action waits for replies (default 1000)", false],
  ['inspect-interval-ms', 'milliseconds between background inspections (default 10000)', false],
  ['purge-offline-workers', "seconds (Flower's name and unit) after which an offline worker is forgotten (default 3600)", false],
  ['enable-events', 'broadcast enable_events every 5 s (default true)', true],
  ['task-runtime-metric-buckets', 'histogram buckets, e.g. 1,5,10,inf', false],
  ['stuck-after-sec', 'seconds after which a RECEIVED/STARTED task counts as stuck in /metrics (default 3600)', false],
  ['audit-log', 'audit log file (default <db>/audit.log)', false],
];

/**
 * Names of 0.1 for the dashboard's own options, before they said their unit (Flower's own
 * names, `--inspect-timeout` in ms and `--purge-offline-workers` in s, stay as Flower has them).
 * Still read, flag or `FLOWER_` variable, with a warning.
 */
const RENAMED: Readonly<Record<string, string>> = { 'session-idle': 'session-idle-sec', 'session-max-age': 'session-max-age-sec', 'inspect-interval': 'inspect-interval-ms', 'stuck-after': 'stuck-after-sec' };

/** Flower options accepted for compatibility, with no effect here. */
const IGNORED = ['auto-refresh', 'natural-time', 'tasks-columns', 'xheaders', 'debug', 'conf', 'state-save-interval', 'format-task', 'broker-api', 'logging'];

const camel = (flag: string): string => flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

/**
 * The option as commander takes it. Flower's underscore spelling (`--url_prefix`) is the
 * option's second long flag; a boolean takes an optional value (`--read-only`,
 * `--persistent false`, `--persistent=no`), as does an ignored option (`--debug`, `--conf x`).
 */
function flowerOption(flag: string, doc: string, value: '<value>' | '[bool]' | '[value]'): Option {
  const spellings = flag.includes('-') ? `--${flag.replace(/-/g, '_')}, --${flag}` : `--${flag}`;
  return new Option(`${spellings} ${value}`, doc);
}

/** `celeriac flower`'s command: parses only; runFlowerCli resolves and starts. */
function flowerCommand(ctx: Pick<FlowerCliContext, 'out' | 'err'>): Command {
  const command = new Command('celeriac [-A app | -b broker] flower')
    .description("The Celeriac dashboard: Flower's pages and HTTP API, with a history that survives restarts.")
    .usage('[options]')
    .helpOption('-h, --help', 'show this help')
    .addHelpText('after', '\nEvery option may also be set as FLOWER_<OPTION> (e.g. FLOWER_BASIC_AUTH); dashes and underscores are interchangeable.\n')
    .configureHelp({ optionTerm: (o) => (o.long === '--help' ? '-h, --help' : `${o.long ?? ''}${o.required ? ' <value>' : '[=bool]'}`) })
    .showHelpAfterError('(celeriac flower --help lists the options)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.out(s), writeErr: (s) => ctx.err(s) });
  for (const [flag, doc, isBool] of OPTIONS) command.addOption(flowerOption(flag, doc, isBool ? '[bool]' : '<value>'));
  for (const flag of IGNORED) command.addOption(flowerOption(flag, 'accepted for Flower compatibility; no effect', '[value]').hideHelp());
  for (const [before, now] of Object.entries(RENAMED)) command.addOption(flowerOption(before, `deprecated name of --${now}`, '<value>').hideHelp());
  return command;
}

/**
 * Resolves the options from flags and environment. A renamed option's old name (flag or
 * variable) is read with a warning through `warn`; old and new name together are an error.
 */
export function resolveFlowerOptions(flags: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv, app: App, warn: (text: string) => void = () => {}): DashboardOptions {
  const flag = (name: string) => flags[camel(name)];
  const envVar = (name: string) => `FLOWER_${name.replace(/-/g, '_').toUpperCase()}`;
  const old = Object.fromEntries(Object.entries(RENAMED).map(([before, now]) => [now, before]));
  const warned = new Set<string>();
  const get = (name: string): string | boolean | undefined => {
    const before = old[name];
    if (before === undefined) return flag(name) ?? env[envVar(name)];
    if (flag(name) !== undefined && flag(before) !== undefined) throw new UsageError(`--${before} and --${name} are one option: give only --${name}`);
    if (env[envVar(name)] !== undefined && env[envVar(before)] !== undefined) throw new UsageError(`${envVar(before)} and ${envVar(name)} are one option: set only ${envVar(name)}`);
    const given = flag(name) ?? (flag(before) === undefined ? env[envVar(name)] : undefined);
    if (given !== undefined) return given;
    const deprecated = flag(before) !== undefined ? `--${before}` : env[envVar(before)] !== undefined ? envVar(before) : undefined;
    if (deprecated === undefined) return undefined;
    if (!warned.has(deprecated)) warn(`warning: ${deprecated} is deprecated: use ${deprecated.startsWith('--') ? `--${name}` : envVar(name)} (the same number; see docs/upgrading.md)\n`);
    warned.add(deprecated);
    return flag(before) ?? env[envVar(before)];
  };
  const s = (name: string) => {
    const v = get(name);
    return typeof v === 'boolean' ? undefined : v;
  };
  const persistent = strtobool('persistent', get('persistent')) ?? true;
  const buckets = s('task-runtime-metric-buckets');
  let runtimeBuckets: number[] | undefined;
  if (buckets !== undefined) {
    try {
      runtimeBuckets = parseBuckets(buckets);
    } catch (error) {
      throw new UsageError(`--task-runtime-metric-buckets: ${(error as Error).message}`);
    }
  }
  const purge = number('purge-offline-workers', s('purge-offline-workers'));
  const databaseUrl = s('database-url') ?? env['DATABASE_URL'];
  const options: DashboardOptions = {
    app,
    port: number('port', s('port'), { integer: true, max: 65_535 }) ?? 5555,
    address: s('address') ?? '',
    // The process is the dashboard's alone: collect sooner rather than let V8 grow the heap
    // to 3-4x its live data under a busy ingest (dashboard.ts).
    heapGrowingPercent: FLOWER_HEAP_GROWING_PERCENT,
    urlPrefix: s('url-prefix') ?? '',
    basicAuth: list(s('basic-auth')) ?? [],
    viewers: list(s('viewers')) ?? [],
    apiTokens: list(s('api-tokens')) ?? [],
    readOnly: strtobool('read-only', get('read-only')) ?? false,
    ...(s('trace-url') === undefined ? {} : { traceUrl: traceUrl(s('trace-url')) }),
    dataDir: persistent ? (s('db') ?? 'celeriac-flower') : null,
    ingest: {
      ...(runtimeBuckets !== undefined ? { runtimeBuckets } : {}),
      ...(purge !== undefined ? { purgeOfflineAfterMs: purge * 1000 } : {}),
      ...(s('inspect-timeout') !== undefined ? { inspectTimeoutMs: number('inspect-timeout', s('inspect-timeout')) as number } : {}),
      ...(s('inspect-interval-ms') !== undefined ? { inspectIntervalMs: number('inspect-interval-ms', s('inspect-interval-ms'), { min: 100 }) as number } : {}),
      ...(s('max-workers') !== undefined ? { maxWorkers: number('max-workers', s('max-workers'), { integer: true, min: 1 }) as number } : {}),
      ...((strtobool('enable-events', get('enable-events')) ?? true) ? {} : { enableEventsMs: 0 }),
    },
  };
  const cookie = s('cookie-secret');
  if (cookie !== undefined) options.cookieSecret = cookie;
  const unauthenticatedApi = strtobool('unauthenticated-api', get('unauthenticated-api'));
  if (unauthenticatedApi !== undefined) options.unauthenticatedApi = unauthenticatedApi;
  const anonymousControl = strtobool('anonymous-control', get('anonymous-control'));
  if (anonymousControl !== undefined) options.anonymousControl = anonymousControl;
  const auth = s('auth');
  if (auth !== undefined) {
    options.auth = auth;
    options.oidc = { ...oidcProvider(s('auth-provider'), s('oidc-issuer') ?? env['FLOWER_OAUTH2_OKTA_BASE_URL'], env['FLOWER_GITHUB_OAUTH_DOMAIN']), clientId: s('oauth2-key') ?? '', clientSecret: s('oauth2-secret') ?? '', redirectUri: s('oauth2-redirect-uri') ?? '' };
  }
  const idle = number('session-idle-sec', s('session-idle-sec'), { min: 1 });
  if (idle !== undefined) options.sessionIdleSec = idle;
  const maxAge = number('session-max-age-sec', s('session-max-age-sec'), { min: 1 });
  if (maxAge !== undefined) options.sessionMaxAgeSec = maxAge;
  if (databaseUrl !== undefined && databaseUrl !== '') {
    // pg reads any text as a URL: "notaurl" looked up a host named "base".
    if (!/^postgres(ql)?:\/\//i.test(databaseUrl)) throw new UsageError(`--database-url (or DATABASE_URL) must be a postgres:// or postgresql:// URL, got ${JSON.stringify(maskUrl(databaseUrl))}`);
    options.databaseUrl = databaseUrl;
  }
  const maxTasks = number('max-tasks', s('max-tasks'), { integer: true, min: 1 });
  if (maxTasks !== undefined) options.maxTasks = maxTasks;
  const stuck = number('stuck-after-sec', s('stuck-after-sec'));
  if (stuck !== undefined) options.stuckAfterSec = stuck;
  const audit = s('audit-log');
  if (audit !== undefined) options.auditLog = audit;
  return options;
}

/**
 * The provider of `--auth-provider` (a name or Flower's handler class) and `--oidc-issuer`;
 * GitHub's host from `FLOWER_GITHUB_OAUTH_DOMAIN` (GitHub Enterprise Server), as Flower reads it.
 */
function oidcProvider(provider: string | undefined, issuer: string | undefined, githubDomain: string | undefined): { provider?: string; issuer?: string } {
  const p = (provider ?? (issuer === undefined ? '' : 'oidc')).toLowerCase();
  if (p.includes('github')) {
    if (githubDomain === undefined || githubDomain === '') return { provider: 'github' };
    return { provider: 'github', issuer: /^https?:\/\//.test(githubDomain) ? githubDomain : `https://${githubDomain}` };
  }
  if (p.includes('google')) return { provider: 'google' };
  if (p.includes('gitlab')) return { provider: 'gitlab' };
  if ((p.includes('okta') || p === 'oidc') && issuer !== undefined) return { issuer };
  throw new UsageError('--auth needs --auth-provider google, gitlab or github, or okta/oidc with --oidc-issuer <issuer URL>');
}

/** The banner's auth line: which mode is on, in words (docs/security.md). */
export function authLine(options: DashboardOptions): string {
  const ro = options.readOnly === true ? ', read-only' : '';
  if (options.auth !== undefined) return `${options.oidc?.provider === 'github' ? 'GitHub' : 'OIDC'} login (${options.oidc?.provider ?? options.oidc?.issuer ?? '?'}) for emails matching ${options.auth}${(options.basicAuth?.length ?? 0) + (options.apiTokens?.length ?? 0) > 0 ? ', and basic/bearer' : ''}${ro}`;
  if ((options.basicAuth?.length ?? 0) + (options.apiTokens?.length ?? 0) > 0) return `basic/bearer${ro}`;
  const pages = options.anonymousControl === true ? 'pages may act (--anonymous-control)' : 'pages read only';
  const api = options.unauthenticatedApi === true ? 'API open to anyone (unauthenticated API)' : options.unauthenticatedApi === false ? 'API closed to scripts' : 'API for scripts only with FLOWER_UNAUTHENTICATED_API';
  return `NONE: ${pages}, ${api}${ro}`;
}

/**
 * The dashboard's options from the arguments after `flower` and the environment, or the exit
 * code when the run ends here: 0 after --help, 2 after a bad option or value (the message and
 * the --help hint written to `ctx.err`).
 */
export function flowerOptions(args: readonly string[], ctx: Pick<FlowerCliContext, 'app' | 'out' | 'err' | 'env'>): DashboardOptions | number {
  const command = flowerCommand(ctx);
  try {
    const flags = command.parse([...args], { from: 'user' }).opts<Record<string, string | boolean | undefined>>();
    for (const flag of IGNORED) if (flags[camel(flag)] !== undefined) ctx.err(`warning: --${flag} has no effect in celeriac flower (see docs/dashboard.md)\n`);
    try {
      return resolveFlowerOptions(flags, ctx.env ?? process.env, ctx.app, ctx.err);
    } catch (error) {
      if (error instanceof UsageError) command.error(`error: ${error.message}`, { exitCode: 2 });
      throw error;
    }
  } catch (error) {
    // Commander has written the message and the --help hint; --help itself ends here with 0.
    if (error instanceof CommanderError) return error.code === 'commander.helpDisplayed' ? 0 : 2;
    throw error;
  }
}

/** The line `celeriac flower` writes when the broker or its database starts failing or works again. */
export function healthLine(part: string, problem: string | null, at: Date): string {
  return `[${at.toISOString()}] celeriac flower: the ${part} ${problem === null ? 'works again' : `fails (${problem}); retrying, /readyz reports it`}\n`;
}

/**
 * Runs `celeriac flower` with the arguments after `flower`. Resolves with the exit code once
 * the dashboard stopped (or at once for --help and bad options).
 */
export async function runFlowerCli(args: readonly string[], ctx: FlowerCliContext): Promise<number> {
  const options = flowerOptions(args, ctx);
  if (typeof options === 'number') return options;
  // A broker or database it cannot reach (a wrong URL, a server down) is said here, as Flower
  // logs it, once when it starts failing (unreachable, or refusing writes) and once when it works again.
  options.ingest = { ...options.ingest, onHealth: (part, problem) => ctx.err(healthLine(part, problem, new Date())) };
  // Asked before the start, not once it listens: the page answers while the start goes on
  // (the history store, the broker), and a SIGTERM in between killed the process mid-start.
  const stopped = ctx.stop();
  stopped.catch(() => {}); // rejected while starting: thrown below, where it is awaited
  let dashboard: Awaited<ReturnType<typeof startDashboard>>;
  try {
    dashboard = await startDashboard(options);
  } catch (err) {
    // A port in use or not ours to take: said in one line, as Flower's bind error, not a stack.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EADDRINUSE' && code !== 'EACCES' && code !== 'EADDRNOTAVAIL') throw err;
    ctx.err(`error: cannot listen on ${options.address === undefined || options.address === '' ? '0.0.0.0' : options.address}:${options.port ?? 5555}: ${(err as Error).message}\n`);
    return 1;
  }
  ctx.out(
    [
      `celeriac flower ${dashboard.url}`,
      `  broker   ${ctx.app.brokerUrl}`,
      `  history  ${options.databaseUrl !== undefined ? maskUrl(options.databaseUrl) : options.dataDir === null ? 'in memory (--persistent=false)' : `embedded, ${options.dataDir}`}`,
      `  auth     ${authLine(options)}`,
      '',
    ].join('\n'),
  );
  ctx.onStarted?.(dashboard.url);
  await stopped;
  await dashboard.close();
  return 0;
}
