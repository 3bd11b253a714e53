/**
 * @module cli/commands/events
 * `celeriac events`: watch the cluster through its events. By default a live terminal view
 * of workers and tasks (refreshed every `-F` seconds); with `--dump`, one line per event in
 * the shape `celery events --dump` prints. Runs until SIGINT or SIGTERM (events-watch.ts).
 */
import type { Command } from 'commander';
import type { App } from '../../core/app.js';
import { type CliContext, parseNumberOption, untilSignalled } from '../io.js';
import { warnIfMemoryBroker } from './inspect.js';

interface EventsFlags {
  dump?: boolean;
  frequency: string;
  maxTasks: string;
}

/** Registers the command. */
export function registerEvents(program: Command, ctx: CliContext, getApp: (required: boolean) => Promise<{ app: App }>): void {
  program
    .command('events')
    .description('Watch workers and tasks live through their events (or dump every event with --dump).')
    .option('-d, --dump', 'print one line per event instead of the live view')
    .option('-F, --frequency <seconds>', 'live view refresh period', '1.0')
    .option('--max-tasks <n>', 'tasks the live view keeps in memory', '10000')
    .action(async (flags: EventsFlags) => {
      const refreshSec = parseNumberOption('-F/--frequency', flags.frequency) as number;
      const maxTasks = parseNumberOption('--max-tasks', flags.maxTasks, { integer: true, min: 1 }) as number;
      const { app } = await getApp(false);
      warnIfMemoryBroker(app, ctx);
      // Loaded here: see events-watch.ts.
      const { runEvents } = await import('../events-watch.js');
      await runEvents({
        broker: app.broker,
        clock: app.clock,
        out: (s) => ctx.io.out(s),
        dump: flags.dump === true,
        refreshMs: Math.max(100, refreshSec * 1000),
        maxTasks,
        title: `celeriac events: ${app.brokerUrl}`,
        screen: () => ({ width: process.stdout.columns ?? 120, height: process.stdout.rows ?? 40, color: process.stdout.isTTY === true }),
        stop: untilSignalled(),
      });
      if (ctx.app === undefined) await app.close();
    });
}
