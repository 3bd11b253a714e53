/**
 * @module cli/commands/worker
 * `celeriac -A <module> worker`: start a worker, print the banner, run until signalled.
 */
import type { Command } from 'commander';
import type { App } from '../../core/app.js';
import { renderBanner } from '../../worker/banner.js';
import { installShutdownSignals } from '../../worker/signals.js';
import { Worker } from '../../worker/worker.js';
import { type CliContext, UsageError, parseNumberOption } from '../io.js';
import { startEmbeddedBeat } from './beat.js';
import { POOL_FLAG_HELP, resolvePoolFlags } from './worker-pool-flags.js';

interface WorkerFlags {
  queues?: string;
  concurrency?: string;
  hostname?: string;
  loglevel?: string;
  prefetchMultiplier?: string;
  pool?: string;
  shutdownTimeout?: string;
  taskEvents?: boolean;
  beat?: boolean;
  maxTasksPerChild?: string;
  maxMemoryPerChild?: string;
  timeLimit?: string;
  softTimeLimit?: string;
}

const LEVELS: Record<string, string> = { critical: 'fatal', warning: 'warn' };

/** Registers the command. `getApp` loads `-A` and applies `-b`/`--result-backend`. */
export function registerWorker(program: Command, ctx: CliContext, getApp: (required: boolean) => Promise<{ app: App; label: string }>, done: (code: number) => void): void {
  program
    .command('worker')
    .description('Start a worker that consumes queues and runs tasks.')
    .option('-Q, --queues <list>', 'comma-separated queues to consume (default: taskDefaultQueue)')
    .option('-c, --concurrency <n>', 'tasks run at once (default: workerConcurrency)')
    .option('-n, --hostname <name>', 'node name; %h hostname, %n short name, %d domain (default: celery@%h)')
    .option('-l, --loglevel <level>', 'trace, debug, info, warning, error, critical')
    .option('--prefetch-multiplier <n>', 'messages prefetched per slot; 0 = unlimited')
    .option('-P, --pool <pool>', POOL_FLAG_HELP.pool)
    .option('--max-tasks-per-child <n>', POOL_FLAG_HELP.maxTasksPerChild)
    .option('--max-memory-per-child <KiB>', POOL_FLAG_HELP.maxMemoryPerChild)
    .option('--time-limit <seconds>', POOL_FLAG_HELP.timeLimit)
    .option('--soft-time-limit <seconds>', POOL_FLAG_HELP.softTimeLimit)
    .option('--shutdown-timeout <seconds>', 'seconds a warm shutdown waits for running tasks')
    .option('-E, --task-events', 'send task events for monitors (celery events, Flower); default: workerSendTaskEvents')
    .option('-B, --beat', 'also run the periodic task scheduler in this process')
    .action(async (flags: WorkerFlags) => {
      const { app, label } = await getApp(true);
      if (flags.loglevel !== undefined) {
        const level = flags.loglevel.toLowerCase();
        const mapped = LEVELS[level] ?? level;
        if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(mapped)) throw new UsageError(`unknown log level ${flags.loglevel}`);
        app.log.level = mapped;
      }
      const queues = flags.queues?.split(',').map((q) => q.trim()).filter(Boolean);
      if (queues?.length === 0) throw new UsageError(`-Q/--queues must name at least one queue, got ${JSON.stringify(flags.queues)}`);
      const worker = new Worker(app, {
        queues,
        concurrency: parseNumberOption('--concurrency', flags.concurrency, { integer: true, min: 1 }),
        prefetchMultiplier: parseNumberOption('--prefetch-multiplier', flags.prefetchMultiplier, { integer: true }),
        hostname: flags.hostname,
        shutdownTimeout: parseNumberOption('--shutdown-timeout', flags.shutdownTimeout),
        ...resolvePoolFlags(flags, program.opts<{ app?: string }>().app, ctx.io.cwd),
        ...(flags.taskEvents === true ? { sendTaskEvents: true } : {}),
      });
      ctx.io.out(renderBanner(worker, label));
      await worker.start();
      const beat = flags.beat === true ? await startEmbeddedBeat(app) : undefined;
      // Adapters unref their timers (memory:// has no socket at all): hold the event loop open
      // until a signal stops the worker, or node exits with code 13 on the pending await.
      const keepAlive = setInterval(() => {}, 1 << 30);
      await new Promise<void>((resolve) => {
        const uninstall = installShutdownSignals(worker, () => {
          uninstall();
          resolve();
        });
        // A remote `shutdown` command closes the worker without a signal.
        void worker.stopped.then(() => {
          uninstall();
          resolve();
        });
      }).finally(() => clearInterval(keepAlive));
      await beat?.close();
      await app.close();
      done(0);
    });
}
