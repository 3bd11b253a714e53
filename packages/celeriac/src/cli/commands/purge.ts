/**
 * @module cli/commands/purge
 * `celeriac purge`: delete every waiting message of the app's task queues (or `-Q` ones, minus
 * `-X`), delayed (ETA/countdown) ones included. Asks first unless `-f`, and reports the count
 * the way `celery purge` does, with how many of them were delayed.
 */
import type { Command } from 'commander';
import type { App } from '../../core/app.js';
import { purgeCounting } from '../../core/spi/roles.js';
import type { Broker } from '../../core/spi/broker.js';
import { CeleriacError, ErrorCodes, coerceError } from '../../errors.js';
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

/** What purging some queues removed; `delayed` null when the broker does not count them apart. */
export interface PurgeTally {
  readonly queues: number;
  readonly ready: number;
  readonly delayed: number | null;
}

/**
 * Purges `queues` one after another. When one fails (the broker went away) the error says
 * what was purged before it and which queues were not, so nothing half-done goes unsaid.
 */
export async function purgeQueues(broker: Broker, queues: readonly string[]): Promise<PurgeTally> {
  let ready = 0;
  let delayed: number | null = 0;
  for (const [i, queue] of queues.entries()) {
    try {
      const n = await purgeCounting(broker, queue);
      ready += n.ready;
      delayed = n.delayed === null || delayed === null ? null : delayed + n.delayed;
    } catch (err) {
      const e = coerceError(err);
      const done = i === 0 ? 'nothing purged' : `purged ${ready + (delayed ?? 0)} ${plural(ready + (delayed ?? 0), 'message')} from ${queues.slice(0, i).join(', ')} first`;
      const code = err instanceof CeleriacError ? err.code : ErrorCodes.TRANSPORT;
      throw new CeleriacError(code, `purge of ${queue} failed (${done}; not purged: ${queues.slice(i).join(', ')}): ${e.message}`, { cause: e });
    }
  }
  return { queues: queues.length, ready, delayed };
}

/** Celery's report line (`Purged 3 messages from 1 known task queue.`), naming the delayed ones. */
export function purgeReport(t: PurgeTally): string {
  const total = t.ready + (t.delayed ?? 0);
  if (total === 0) return `No messages purged from ${t.queues} ${plural(t.queues, 'queue')}.`;
  const delayed = t.delayed === null || t.delayed === 0 ? '' : ` (${t.delayed} of them delayed: ETA/countdown)`;
  return `Purged ${total} ${plural(total, 'message')} from ${t.queues} known task ${plural(t.queues, 'queue')}${delayed}.`;
}

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
      ctx.io.out(`${purgeReport(await purgeQueues(app.broker, names))}\n`);
      if (ctx.app === undefined) await app.close();
    });
}
