/**
 * @module cli/commands/flower
 * `celeriac flower`: starts the dashboard (package `@celeriac/dashboard`), as `celery flower`
 * starts Flower. The dashboard is its own package so that the engine does not depend on a web
 * server and a database (the engine never imports the dashboard: docs/internals.md, "Layers"); this command loads
 * it only when run, passes it the app (`-A`, or `-b`/`CELERY_BROKER_URL` alone, so Python-only
 * clusters can be watched too) and the options after `flower`, and says how to install it when
 * it is missing.
 */
import type { Command } from 'commander';
import type { App } from '../../core/app.js';
import { type CliContext, untilSignalled } from '../io.js';
import { warnIfMemoryBroker } from './inspect.js';

/** The dashboard package's CLI entry, as this command calls it. */
interface DashboardModule {
  runFlowerCli(args: readonly string[], ctx: { app: App; out(text: string): void; err(text: string): void; stop: () => Promise<void> }): Promise<number>;
}

/** The package name; a variable so that no bundler or checker follows the import. */
const DASHBOARD_PACKAGE = '@celeriac/dashboard';

/** Loads the dashboard, or null when it is not installed. */
export async function loadDashboard(spec: string = DASHBOARD_PACKAGE): Promise<DashboardModule | null> {
  try {
    return (await import(spec)) as DashboardModule;
  } catch (error) {
    const e = error as { code?: string; message?: string };
    if ((e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') && String(e.message).includes(spec)) return null;
    throw error;
  }
}

/** Registers the command. */
export function registerFlower(program: Command, ctx: CliContext, getApp: (required: boolean) => Promise<{ app: App }>, setCode: (code: number) => void): void {
  program
    .command('flower')
    .description('Start the dashboard (Flower-compatible web UI and HTTP API); `celeriac flower --help` lists its options.')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[options...]', 'dashboard options (--port, --basic-auth, --url-prefix, ...)')
    .action(async (args: string[]) => {
      const dashboard = await loadDashboard();
      if (dashboard === null) {
        ctx.io.err(`error: celeriac flower needs the dashboard package, which is not installed.\n  Install it beside celeriac:  npm install ${DASHBOARD_PACKAGE}\n`);
        setCode(1);
        return;
      }
      const { app } = await getApp(false);
      warnIfMemoryBroker(app, ctx);
      const code = await dashboard.runFlowerCli(args, { app, out: (s) => ctx.io.out(s), err: (s) => ctx.io.err(s), stop: untilSignalled });
      if (ctx.app === undefined) await app.close();
      setCode(code);
    });
}
