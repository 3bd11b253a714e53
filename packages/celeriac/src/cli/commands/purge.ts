/**
 * @module cli/commands/purge
 * `celeriac purge`: delete every waiting message of the app's task queues (or `-Q` ones, minus
 * `-X`). Asks first unless `-f`, and reports the count the way `celery purge` does.
 */
import type { Command } from 'commander';
import type { App } from '../../core/app.js';
import { type CliContext, UsageError } from '../io.js';
import { confirm } from '../prompt.js';
import { warnIfMemoryBroker } from './inspect.js';

interface PurgeFlags {
  force?: boolean;
  queues?: string;
  excludeQueues?: string;
}

const plural = (n: number, word: string) => (n === 1 ? word : `${word}s`);
const list = (text: string | undefined) => (text ?? '').split(',').map((q) => q.trim()).filter(Boolean);

/** The queues an app sends to: the default queue and every queue its routes name. */
export function appQueues(app: App): string[] {
  const queues = new Set([app.settings.taskDefaultQueue]);
  for (const target of Object.values(app.settings.taskRoutes)) queues.add(typeof target === 'string' ? target : target.queue);
  return [...queues];
}

/** Registers the command; `setCode` gets 1 when the user declines. */
export function registerPurge(program: Command, ctx: CliContext, getApp: (required: boolean) => Promise<{ app: App }>, setCode: (code: number) => void): void {
  program
    .command('purge')
    .description('Delete all waiting messages from the task queues. There is no undo.')
    .option('-f, --force', 'do not ask for confirmation')
    .option('-Q, --queues <list>', 'comma-separated queues to purge (default: the app\'s task queues)')
    .option('-X, --exclude-queues <list>', 'comma-separated queues not to purge')
    .action(async (flags: PurgeFlags) => {
      const { app } = await getApp(false);
      warnIfMemoryBroker(app, ctx);
      const exclude = new Set(list(flags.excludeQueues));
      const chosen = flags.queues !== undefined ? list(flags.queues) : appQueues(app);
      if (flags.queues !== undefined && chosen.length === 0) throw new UsageError(`-Q/--queues must name at least one queue, got ${JSON.stringify(flags.queues)}`);
      const names = [...new Set(chosen)].filter((q) => !exclude.has(q)).sort();
      if (names.length === 0) return;
      const headline = plural(names.length, 'queue');
      if (flags.force !== true) {
        const question = `WARNING: This will remove all tasks from ${headline}: ${names.join(', ')}.\n         There is no undo for this operation!\n\n(to skip this prompt use the -f option)\nAre you sure you want to delete all tasks?`;
        if (!(await confirm(ctx.io, question))) {
          ctx.io.err('Aborted!\n');
          setCode(1);
          return;
        }
      }
      let messages = 0;
      for (const queue of names) messages += await app.broker.purge(queue);
      if (messages > 0) ctx.io.out(`Purged ${messages} ${plural(messages, 'message')} from ${names.length} known task ${headline}.\n`);
      else ctx.io.out(`No messages purged from ${names.length} ${headline}.\n`);
      if (ctx.app === undefined) await app.close();
    });
}
