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
import { expandNodeName } from '../../worker/nodename.js';
import { addDeployFlags, deploy, type DeployFlags, type Deployment } from '../deploy-flags.js';
import type { CliContext } from '../io.js';
import { addSettingFlags, settingsFromFlags } from '../setting-flags.js';

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

/** Most entry names a SIGUSR1 status line names. */
const STATUS_ENTRIES = 20;

/** Starts a Beat inside a worker process (`worker -B`); returns it so the worker's shutdown closes it. */
export async function startEmbeddedBeat(app: App): Promise<Beat> {
  const beat = new Beat(app);
  await beat.start();
  return beat;
}

/** The flags of `beat` that are not settings. */
type BeatFlags = DeployFlags & Record<string, unknown> & { scheduler?: string; schedule?: string };

/** What Celery's beat flags that have no equivalent here mean, one line each, logged at start. */
export function beatFlagNotices(flags: Pick<BeatFlags, 'scheduler' | 'schedule'>, schedulerFlag = '-S'): string[] {
  const notices: string[] = [];
  const where = 'its run state and dynamic entries live in the beat store (the Redis of the broker, or memory://), shared by every beat, so one sends however many run';
  if (flags.scheduler !== undefined) notices.push(`${schedulerFlag} ${flags.scheduler}: Celeriac's beat has one scheduler; ${where}`);
  if (flags.schedule !== undefined) notices.push(`-s ${flags.schedule}: no schedule file is kept; ${where}`);
  return notices;
}

/** Registers the command. */
export function registerBeat(program: Command, ctx: CliContext, getApp: (required: boolean) => Promise<{ app: App; label: string }>, done: (code: number) => void): void {
  const command = program
    .command('beat')
    .description('Run the periodic task scheduler (any number may run; one sends).')
    .option('-S, --scheduler <class>', 'accepted for Celery unit files: Celeriac has one scheduler, its state in the beat store')
    .option('-s, --schedule <file>', 'accepted for Celery unit files: there is no schedule file (state is in the beat store)');
  addSettingFlags(addDeployFlags(command, 'beat'), 'beat')
    .action(async (flags: BeatFlags) => {
      const overrides = settingsFromFlags('beat', flags, (text) => ctx.io.err(text));
      // Celery's beat has no node name; %n in --pidfile and --logfile is `beat`.
      const deployment = deploy(ctx, flags, expandNodeName('beat@%h'));
      if (deployment !== null) {
        const { app, label } = await getApp(true);
        app.overrideSettings(overrides);
        deployment.useLogging(app);
        for (const notice of beatFlagNotices(flags)) app.log.info(notice);
        await runBeat(app, label, deployment);
      }
      done(0);
    });

  /** Starts beat and runs it until SIGTERM or SIGINT, holding the pidfile meanwhile. */
  async function runBeat(app: App, label: string, deployment: Deployment): Promise<void> {
    const beat = new Beat(app);
    // SIGUSR1, which the worker answers with the tasks it holds, logs whether this beat sends
    // and what it schedules (a beat that seems to send nothing is most often a standby).
    const status = () => {
      const names = [...beat.entries.keys()];
      const shown = names.slice(0, STATUS_ENTRIES).join(', ') + (names.length > STATUS_ENTRIES ? `, and ${names.length - STATUS_ENTRIES} more` : '');
      const role = beat.isLeader ? 'leading (it sends)' : 'standing by (another beat holds the lease, or none is held yet)';
      beat.log.info({ signal: 'SIGUSR1', state: beat.state, leader: beat.isLeader, entries: names.length }, `SIGUSR1: beat ${beat.state}, ${role}; ${names.length} entries${shown === '' ? '' : `: ${shown}`}`);
    };
    // Handlers before the pidfile and the start: a SIGTERM from the moment the file exists
    // (a supervisor's stop right after its start) closes beat cleanly and removes the file.
    // A second signal while beat closes (waiting up to 5 s for a sending tick, then as long for
    // the lease's release, when the broker hangs)
    // ends the process at once, exit 1, the pidfile removed on the way out: with the handler
    // gone it met node's default death, which left the file.
    let uninstall = () => {};
    let stopping = false;
    const stopped = new Promise<void>((resolve) => {
      const stop = (signal: NodeJS.Signals) => {
        if (stopping) {
          beat.log.warn({ signal }, 'beat: second signal: exiting now, without waiting for the broker');
          process.exit(1);
        }
        stopping = true;
        beat.log.warn({ signal }, 'beat: shutting down (send again to exit at once)');
        void beat.close().finally(resolve);
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      process.on('SIGUSR1', status);
      uninstall = () => {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        process.off('SIGUSR1', status);
      };
    });
    await deployment.holding(uninstall, async () => {
      ctx.io.out(banner(beat, app, label));
      await beat.start();
      // A broker that refuses the credentials ends beat (exit 78, as the other commands).
      const refused = await Promise.race([stopped.then(() => null), beat.refused]);
      await app.close();
      if (refused !== null) throw refused;
    });
  }
}
