/**
 * @module cli/events-watch
 * The run of `celeriac events` (commands/events.ts registers the command): receives the
 * cluster's events until stopped, printing the live view or one line per event. Apart from the
 * command so that every other `celeriac` process, a worker above all, loads neither the event
 * receiver, the cluster state nor the views (about 1 MB of resident memory).
 */
import type { Clock } from '../core/clock.js';
import type { Broker } from '../core/spi/broker.js';
import { ClusterState } from '../monitor/cluster-state.js';
import { EventReceiver } from '../monitor/event-receiver.js';
import { EventDumper } from './event-dump.js';
import { CLEAR_SCREEN, renderClusterView } from './events-view.js';

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
    // A signal while it subscribes (the broker down, its connection retrying) ends the run
    // now: it used to wait out the connection's 10 s and then exit 1 with the error.
    const started = receiver.start();
    started.catch(() => undefined);
    if ((await Promise.race([started.then(() => true), options.stop.then(() => false)])) === false) return;
    if (!options.dump) tick();
    await options.stop;
  } finally {
    if (timer !== undefined) clock.clearTimer(timer);
    clearInterval(keepAlive);
    await receiver.close();
  }
  if (!options.dump) draw();
}
