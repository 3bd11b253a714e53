/**
 * @module cli/commands/migrate
 * `celeriac migrate <from> <to>`: move waiting task messages from one broker to another
 * (e.g. two Redis databases), queue by queue, as `celery migrate` does. Each message is
 * published to the same queue on the destination before it is acked on the source, so a
 * crash in between duplicates a message rather than losing it. Messages held for a future
 * ETA in Celeriac's delayed set are not moved until they are due.
 */
import type { Command } from 'commander';
import type { App } from '../../core/app.js';
import type { Broker, Delivery } from '../../core/spi/broker.js';
import { createApp } from '../../create-app.js';
import { CeleriacError, coerceError, ErrorCodes, type ErrorCode } from '../../errors.js';
import { decodeEnvelope } from '../../protocol/envelope.js';
import { type CliContext, parseNumberOption, untilSignalled, UsageError } from '../io.js';
import { appQueues } from './purge.js';

interface MigrateFlags {
  queues?: string;
  limit?: string;
  timeout: string;
  tasks?: string;
  forever?: boolean;
}

/**
 * Most messages fetched but not yet moved (held back by -T, refused by the destination, or
 * past --limit). With -F, a window full of them stops the run with an error.
 */
const SKIP_WINDOW = 500;

/** What one migration does. */
export interface MigrateOptions {
  source: Broker;
  destination: Broker;
  queues: readonly string[];
  /** Stop after moving this many. */
  limit?: number;
  /** Stop when no message came for this long (ms); ignored with `forever`. */
  idleMs: number;
  forever: boolean;
  /** Only move these task names (others stay on the source). */
  tasks?: ReadonlySet<string>;
  /** Called after each message moved. */
  onMoved(count: number, total: number, name: string, id: string): void;
  /** Resolves to stop early (signals). */
  stop?: Promise<void>;
}

/** Why a migration stopped, and whether the source may not have its last acks. */
interface Stopped {
  readonly what: string;
  readonly cause: unknown;
  /** The source's connection failed: acks of the last moves may not have reached it. */
  readonly sourceLost: boolean;
  /** The error's code: TRANSPORT unless said. */
  readonly code?: ErrorCode;
}

/** A message the destination refused (INVALID_ARGUMENT: a name or id RabbitMQ cannot carry). */
interface Refused {
  readonly task: string;
  readonly cause: unknown;
}

/**
 * A migration that stopped on a failure: how many messages moved before it, and how many of
 * those it held but did not move could not be given back to the source now.
 */
export class MigrateError extends CeleriacError {
  constructor(
    readonly moved: number,
    stopped: Stopped,
    /** Messages held back that could not be given back now: their broker returns them itself. */
    readonly notGivenBack: number,
  ) {
    const back = notGivenBack === 0
      ? 'Every message fetched but not moved is back on the source.'
      : `${notGivenBack} fetched but not moved could not be given back now; the source returns them to their queue itself (Redis: once their lease runs out, by a worker; RabbitMQ: when the connection closes).`;
    const again = stopped.sourceLost ? ' The last messages moved before the source\'s connection failed may come back to it, and be moved again.' : '';
    super(stopped.code ?? ErrorCodes.TRANSPORT, `migrate stopped after ${moved} ${moved === 1 ? 'message' : 'messages'}: ${stopped.what}: ${coerceError(stopped.cause).message}. ${back}${again}`, { cause: stopped.cause });
  }
}

/**
 * Moves messages; resolves with how many were moved. A broker whose connection is down, or
 * the first failure to publish to the destination or to ack on the source, stops the
 * migration: the messages held are given back and it rejects with a {@link MigrateError}.
 * A message the destination refuses as such (INVALID_ARGUMENT) stays on the source while the
 * rest move; it rejects at the end, with that code, naming it. With `forever`, once it holds
 * {@link SKIP_WINDOW} messages it does not move (refused, or not in `tasks`), it stops and
 * rejects with STATE: it would fetch nothing more.
 * (It tried every message held, up to 500, each waiting out the connection's timeout: hours
 * against a destination that went away, with nothing printed.) A Redis source's acks wait
 * for Redis to answer, as a worker's do.
 */
export async function migrateMessages(o: MigrateOptions): Promise<number> {
  const setup = (async () => {
    for (const q of o.queues) await o.destination.declareQueue(q);
    const lengths = await Promise.all(o.queues.map((q) => o.source.queueLength(q)));
    return lengths.reduce((a, b) => a + b, 0);
  })();
  // A signal while a broker connects (one that is down: 10 s and more) ends the run at once;
  // nothing was fetched yet, so nothing is given back. It used to wait for the connection.
  const total = await Promise.race([setup, ...(o.stop ? [o.stop.then(() => null)] : [])]);
  if (total === null) {
    setup.catch(() => undefined);
    return 0;
  }
  let moved = 0;
  let chain = Promise.resolve();
  let idle: ReturnType<typeof setTimeout> | undefined;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const arm = () => {
    if (idle !== undefined) clearTimeout(idle);
    if (!o.forever) idle = setTimeout(finish, o.idleMs);
  };
  // Messages not moved are held until the end, then given back in order: restoring them at
  // once would hand the same message straight back to this consumer.
  const skipped: Delivery[] = [];
  const refused: Refused[] = [];
  let filtered = 0;
  let failure: Stopped | undefined;
  const fail = (d: Delivery, what: string, cause: unknown, sourceLost: boolean) => {
    skipped.push(d);
    failure = { what, cause, sourceLost };
    finish();
  };
  // A message it will not move. With -F nothing else ends the run, and a window full of them
  // fetches nothing more: it used to wait there forever, moving nothing, saying nothing.
  const hold = (d: Delivery) => {
    skipped.push(d);
    if (!o.forever || skipped.length < SKIP_WINDOW || failure !== undefined) return;
    const first = refused[0] === undefined ? '' : ` (the first ${refused[0].task}: ${coerceError(refused[0].cause).message})`;
    const why = new Error(`${filtered} not in -T/--tasks, ${refused.length} refused by the destination${first}; it fetches no more while it holds them. Move those with another -T, or purge them`);
    failure = { what: `it holds ${skipped.length} messages it does not move`, cause: why, sourceLost: false, code: ErrorCodes.STATE };
    finish();
  };
  const handle = async (d: Delivery) => {
    if (failure !== undefined || (o.limit !== undefined && moved >= o.limit)) return void skipped.push(d);
    const { message, deliveryInfo } = decodeEnvelope(d.raw);
    const name = String(message.headers['task'] ?? '');
    if (o.tasks !== undefined && !o.tasks.has(name)) return void (filtered++, hold(d));
    const id = String(message.headers['id'] ?? '');
    // A lost connection stops it before the next move: RabbitMQ takes back what this consumer
    // held, and an ack sent meanwhile waits for a redelivery that may come after the exit.
    for (const [side, broker] of [['source', o.source], ['destination', o.destination]] as const) {
      if (broker.offline?.() === true) return fail(d, `${name}[${id}] was not moved`, new Error(`the ${side}'s connection is down`), side === 'source');
    }
    try {
      await o.destination.publish(message, { exchange: '', routingKey: d.queue, priority: deliveryInfo.priority ?? message.properties.priority });
    } catch (error) {
      // This message cannot go there (the destination said why before sending): it stays on
      // the source, and the others still move. Before, one such message stopped the migration.
      if (error instanceof CeleriacError && error.code === ErrorCodes.INVALID_ARGUMENT) return void (refused.push({ task: `${name}[${id}]`, cause: error }), hold(d));
      return fail(d, `publishing ${name}[${id}] to the destination failed`, error, false);
    }
    try {
      await d.ack();
    } catch (error) {
      // On the destination already: given back, it is moved twice.
      return fail(d, `${name}[${id}] was published to the destination but its ack on the source failed (it may be moved twice)`, error, true);
    }
    moved++;
    o.onMoved(moved, total, name, id);
    if (o.limit !== undefined && moved >= o.limit) finish();
  };
  const consumer = o.source.consume({
    queues: o.queues,
    prefetch: SKIP_WINDOW,
    onDelivery: (d) => {
      arm();
      // One at a time, in order; an unreadable message is left where it was.
      chain = chain.then(() => handle(d)).catch(() => void skipped.push(d));
    },
  });
  arm();
  await Promise.race([done, ...(o.stop ? [o.stop] : [])]);
  if (idle !== undefined) clearTimeout(idle);
  await consumer.close();
  await chain;
  // Given back one by one; after a failure the rest go back with the source's close, or by lease.
  let notGivenBack = 0;
  for (const d of skipped.reverse()) {
    if (notGivenBack === 0) {
      try {
        await d.restore();
        continue;
      } catch (error) {
        failure ??= { what: 'giving a message held back to the source failed', cause: error, sourceLost: true };
      }
    }
    notGivenBack++;
  }
  if (failure === undefined && refused.length > 0) {
    const first = refused[0] as Refused;
    const which = refused.length === 1 ? first.task : `${refused.length} messages (the first ${first.task})`;
    failure = { what: `the destination cannot take ${which}, left on the source`, cause: first.cause, sourceLost: false, code: ErrorCodes.INVALID_ARGUMENT };
  }
  if (failure !== undefined) throw new MigrateError(moved, failure, notGivenBack);
  return moved;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Default ports of the schemes a broker URL may have. */
const DEFAULT_PORTS: Record<string, string> = { 'redis:': '6379', 'rediss:': '6379', 'amqp:': '5672', 'amqps:': '5671' };

/**
 * Where a broker URL points, as a comparable text: scheme, host (localhost as 127.0.0.1),
 * port, database or vhost, and Redis's key prefix; the URL as given when it does not parse.
 */
function brokerPlace(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  const host = u.hostname === 'localhost' || u.hostname === '[::1]' ? '127.0.0.1' : u.hostname;
  const port = u.port === '' ? DEFAULT_PORTS[u.protocol] ?? '' : u.port;
  const redis = u.protocol.startsWith('redis');
  // Redis: the database (0 when none); AMQP: the vhost (`//` and `/` both mean `/`, as in kombu).
  const path = redis ? (u.pathname === '' || u.pathname === '/' ? '/0' : u.pathname) : safeDecode(u.pathname.slice(1)) || '/';
  return `${u.protocol}//${host}:${port}${path}?${u.searchParams.get('global_keyprefix') ?? ''}`;
}

/** Registers the command. */
export function registerMigrate(program: Command, ctx: CliContext, getApp: (required: boolean) => Promise<{ app: App }>): void {
  program
    .command('migrate <source> <destination>')
    .description('Move waiting task messages from one broker URL to another.')
    .option('-Q, --queues <list>', 'comma-separated queues to move (default: the app\'s task queues)')
    .option('-n, --limit <n>', 'move at most this many messages')
    .option('-t, --timeout <seconds>', 'stop when no message came for this long', '1.0')
    .option('-T, --tasks <list>', 'comma-separated task names to move (default: all)')
    .option('-F, --forever', 'keep moving messages until interrupted')
    .action(async (source: string, destination: string, flags: MigrateFlags) => {
      const limit = parseNumberOption('-n/--limit', flags.limit, { integer: true, min: 1 });
      const idleSec = parseNumberOption('-t/--timeout', flags.timeout) as number;
      // Moved onto the queue it is read from, each message would be read again, for ever.
      if (brokerPlace(source) === brokerPlace(destination)) throw new UsageError(`source and destination are the same broker (${source}): messages would be moved onto the queues they are read from, for ever`);
      const { app } = await getApp(false);
      const queues = flags.queues?.split(',').map((q) => q.trim()).filter(Boolean) ?? appQueues(app);
      const tasks = flags.tasks?.split(',').map((t) => t.trim()).filter(Boolean);
      const from = createApp({ broker: source, logLevel: 'silent' }, { env: {} });
      const to = createApp({ broker: destination, logLevel: 'silent' }, { env: {} });
      try {
        const moved = await migrateMessages({
          source: from.broker, destination: to.broker, queues, idleMs: idleSec * 1000, forever: flags.forever === true,
          ...(limit !== undefined ? { limit } : {}),
          ...(tasks !== undefined && tasks.length > 0 ? { tasks: new Set(tasks) } : {}),
          onMoved: (n, total, name, id) => ctx.io.out(`Migrating task ${n}/${total || '?'}: ${name}[${id}]\n`),
          // Ctrl-C stops it with the messages held given back (a second one ends the process).
          stop: untilSignalled(),
        });
        ctx.io.out(`Migrated ${moved} ${moved === 1 ? 'message' : 'messages'}.\n`);
      } finally {
        await Promise.all([from.close(), to.close()]);
      }
    });
}
