/**
 * @module cli/remote-commands
 * The remote-control commands `celeriac inspect` and `celeriac control` know, with their
 * positional arguments, as Celery 5.2.6 defines them (docs/protocol.md §5.4): the same
 * names, argument order and types, so `celeriac control rate_limit tasks.add 10/m` sends
 * what `celery control rate_limit tasks.add 10/m` sends.
 */
import type { Json, JsonObject } from '../protocol/types.js';
import { UsageError } from './io.js';

/** How a positional argument is converted before it is sent. */
export type ArgType = 'str' | 'int' | 'float' | 'bool';

/** One remote-control command. */
export interface RemoteCommand {
  readonly name: string;
  /** `inspect` commands read state; `control` commands change it. */
  readonly kind: 'inspect' | 'control';
  /** Positional arguments, in order: keyword name and type. */
  readonly args: readonly (readonly [string, ArgType])[];
  /** Keyword that receives the remaining positional arguments as a list, if any. */
  readonly variadic?: string;
  /** Usage of the arguments, for help and errors. */
  readonly signature: string;
  readonly help: string;
}

const cmd = (kind: RemoteCommand['kind'], name: string, help: string, signature = '', args: RemoteCommand['args'] = [], variadic?: string): RemoteCommand =>
  Object.freeze({ name, kind, args, signature, help, ...(variadic !== undefined ? { variadic } : {}) });

/** Every command, inspect first, each group in alphabetical order. */
export const REMOTE_COMMANDS: readonly RemoteCommand[] = Object.freeze([
  cmd('inspect', 'active', 'Tasks running now.'),
  cmd('inspect', 'active_queues', 'Queues each worker consumes.'),
  cmd('inspect', 'clock', "The worker's logical (Lamport) clock."),
  cmd('inspect', 'conf', 'Worker configuration (non-default settings unless asked).', '[include_defaults=False]', [['with_defaults', 'bool']]),
  cmd('inspect', 'memdump', 'Memory samples taken by memsample (Python workers; a Celeriac worker answers an error).', '[n_samples=10]', [['samples', 'int']]),
  cmd('inspect', 'memsample', 'Take a sample of the resident memory size (Python workers only).'),
  cmd('inspect', 'objgraph', 'Graph of uncollected objects (Python workers only).', '[object_type=Request] [num=200 [max_depth=10]]', [['type', 'str'], ['num', 'int'], ['max_depth', 'int']]),
  cmd('inspect', 'ping', 'Ask workers to answer pong.'),
  cmd('inspect', 'query_task', 'What workers know of these task ids.', '[id1 [id2 [... [idN]]]]', [], 'ids'),
  cmd('inspect', 'registered', 'Tasks each worker can run (optionally with these attributes).', '[attr1 [attr2 [... [attrN]]]]', [], 'taskinfoitems'),
  cmd('inspect', 'report', 'Software versions and settings, for bug reports.'),
  cmd('inspect', 'reserved', 'Tasks prefetched and waiting to run (not active, not scheduled).'),
  cmd('inspect', 'revoked', 'Task ids the worker remembers as revoked.'),
  cmd('inspect', 'scheduled', 'Tasks held for a future ETA or countdown.'),
  cmd('inspect', 'stats', 'Worker statistics: pool, broker, totals, clock.'),
  cmd('control', 'add_consumer', 'Start consuming a queue.', '<queue> [exchange [type [routing_key]]]', [['queue', 'str'], ['exchange', 'str'], ['exchange_type', 'str'], ['routing_key', 'str']]),
  cmd('control', 'autoscale', 'Change the autoscale bounds.', '[max [min]]', [['max', 'int'], ['min', 'int']]),
  cmd('control', 'cancel_consumer', 'Stop consuming a queue.', '<queue>', [['queue', 'str']]),
  cmd('control', 'disable_events', 'Stop sending task events.'),
  cmd('control', 'election', 'Hold an election (internal; Python workers only).'),
  cmd('control', 'enable_events', 'Start sending task events.'),
  cmd('control', 'heartbeat', 'Send a heartbeat event now.'),
  cmd('control', 'pool_grow', 'Add n slots to the pool.', '[N=1]', [['n', 'int']]),
  cmd('control', 'pool_restart', 'Restart the execution pool (Python workers only).'),
  cmd('control', 'pool_shrink', 'Remove n slots from the pool.', '[N=1]', [['n', 'int']]),
  cmd('control', 'rate_limit', 'Set the rate limit of a task type.', '<task_name> <rate_limit (e.g., 5/s | 5/m | 5/h)>', [['task_name', 'str'], ['rate_limit', 'str']]),
  cmd('control', 'revoke', 'Revoke tasks by id.', '[id1 [id2 [... [idN]]]]', [], 'task_id'),
  cmd('control', 'shutdown', 'Shut the worker down (it does not reply).'),
  cmd('control', 'terminate', 'Revoke tasks by id and signal the running ones.', '<signal> [id1 [id2 [... [idN]]]]', [['signal', 'str']], 'task_id'),
  cmd('control', 'time_limit', 'Set the time limits of a task type.', '<task_name> <soft_secs> [hard_secs]', [['task_name', 'str'], ['soft', 'float'], ['hard', 'float']]),
]);

/** The commands of one kind, by name. */
export function remoteCommands(kind: RemoteCommand['kind']): ReadonlyMap<string, RemoteCommand> {
  return new Map(REMOTE_COMMANDS.filter((c) => c.kind === kind).map((c) => [c.name, c]));
}

// Python's strtobool, which Celery uses for `conf`'s argument.
const TRUE = new Set(['y', 'yes', 't', 'true', 'on', '1']);
const FALSE = new Set(['n', 'no', 'f', 'false', 'off', '0']);

function convert(command: RemoteCommand, name: string, type: ArgType, text: string): Json {
  const fail = (what: string) => new UsageError(`${command.name}: argument ${name} must be ${what}, got ${JSON.stringify(text)}`);
  switch (type) {
    case 'str':
      return text;
    case 'int': {
      if (!/^[+-]?\d+$/.test(text.trim())) throw fail('an integer');
      return Number.parseInt(text, 10);
    }
    case 'float': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n)) throw fail('a number');
      return n;
    }
    case 'bool': {
      const t = text.toLowerCase();
      if (TRUE.has(t)) return true;
      if (FALSE.has(t)) return false;
      throw fail('a boolean (yes/no, true/false, on/off, 1/0)');
    }
  }
}

/**
 * Turns positional command-line arguments into the command's keyword arguments, as Celery's
 * CLI does: in order, converted to each argument's type; extra ones go to the variadic
 * keyword (always sent, as a list, for commands that have one), or are a usage error.
 */
export function compileArguments(command: RemoteCommand, positional: readonly string[]): JsonObject {
  const out: JsonObject = {};
  let i = 0;
  for (; i < positional.length && i < command.args.length; i++) {
    const [name, type] = command.args[i] as readonly [string, ArgType];
    out[name] = convert(command, name, type, positional[i] as string);
  }
  const rest = positional.slice(i);
  if (command.variadic !== undefined) out[command.variadic] = rest;
  else if (rest.length > 0) throw new UsageError(`Command ${JSON.stringify(command.name)} takes arguments: ${command.signature || '(none)'}`);
  return out;
}
