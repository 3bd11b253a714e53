/**
 * @module cli/commands/events
 * `celeriac events`: watch the cluster through its events. By default a live terminal view
 * of workers and tasks (refreshed every `-F` seconds); with `--dump`, one line per event in
 * the shape `celery events --dump` prints. Runs until SIGINT or SIGTERM.
 */
import type { Command } from 'commander';
import type { App } from '../../core/app.js';
import type { Clock } from '../../core/clock.js';
import type { Broker } from '../../core/spi/broker.js';
import { ClusterState } from '../../monitor/cluster-state.js';
import { EventReceiver } from '../../monitor/event-receiver.js';
import { EventDumper } from '../event-dump.js';
import { CLEAR_SCREEN, renderClusterView } from '../events-view.js';
import { type CliContext, parseNumberOption, untilSignalled } from '../io.js';
import { warnIfMemoryBroker } from './inspect.js';

/** What one `celeriac events` run needs; the command wires it to the process. */
export interface EventsRunOptions {
  broker: Broker;
  clock: Clock;
  out: (text: string) => void;
  /** One line per event instead of the live view. */
  dump: boolean;
  /** Live view redraw period in ms. */
  refreshMs: number;
  /** Tasks the live view keeps in memory. */
  maxTasks: number;
  /** Title line of the live view. */
  title: string;
  /** Terminal size and colour support, read at each redraw. */
  screen: () => { width: number; height: number; color: boolean };
  /** Resolves when the run should end. */
  stop: Promise<void>;
}

/** Receives events until `stop` resolves, printing them as asked. */
export async function runEvents(options: EventsRunOptions): Promise<void> {
  const { clock, out } = options;
  let draw: () => void = () => {};
  let listener: (event: Parameters<EventDumper['format']>[0], at: number) => void;
  if (options.dump) {
    const dumper = new EventDumper();
    out('-> evdump: starting capture...\n');
    listener = (event) => out(`${dumper.format(event)}\n`);
  } else {
    const state = new ClusterState({ maxTasks: options.maxTasks });
    listener = (event, at) => void state.apply(event, at);
    draw = () => out(CLEAR_SCREEN + renderClusterView(state, clock.now(), { ...options.screen(), title: options.title }));
  }
  const receiver = new EventReceiver(options.broker, listener, { clock });
  // Timers of the clock are unref'd: hold the process open until stopped.
  const keepAlive = setInterval(() => {}, 1 << 30);
  let timer: ReturnType<Clock['setTimer']> | undefined;
  const tick = () => {
    draw();
    timer = clock.setTimer(tick, options.refreshMs);
  };
  try {
    await receiver.start();
    if (!options.dump) tick();
    await options.stop;
  } finally {
    if (timer !== undefined) clock.clearTimer(timer);
    clearInterval(keepAlive);
    await receiver.close();
  }
  if (!options.dump) draw();
}

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
