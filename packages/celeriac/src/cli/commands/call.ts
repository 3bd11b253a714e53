/**
 * @module cli/commands/call
 * `celeriac call <name>`: send a task by name and print its id.
 */
import type { Command } from 'commander';
import type { App } from '../../core/app.js';
import type { ApplyOptions } from '../../core/call-options.js';
import { parseIsoTime } from '../../protocol/time.js';
import type { Json, JsonObject } from '../../protocol/types.js';
import { type CliContext, UsageError, parseJsonOption, parseNumberOption } from '../io.js';
import { warnIfMemoryBroker } from './inspect.js';

interface CallFlags {
  args?: string;
  kwargs?: string;
  queue?: string;
  routingKey?: string;
  exchange?: string;
  countdown?: string;
  eta?: string;
  expires?: string;
  priority?: string;
}

/** True for the ISO-8601 forms the producer accepts (Date.parse would also take "5" or "-5"). */
function isIsoTime(text: string): boolean {
  try {
    parseIsoTime(text);
    return true;
  } catch {
    return false;
  }
}

/** Builds call options from flags. */
export function callOptions(flags: CallFlags): ApplyOptions {
  const options: ApplyOptions = {};
  if (flags.queue !== undefined) options.queue = flags.queue;
  if (flags.routingKey !== undefined) options.routingKey = flags.routingKey;
  if (flags.exchange !== undefined) options.exchange = flags.exchange;
  const countdown = parseNumberOption('--countdown', flags.countdown);
  if (countdown !== undefined) options.countdown = countdown;
  if (countdown !== undefined && flags.eta !== undefined) throw new UsageError('give either --countdown or --eta, not both');
  if (flags.eta !== undefined) {
    if (!isIsoTime(flags.eta)) throw new UsageError(`--eta must be an ISO-8601 time, got ${JSON.stringify(flags.eta)}`);
    options.eta = flags.eta;
  }
  if (flags.expires !== undefined) {
    const seconds = flags.expires.trim() === '' ? Number.NaN : Number(flags.expires);
    if (Number.isFinite(seconds) && seconds >= 0) options.expires = seconds;
    else if (isIsoTime(flags.expires)) options.expires = flags.expires;
    else throw new UsageError(`--expires must be seconds or an ISO-8601 time, got ${JSON.stringify(flags.expires)}`);
  }
  const priority = parseNumberOption('--priority', flags.priority, { integer: true });
  if (priority !== undefined) {
    if (priority > 9) throw new UsageError('--priority must be from 0 to 9');
    options.priority = priority;
  }
  return options;
}

/** Registers the command. */
export function registerCall(program: Command, ctx: CliContext, getApp: (required: boolean) => Promise<{ app: App }>): void {
  program
    .command('call <name>')
    .description('Send a task by name (it need not be registered here) and print its id.')
    .option('-a, --args <json>', 'positional arguments as a JSON array', '[]')
    .option('-k, --kwargs <json>', 'keyword arguments as a JSON object', '{}')
    .option('--queue <queue>', 'queue to send to')
    .option('--routing-key <key>', 'routing key')
    .option('--exchange <name>', 'exchange')
    .option('--countdown <seconds>', 'run no earlier than this many seconds from now')
    .option('--eta <iso>', 'run no earlier than this time')
    .option('--expires <seconds|iso>', 'do not run after this')
    .option('--priority <0-9>', 'message priority')
    .action(async (name: string, flags: CallFlags) => {
      const args = parseJsonOption<Json[]>('--args', flags.args, 'array', []);
      const kwargs = parseJsonOption<JsonObject>('--kwargs', flags.kwargs, 'object', {});
      const options = callOptions(flags);
      const { app } = await getApp(false);
      // Only the broker matters: the id is printed, the result is not waited for.
      warnIfMemoryBroker(app, ctx);
      const result = await app.sendTask(name, args, kwargs, options);
      ctx.io.out(`${result.id}\n`);
    });
}

/** The memory backend lives inside one process: say so when a separate CLI process reads it. */
export function warnIfMemoryBackend(app: App, ctx: CliContext): void {
  if (ctx.app === undefined && app.settings.backend.startsWith('memory:')) {
    ctx.io.err('warning: the result backend is memory://, which lives inside one process: results stored elsewhere cannot be read. Pass --result-backend <url>.\n');
  }
}
