/**
 * @module cli/main
 * The `celeriac` command: global options (`-A`, `-b`, `--result-backend`) and sub-commands,
 * each a twin of Celery's. `main()` returns the exit code instead of exiting, so commands
 * are tested in-process.
 */
import { Command, CommanderError } from 'commander';
import type { App } from '../core/app.js';
import { createLogger, isStockLogger } from '../core/log.js';
import { CeleriacError, ErrorCodes } from '../errors.js';
import { createApp } from '../create-app.js';
import { CELERIAC_VERSION } from '../worker/banner.js';
import { registerBeat } from './commands/beat.js';
import { registerCall } from './commands/call.js';
import { registerGraph } from './commands/graph.js';
import { registerEvents } from './commands/events.js';
import { registerFlower } from './commands/flower.js';
import { registerRemote } from './commands/inspect.js';
import { registerMigrate } from './commands/migrate.js';
import { registerMulti } from './commands/multi.js';
import { registerPurge } from './commands/purge.js';
import { registerDeadletter } from './commands/deadletter.js';
import { registerReport } from './commands/report.js';
import { registerShell } from './commands/shell.js';
import { registerResult } from './commands/result.js';
import { registerWorker } from './commands/worker.js';
import { type CliContext, type GlobalOptions, UsageError } from './io.js';
import { loadApp } from './load-app.js';

/** Builds the program; `setCode` receives the exit code commands decide. */
export function buildProgram(ctx: CliContext, setCode: (code: number) => void): Command {
  const program = new Command('celeriac')
    .description('Celery for TypeScript: run workers, send tasks, read results.')
    .version(CELERIAC_VERSION, '--version')
    .option('-A, --app <module>', 'module exporting the app (`app` or default export); .ts loads without a build step')
    .option('-b, --broker <url>', 'broker URL, overriding the app settings')
    .option('--result-backend <url>', 'result backend URL, overriding the app settings')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.io.out(s), writeErr: (s) => ctx.io.err(s) });

  // The command being run (a client command logs to stderr: see getApp).
  let running = '';
  program.hook('preAction', (_program, action) => {
    running = action.name();
  });

  const getApp = async (required: boolean): Promise<{ app: App; label: string }> => {
    const globals = program.opts<GlobalOptions>();
    let app: App;
    let label: string;
    if (ctx.app !== undefined) {
      app = ctx.app;
      label = '(embedded)';
    } else if (globals.app !== undefined) {
      app = await loadApp(globals.app, ctx.io.cwd, ctx.beforeTypeScript);
      label = globals.app;
    } else if (required) {
      throw new UsageError('this command needs the app: pass -A <module> (a .ts or .js file exporting `app`)');
    } else {
      app = createApp();
      label = '(default)';
    }
    const urls: { broker?: string; backend?: string } = {};
    if (globals.broker !== undefined) urls.broker = globals.broker;
    if (globals.resultBackend !== undefined) urls.backend = globals.resultBackend;
    if (Object.keys(urls).length > 0) app.overrideSettings(urls);
    // A client command's stdout is its answer (an id, JSON, a table, a graph): its log lines
    // (a publish retried, a connection lost) go to stderr, or `id=$(celeriac call ...)` took
    // them in with the id. A logger the app was given is the user's to direct.
    if (!LOGS_TO_STDOUT.has(running) && isStockLogger(app.log)) {
      app.useLogger(createLogger({ level: app.settings.logLevel, format: app.settings.logFormat, fd: 2 }));
    }
    return { app, label };
  };

  registerWorker(program, ctx, getApp, setCode);
  registerMulti(program, ctx, setCode);
  registerBeat(program, ctx, getApp, setCode);
  registerCall(program, ctx, getApp);
  registerResult(program, ctx, getApp, setCode);
  registerGraph(program, ctx);
  registerRemote(program, ctx, getApp, setCode);
  registerEvents(program, ctx, getApp);
  registerFlower(program, ctx, getApp, setCode);
  registerPurge(program, ctx, getApp, setCode);
  registerDeadletter(program, ctx, getApp, setCode);
  registerMigrate(program, ctx, getApp);
  registerShell(program, ctx, getApp);
  registerReport(program, ctx, getApp);
  for (const command of program.commands) command.exitOverride().configureOutput({ writeOut: (s) => ctx.io.out(s), writeErr: (s) => ctx.io.err(s) });
  return program;
}

/** The commands that are services, whose log is their output, on stdout as Celery's: the rest log to stderr. */
const LOGS_TO_STDOUT = new Set(['worker', 'beat', 'flower', 'multi']);

/**
 * Exit status of a configuration error (sysexits.h EX_CONFIG): a setting that does not parse,
 * or a broker or backend that refuses the credentials or configuration (a wrong password, a
 * missing ACL permission, a database it does not have). A supervisor should not restart a
 * process that exits with it (systemd: `RestartPreventExitStatus=78`).
 */
export const EXIT_CONFIG = 78;

/** Runs the CLI with `argv` (as `process.argv`: node, script, args...). Returns the exit code. */
export async function main(argv: readonly string[], ctx: CliContext): Promise<number> {
  let code = 0;
  const program = buildProgram({ ...ctx, argv: ctx.argv ?? argv }, (c) => {
    code = c;
  });
  try {
    await program.parseAsync([...argv]);
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with exit code 0. Everything else the parser refuses (an
      // unknown option or command, a missing or extra argument, no command) is a usage error:
      // 2, as Celery's command line exits. Commander has written the message and the usage.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof UsageError) {
      ctx.io.err(`error: ${err.message}\n`);
      return 2;
    }
    if (err instanceof CeleriacError) {
      ctx.io.err(`error: ${err.message} [${err.code}]\n`);
      return err.code === ErrorCodes.CONFIG ? EXIT_CONFIG : 1;
    }
    ctx.io.err(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}
