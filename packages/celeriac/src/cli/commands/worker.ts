/**
 * @module cli/commands/worker
 * `celeriac -A <module> worker`: start a worker, print the banner, run until signalled.
 */
import { type Command, Option } from 'commander';
import type { App } from '../../core/app.js';
import type { Settings } from '../../core/settings.js';
import { renderBanner } from '../../worker/banner.js';
import { installShutdownSignals, installStatusSignal, type ShutdownSignal } from '../../worker/signals.js';
import { expandNodeName } from '../../worker/nodename.js';
import { Worker } from '../../worker/worker.js';
import { addDeployFlags, deploy, type DeployFlags, type Deployment } from '../deploy-flags.js';
import { type CliContext, UsageError } from '../io.js';
import { parseAppSpec, resolveAppPath } from '../load-app.js';
import { addSettingFlags, settingsFromFlags } from '../setting-flags.js';
import { tuneWorkerHeap } from '../worker-heap.js';
import { beatFlagNotices, startEmbeddedBeat } from './beat.js';
import { purgeQueues, purgeReport } from './purge.js';

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
  excludeQueues?: string;
  hostname?: string;
  beat?: boolean;
  purge?: boolean;
  discard?: boolean;
  O?: string;
  withoutGossip?: boolean;
  withoutMingle?: boolean;
  withoutHeartbeat?: boolean;
  heartbeatInterval?: string;
  statedb?: string;
  include?: string;
  disablePrefetch?: boolean;
  scheduleFilename?: string;
  schedule?: string;
  scheduler?: string;
}

/** Celery's `-O` profiles. */
const OPTIMIZATIONS = ['default', 'fair'];

/**
 * What Celery's flags that Celeriac has no machinery for mean here: one line each, logged at
 * start, so a unit file copied from a Celery deployment runs and says what it changed.
 */
export function flagNotices(flags: WorkerFlags): string[] {
  const notices: string[] = [];
  if (flags.withoutGossip === true) notices.push('--without-gossip: nothing to turn off; Celeriac workers do not gossip (revokes persist in the result backend, so a worker that starts later still honours them)');
  if (flags.withoutMingle === true) notices.push('--without-mingle: nothing to turn off; Celeriac workers do not mingle at start (revokes persist in the result backend instead)');
  if (flags.withoutHeartbeat === true) notices.push('--without-heartbeat: heartbeats are kept (one worker-heartbeat event every 2 s); monitors, the dashboard and `celeriac status` count a worker without them as offline');
  if (flags.O === 'fair') notices.push('-O fair: already how Celeriac hands out tasks: a task goes only to a free pool slot, never queued behind a busy one');
  if (flags.heartbeatInterval !== undefined && Number(flags.heartbeatInterval) !== 2) notices.push(`--heartbeat-interval ${flags.heartbeatInterval}: heartbeats are sent every 2 s, as Celery's default; monitors count a worker silent for twice that as offline`);
  if (flags.statedb !== undefined) notices.push(`--statedb ${flags.statedb}: no state file is kept; revoked ids persist in the result backend, for every worker (docs/revoking.md)`);
  if (flags.disablePrefetch === true) notices.push('--disable-prefetch: the worker takes a message only when a pool slot is free (--prefetch-multiplier 1)');
  const beat = beatFlagNotices({ scheduler: flags.scheduler, schedule: flags.scheduleFilename ?? flags.schedule }, '--scheduler');
  notices.push(...beat);
  return notices;
}

/**
 * Celery's worker flags Celeriac cannot honour and must not ignore (a task module left
 * unimported would only show as unregistered tasks later): a UsageError naming what to do.
 * `--disable-prefetch` is `--prefetch-multiplier 1`, and refused beside another multiplier.
 */
export function checkCeleryFlags(flags: WorkerFlags, overrides: Settings): Settings {
  if (flags.include !== undefined) throw new UsageError(`-I/--include ${JSON.stringify(flags.include)}: Celeriac imports no task modules by name; import them from the module -A loads`);
  if (flags.disablePrefetch !== true) return overrides;
  const multiplier = overrides.workerPrefetchMultiplier;
  if (multiplier !== undefined && multiplier !== 1) throw new UsageError(`--disable-prefetch means --prefetch-multiplier 1, not ${multiplier}: give one of them`);
  return { ...overrides, workerPrefetchMultiplier: 1 };
}

/** The queues the worker consumes: `-Q` (or the default queue) without `-X`. */
export function workerQueues(app: App, flags: Pick<WorkerFlags, 'queues' | 'excludeQueues'>): string[] | undefined {
  const list = (text: string) => text.split(',').map((q) => q.trim()).filter(Boolean);
  const queues = flags.queues === undefined ? undefined : list(flags.queues);
  if (queues?.length === 0) throw new UsageError(`-Q/--queues must name at least one queue, got ${JSON.stringify(flags.queues)}`);
  if (flags.excludeQueues === undefined) return queues;
  const excluded = new Set(list(flags.excludeQueues));
  const kept = (queues ?? [app.settings.taskDefaultQueue]).filter((q) => !excluded.has(q));
  if (kept.length === 0) throw new UsageError(`-X/--exclude-queues ${JSON.stringify(flags.excludeQueues)} leaves no queue to consume`);
  return kept;
}

/** Registers the command. `getApp` loads `-A` and applies `-b`/`--result-backend`. */
export function registerWorker(program: Command, ctx: CliContext, getApp: (required: boolean) => Promise<{ app: App; label: string }>, done: (code: number) => void): void {
  const command = program
    .command('worker')
    .description('Start a worker that consumes queues and runs tasks.')
    .option('-Q, --queues <list>', 'comma-separated queues to consume (default: taskDefaultQueue)')
    .option('-n, --hostname <name>', 'node name; %h hostname, %n short name, %d domain (default: celery@%h)')
    .option('-X, --exclude-queues <list>', 'comma-separated queues not to consume (taken out of -Q or the default queue)')
    .option('-B, --beat', 'also run the periodic task scheduler in this process')
    .option('--purge', 'delete the waiting messages of the queues this worker consumes before it starts (no undo)')
    .option('--discard', 'the same as --purge')
    .option('-O <profile>', 'optimization profile, as Celery: fair or default (Celeriac always hands tasks only to free slots)')
    .option('--without-gossip', 'accepted for Celery unit files; Celeriac workers do not gossip')
    .option('--without-mingle', 'accepted for Celery unit files; Celeriac workers do not mingle')
    .option('--without-heartbeat', 'accepted for Celery unit files; heartbeats are kept (monitors need them)')
    .option('--heartbeat-interval <seconds>', 'accepted for Celery unit files; heartbeats are sent every 2 s')
    .option('-S, --statedb <file>', 'accepted for Celery unit files; revoked ids persist in the result backend, no state file')
    .option('-I, --include <modules>', 'refused: import task modules from the module -A loads')
    .option('--disable-prefetch', 'take a message only when a pool slot is free, as Celery 5.6 (the same as --prefetch-multiplier 1)')
    .option('-s, --schedule-filename <file>', 'with -B, accepted for Celery unit files: beat keeps no schedule file (its state is in the beat store)')
    .addOption(new Option('--schedule <file>', 'the same as --schedule-filename').hideHelp())
    .option('--scheduler <class>', 'with -B, accepted for Celery unit files: beat has one scheduler, its state in the beat store');
  addSettingFlags(addDeployFlags(command, 'worker'), 'worker')
    .action(async (flags: WorkerFlags & Record<string, unknown>) => {
      const overrides = checkCeleryFlags(flags, settingsFromFlags('worker', flags, (text) => ctx.io.err(text)));
      if (flags.O !== undefined && !OPTIMIZATIONS.includes(flags.O)) throw new UsageError(`-O must be one of ${OPTIMIZATIONS.join(', ')}, got ${JSON.stringify(flags.O)}`);
      const nodename = expandNodeName(flags.hostname);
      const deployment = deploy(ctx, flags, nodename);
      if (deployment !== null) {
        const { app, label } = await getApp(true);
        app.overrideSettings(overrides);
        deployment.useLogging(app);
        done(await runWorker(app, label, flags, nodename, deployment));
      } else {
        done(0);
      }
    });

  /**
   * Starts the worker, then waits for a signal or a remote shutdown and closes it, holding the
   * pidfile meanwhile. Returns the exit status: 0, or Celery's 1 after SIGQUIT, or 129 (a
   * process ended by SIGHUP) after SIGHUP, so a supervisor that restarted a worker killed by
   * it restarts this one too. A worker started with --detach has no supervisor: after SIGHUP
   * it starts again in the background itself, as Celery's restarts in place, and exits 0.
   */
  async function runWorker(app: App, label: string, flags: WorkerFlags, nodename: string, deployment: Deployment): Promise<number> {
    const queues = workerQueues(app, flags);
    const appSpec = program.opts<{ app?: string }>().app;
    // The CLI owns this process: a worker's heap policy (worker-heap.ts).
    (ctx.tuneHeap ?? tuneWorkerHeap)();
    const worker = new Worker(app, {
      queues,
      hostname: nodename,
      // The threads pool loads the app module in every thread.
      ...(appSpec === undefined ? {} : { appModule: resolveAppPath(appSpec, ctx.io.cwd), ...appAttrOf(parseAppSpec(appSpec, ctx.io.cwd).attr) }),
    });
    // Handlers first, before the pidfile: a SIGTERM from the moment the file exists (a
    // supervisor's stop right after its start, or during --purge) is a warm shutdown that
    // removes the file, not node's default death without cleanup.
    let stop!: (cold: boolean) => void;
    // Set at the signals: the worker's own end (worker.stopped) may settle `stopped` first.
    let coldAsked = false;
    let signalled: ShutdownSignal | undefined;
    // A SIGTERM, SIGINT or SIGQUIT after a SIGHUP asks for a stop, not a restart.
    let onlyHangups = true;
    const stopped = new Promise<boolean>((resolve) => (stop = resolve));
    // The handlers stay until holding() ends, past the worker's stop: a signal after it is only
    // recorded (a SIGTERM that follows a SIGHUP calls the restart off), never lost in between.
    const uninstallShutdown = installShutdownSignals(
      worker,
      (cold) => stop(cold),
      // The second signal: whatever the broker does, the process is gone within 2 s.
      () => {
        coldAsked = true;
        setTimeout(() => {
          worker.log.error('cold shutdown did not finish in time: exiting now');
          process.exit(1);
        }, COLD_EXIT_MS).unref();
      },
      {
        onSignal: (signal) => {
          signalled ??= signal;
          if (signal !== 'SIGHUP') onlyHangups = false;
        },
      },
    );
    // SIGUSR1 logs the tasks held, as Celery's worker dumps its threads (and node opens no inspector).
    const uninstallStatus = installStatusSignal(worker);
    const uninstall = (): void => {
      uninstallShutdown();
      uninstallStatus();
    };
    // A remote `shutdown` command closes the worker without a signal.
    void worker.stopped.then(() => stop(false));
    const code = await deployment.holding(uninstall, async () => {
      ctx.io.out(renderBanner(worker, label));
      for (const notice of flagNotices(flags)) worker.log.info(notice);
      if (flags.purge === true || flags.discard === true) await purgeWorkerQueues(worker, app);
      // A signal during --purge closed the worker before it started.
      if (worker.state === 'idle') await worker.start();
      const beat = flags.beat === true && worker.state === 'running' ? await startEmbeddedBeat(app) : undefined;
      const cold = (await stopped) || coldAsked;
      // Connections to a broker or backend that is down must not hold the exit either.
      await bounded(beat?.close(), cold ? 200 : CLOSE_APP_MS);
      await bounded(app.close(), cold ? 200 : CLOSE_APP_MS);
      // A signal already caught but not yet handed to its listener is handed over now, while the
      // listeners are still there: removed first, it would be dropped.
      if (signalled === 'SIGHUP' && onlyHangups) await pollOnce();
      return signalled === 'SIGQUIT' ? 1 : signalled === 'SIGHUP' ? 129 : 0;
    });
    // After holding(): the pidfile is free for the new process to take.
    const pid = signalled === 'SIGHUP' && onlyHangups ? deployment.restart() : null;
    if (pid === null) return code;
    worker.log.warn({ signal: 'SIGHUP', pid }, `restarted: a new worker runs in the background as pid ${pid}`);
    return 0;
  }
}

/** Resolves after the event loop has gone once through its I/O poll (where signals reach their listeners). */
function pollOnce(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

/** `--purge`: deletes the waiting messages of the worker's queues, saying how many, as Celery does. */
async function purgeWorkerQueues(worker: Worker, app: App): Promise<void> {
  const tally = await purgeQueues(app.broker, worker.options.queues);
  worker.log.warn({ purged: tally.ready + (tally.delayed ?? 0), delayed: tally.delayed, queues: worker.options.queues }, purgeReport(tally));
}
