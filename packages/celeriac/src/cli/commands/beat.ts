/**
 * @module cli/commands/beat
 * `celeriac -A <module> beat`: run the periodic task scheduler until SIGTERM/SIGINT. Any
 * number may run: one leads and sends, the others stand by (docs/periodic-tasks.md).
 * Also the `-B` part of `worker -B` (startEmbeddedBeat).
 */
import type { Command } from 'commander';
import { Beat } from '../../beat/beat.js';
import { describeSchedule } from '../../beat/schedules.js';
import type { App } from '../../core/app.js';
import { CELERIAC_VERSION } from '../../worker/banner.js';
import { type CliContext, UsageError, parseNumberOption } from '../io.js';

interface BeatFlags {
  loglevel?: string;
  maxInterval?: string;
  leaseTtl?: string;
}

const LEVELS: Record<string, string> = { critical: 'fatal', warning: 'warn' };

/** Applies `-l` to the app's logger. */
export function applyLogLevel(app: App, level: string | undefined): void {
  if (level === undefined) return;
  const mapped = LEVELS[level.toLowerCase()] ?? level.toLowerCase();
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(mapped)) throw new UsageError(`unknown log level ${level}`);
  app.log.level = mapped;
}

function banner(beat: Beat, app: App, label: string): string {
  const lines = [
    `celeriac beat v${CELERIAC_VERSION} (${beat.options.holder})`,
    `  app:       ${label}`,
    `  broker:    ${app.brokerUrl}`,
    `  timezone:  ${app.settings.timezone}`,
    `  lease:     ${beat.options.leaseTtlMs / 1000}s, max interval ${beat.options.maxIntervalMs / 1000}s`,
    `  entries:   ${beat.entries.size} from settings (dynamic entries load once leading)`,
    ...[...beat.entries.values()].map((e) => `    . ${e.name}: ${e.task} ${describeSchedule(e.schedule)}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** Starts a Beat inside a worker process (`worker -B`); returns it so the worker's shutdown closes it. */
export async function startEmbeddedBeat(app: App): Promise<Beat> {
  const beat = new Beat(app);
  await beat.start();
  return beat;
}

/** Registers the command. */
export function registerBeat(program: Command, ctx: CliContext, getApp: (required: boolean) => Promise<{ app: App; label: string }>, done: (code: number) => void): void {
  program
    .command('beat')
    .description('Run the periodic task scheduler (any number may run; one sends).')
    .option('-l, --loglevel <level>', 'trace, debug, info, warning, error, critical')
    .option('--max-interval <seconds>', 'longest sleep between checks (default: beatMaxLoopInterval)')
    .option('--lease-ttl <seconds>', 'lease length: the longest takeover delay (default: beatLeaseTtl)')
    .action(async (flags: BeatFlags) => {
      const { app, label } = await getApp(true);
      applyLogLevel(app, flags.loglevel);
      const maxIntervalSec = parseNumberOption('--max-interval', flags.maxInterval, { min: 0.001 });
      const leaseTtlSec = parseNumberOption('--lease-ttl', flags.leaseTtl, { min: 0.001 });
      const beat = new Beat(app, { ...(maxIntervalSec === undefined ? {} : { maxIntervalSec }), ...(leaseTtlSec === undefined ? {} : { leaseTtlSec }) });
      ctx.io.out(banner(beat, app, label));
      await beat.start();
      // Timers are unref'd: hold the event loop open until a signal stops beat.
      const keepAlive = setInterval(() => {}, 1 << 30);
      await new Promise<void>((resolve) => {
        const stop = (signal: NodeJS.Signals) => {
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
          beat.log.warn({ signal }, 'beat: shutting down');
          void beat.close().finally(resolve);
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      }).finally(() => clearInterval(keepAlive));
      await app.close();
      done(0);
    });
}
