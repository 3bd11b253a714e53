/**
 * @module cli/commands/worker
 * `celeriac -A <module> worker`: start a worker, print the banner, run until signalled.
 */
import type { Command } from 'commander';
import type { App } from '../../core/app.js';
import { renderBanner } from '../../worker/banner.js';
import { installShutdownSignals } from '../../worker/signals.js';
import { expandNodeName } from '../../worker/nodename.js';
import { Worker } from '../../worker/worker.js';
import { addDeployFlags, deploy, type DeployFlags } from '../deploy-flags.js';
import { type CliContext, UsageError } from '../io.js';
import { parseAppSpec, resolveAppPath } from '../load-app.js';
import { addSettingFlags, settingsFromFlags } from '../setting-flags.js';
import { startEmbeddedBeat } from './beat.js';

/** After the second signal the process exits within this, even if closing hangs. */
const COLD_EXIT_MS = 1800;

/** Longest wait for the app's connections (and an embedded beat) to close after a warm shutdown. */
const CLOSE_APP_MS = 1000;

/** Waits for `work` (errors ignored) at most `ms`. */
async function bounded(work: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (work === undefined) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([work.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** `{ appAttr }` when `-A` named an export. */
const appAttrOf = (attr: string | null): { appAttr?: string } => (attr === null ? {} : { appAttr: attr });

/** The flags that are not settings; the others come from the settings table. */
interface WorkerFlags extends DeployFlags {
  queues?: string;
  hostname?: string;
  beat?: boolean;
}

/** Registers the command. `getApp` loads `-A` and applies `-b`/`--result-backend`. */
export function registerWorker(program: Command, ctx: CliContext, getApp: (required: boolean) => Promise<{ app: App; label: string }>, done: (code: number) => void): void {
  const command = program
    .command('worker')
    .description('Start a worker that consumes queues and runs tasks.')
    .option('-Q, --queues <list>', 'comma-separated queues to consume (default: taskDefaultQueue)')
    .option('-n, --hostname <name>', 'node name; %h hostname, %n short name, %d domain (default: celery@%h)')
    .option('-B, --beat', 'also run the periodic task scheduler in this process');
  addSettingFlags(addDeployFlags(command, 'worker'), 'worker')
    .action(async (flags: WorkerFlags & Record<string, unknown>) => {
      const overrides = settingsFromFlags('worker', flags);
      const nodename = expandNodeName(flags.hostname);
      const deployment = deploy(ctx, flags, nodename);
      if (deployment !== null) {
        const { app, label } = await getApp(true);
        app.overrideSettings(overrides);
        deployment.useLogging(app);
        await deployment.holding(() => runWorker(app, label, flags, nodename));
      }
      done(0);
    });

  /** Starts the worker, then waits for a signal or a remote shutdown and closes it. */
  async function runWorker(app: App, label: string, flags: WorkerFlags, nodename: string): Promise<void> {
    const queues = flags.queues?.split(',').map((q) => q.trim()).filter(Boolean);
    if (queues?.length === 0) throw new UsageError(`-Q/--queues must name at least one queue, got ${JSON.stringify(flags.queues)}`);
    const appSpec = program.opts<{ app?: string }>().app;
    const worker = new Worker(app, {
      queues,
      hostname: nodename,
      // The threads pool loads the app module in every thread.
      ...(appSpec === undefined ? {} : { appModule: resolveAppPath(appSpec, ctx.io.cwd), ...appAttrOf(parseAppSpec(appSpec, ctx.io.cwd).attr) }),
    });
    ctx.io.out(renderBanner(worker, label));
    // Adapters unref their timers (memory:// has no socket at all): hold the event loop open
    // until a signal stops the worker, or node exits with code 13 on the pending await.
    const keepAlive = setInterval(() => {}, 1 << 30);
    // Handlers first: a SIGTERM that comes while the worker starts (a supervisor's stop right
    // after its start) is a warm shutdown, not node's default death without cleanup.
    let stop!: (cold: boolean) => void;
    // Set at the second signal: the worker's own end (worker.stopped) may settle `stopped` first.
    let coldAsked = false;
    const stopped = new Promise<boolean>((resolve) => (stop = resolve));
    const uninstall = installShutdownSignals(
      worker,
      (isCold) => {
        uninstall();
        stop(isCold);
      },
      // The second signal: whatever the broker does, the process is gone within 2 s.
      () => {
        coldAsked = true;
        setTimeout(() => {
          worker.log.error('cold shutdown did not finish in time: exiting now');
          process.exit(1);
        }, COLD_EXIT_MS).unref();
      },
    );
    // A remote `shutdown` command closes the worker without a signal.
    void worker.stopped.then(() => {
      uninstall();
      stop(false);
    });
    let beat: Awaited<ReturnType<typeof startEmbeddedBeat>> | undefined;
    try {
      await worker.start();
      if (flags.beat === true && worker.state === 'running') beat = await startEmbeddedBeat(app);
    } catch (err) {
      uninstall();
      clearInterval(keepAlive);
      throw err;
    }
    const cold = (await stopped.finally(() => clearInterval(keepAlive))) || coldAsked;
    // Connections to a broker or backend that is down must not hold the exit either.
    await bounded(beat?.close(), cold ? 200 : CLOSE_APP_MS);
    await bounded(app.close(), cold ? 200 : CLOSE_APP_MS);
  }
}
