/**
 * The reference application's entry point.
 *
 *   node --import tsx apps/api/src/main.ts [all|api|worker|beat|flower]
 *
 * `all` (what `npm start` runs) starts the API, a worker, beat and the dashboard in this process; with
 * nothing configured they share the embedded broker, result store, cache and database.
 * Each other role runs alone, for production, against the services the environment names.
 * Settings come from the environment and a `.env` file in the working directory. SIGTERM
 * or SIGINT stops the roles gracefully (API first, so no new work arrives); a second
 * signal exits at once.
 */
import { createRuntime, type Runtime } from './runtime.js';
import { startApi, startBeat, startFlower, startWorker, type RunningRole } from './roles.js';
import { seedDemoData } from './seed.js';
import { startTracing } from './tracing.js';
import { appEnvironment, loadSettings, redact, ROLES, SettingsError, type AppSettings, type Role } from './settings.js';

function fail(message: string, code: number): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

function parseRole(argv: readonly string[]): Role {
  const role = argv[0] ?? 'all';
  if (argv.length > 1 || !(ROLES as readonly string[]).includes(role)) fail(`usage: main.ts [${ROLES.join('|')}] (got ${argv.join(' ') || 'nothing'})`, 2);
  return role as Role;
}

function banner(role: Role, s: AppSettings, running: readonly RunningRole[]): string {
  const urls = Object.assign({}, ...running.map((r) => r.urls)) as Record<string, string>;
  const lines = [
    '',
    `Celeriac reference app: ${running.map((r) => r.name).join(', ')}`,
    `  broker     ${redact(s.brokerUrl)}`,
    `  results    ${redact(s.resultBackend)}`,
    `  database   ${s.databaseUrl === null ? `embedded PGlite (${s.dataDir})` : redact(s.databaseUrl)}`,
    `  cache      ${s.redisUrl === null ? 'in-process' : redact(s.redisUrl)}`,
    `  time zone  ${s.timezone}`,
  ];
  if (urls['api'] !== undefined) {
    lines.push('', `  Live page  ${urls['live']}`, `  API docs   ${urls['docs']}`, `  OpenAPI    ${urls['openapi']}`, `  Health     ${urls['health']}`);
  }
  if (urls['dashboard'] !== undefined) lines.push(`  Dashboard  ${urls['dashboard']}`);
  if (role === 'all') lines.push('', 'Press Ctrl-C to stop.');
  return `${lines.join('\n')}\n`;
}

async function start(role: Role, rt: Runtime): Promise<RunningRole[]> {
  const running: RunningRole[] = [];
  // Consumers first, the API last: by the time it accepts requests, tasks can run.
  if (role === 'all' || role === 'worker') running.push(await startWorker(rt));
  if (role === 'all' || role === 'beat') running.push(await startBeat(rt, { optional: role === 'all' }));
  let dashboardUrl: string | null = null;
  if (role === 'all' || role === 'flower') {
    const flower = await startFlower(rt);
    running.push(flower);
    dashboardUrl = flower.urls['dashboard'] ?? null;
  }
  if (role === 'all' || role === 'api') running.push(await startApi(rt, { dashboardUrl }));
  return running;
}

async function main(): Promise<void> {
  const role = parseRole(process.argv.slice(2));
  const env = appEnvironment();
  let settings: AppSettings;
  try {
    settings = loadSettings(env, role);
  } catch (err) {
    if (err instanceof SettingsError) fail(`${err.message}\n(see apps/api/README.md, or apps/api/.env.example)`, 2);
    throw err;
  }
  // Before anything sends or serves: with OTEL_EXPORTER_OTLP_ENDPOINT set, traces are exported.
  const stopTracing = await startTracing(process.env, `celeriac-app-${role}`);
  const rt = await createRuntime(settings, { celeryEnv: env });
  let running: RunningRole[] = [];
  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    if (stopping !== undefined) {
      rt.log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    rt.log.info({ signal }, 'shutting down');
    stopping = (async () => {
      for (const r of [...running].reverse()) await r.stop().catch((err: unknown) => rt.log.error({ err, role: r.name }, 'stop failed'));
      await rt.close();
      await stopTracing().catch((err: unknown) => rt.log.error({ err }, 'could not flush the last traces'));
    })().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    running = await start(role, rt);
    if (settings.seedDemoData && role !== 'beat') await seedDemoData(rt);
  } catch (err) {
    rt.log.fatal({ err }, 'start failed');
    for (const r of [...running].reverse()) await r.stop().catch(() => undefined);
    await rt.close();
    process.exit(1);
  }
  process.stdout.write(banner(role, settings, running));
}

await main();
