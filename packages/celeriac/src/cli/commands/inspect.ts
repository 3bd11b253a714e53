/**
 * @module cli/commands/inspect
 * `celeriac inspect <command>`, `celeriac control <command>` and `celeriac status`: remote
 * control of running workers (Celeriac or Python), with Celery's flags (`-t` seconds,
 * `-d` destinations, `-j` JSON), output and exit codes (69 and "No nodes replied within
 * time constraint" when nobody answers).
 */
import { Argument, type Command } from 'commander';
import type { App } from '../../core/app.js';
import { ControlClient, type NodeReply } from '../../monitor/control-client.js';
import { flattenReplies } from '../../monitor/reply-collector.js';
import { pyJsonStringify } from '../../protocol/py-json.js';
import { type CliContext, UsageError } from '../io.js';
import { compileArguments, remoteCommands, type RemoteCommand } from '../remote-commands.js';
import { EXIT_NO_REPLY, NO_REPLY_MESSAGE, formatNodeCount, formatReply } from '../remote-output.js';

type GetApp = (required: boolean) => Promise<{ app: App }>;

/** Flags shared by the three commands. */
export interface RemoteFlags {
  timeout: string;
  destination?: string;
  json?: boolean;
}

/** Adds `-t`, `-d`, `-j` to a command. */
function remoteOptions(command: Command): Command {
  return command
    .option('-t, --timeout <seconds>', 'seconds to wait for the next reply', '1.0')
    .option('-d, --destination <nodes>', 'comma-separated node names to address (default: all)')
    .option('-j, --json', 'print the replies as JSON');
}

/** Parses the shared flags. */
export function parseRemoteFlags(flags: RemoteFlags): { timeoutMs: number; destination: string[] | null; json: boolean } {
  const seconds = Number(flags.timeout);
  if (flags.timeout.trim() === '' || !Number.isFinite(seconds) || seconds < 0) throw new UsageError(`-t/--timeout must be seconds >= 0, got ${JSON.stringify(flags.timeout)}`);
  const destination = flags.destination?.split(',').map((d) => d.trim()).filter(Boolean) ?? [];
  return { timeoutMs: seconds * 1000, destination: destination.length > 0 ? destination : null, json: flags.json === true };
}

function lookup(kind: RemoteCommand['kind'], name: string): RemoteCommand {
  const commands = remoteCommands(kind);
  const found = commands.get(name);
  if (found === undefined) throw new UsageError(`unknown ${kind} command ${JSON.stringify(name)}; one of: ${[...commands.keys()].join(', ')}`);
  return found;
}

/** Runs one broadcast for a command, printing replies as they arrive unless `json`. */
async function collect(ctx: CliContext, getApp: GetApp, method: string, args: Record<string, unknown>, flags: RemoteFlags, body: boolean): Promise<NodeReply[]> {
  const { timeoutMs, destination, json } = parseRemoteFlags(flags);
  const { app } = await getApp(false);
  warnIfMemoryBroker(app, ctx);
  const client = new ControlClient(app.broker, { clock: app.clock });
  try {
    return await client.broadcast(method, {
      arguments: args as never,
      destination,
      reply: true,
      timeoutMs,
      ...(json ? {} : { onReply: (reply: NodeReply) => ctx.io.out(formatReply(reply, body)) }),
    });
  } finally {
    await client.close();
    // An app handed in by the embedder (ctx.app) is theirs to close.
    if (ctx.app === undefined) await app.close();
  }
}

/** The memory broker lives inside one process: say so when a separate CLI process uses it. */
export function warnIfMemoryBroker(app: App, ctx: CliContext): void {
  if (ctx.app === undefined && app.settings.broker.startsWith('memory:')) {
    ctx.io.err('warning: the broker is memory://, which lives inside one process: no worker elsewhere can be reached. Pass -b <url>.\n');
  }
}

function noReply(ctx: CliContext, setCode: (code: number) => void): void {
  ctx.io.err(`${NO_REPLY_MESSAGE}\n`);
  setCode(EXIT_NO_REPLY);
}

function commandList(kind: RemoteCommand['kind']): string {
  return [...remoteCommands(kind).values()].map((c) => `  ${`${c.name} ${c.signature}`.trimEnd().padEnd(58)} ${c.help}`).join('\n');
}

/** Registers `inspect`, `control` and `status`. */
export function registerRemote(program: Command, ctx: CliContext, getApp: GetApp, setCode: (code: number) => void): void {
  for (const kind of ['inspect', 'control'] as const) {
    const command = program
      .command(kind)
      .description(kind === 'inspect' ? 'Ask running workers about their state (ping, stats, active...).' : 'Tell running workers to change something (rate_limit, revoke...).')
      .addArgument(new Argument('<command>', `the ${kind} command`))
      .addArgument(new Argument('[args...]', 'its arguments'))
      .addHelpText('after', `\nCommands:\n${commandList(kind)}\n`);
    remoteOptions(command).action(async (name: string, positional: string[], flags: RemoteFlags) => {
      const remote = lookup(kind, name);
      const args = compileArguments(remote, positional);
      const replies = await collect(ctx, getApp, remote.name, args, flags, true);
      if (replies.length === 0) return noReply(ctx, setCode);
      // Celery prints inspect replies merged by node, control replies as the list received.
      if (flags.json === true) ctx.io.out(`${pyJsonStringify(kind === 'inspect' ? flattenReplies(replies) : replies)}\n`);
      else if (kind === 'inspect') ctx.io.out(formatNodeCount(Object.keys(flattenReplies(replies)).length));
    });
  }
  const status = program.command('status').description('List the workers that answer a ping.');
  remoteOptions(status).action(async (flags: RemoteFlags) => {
    const replies = await collect(ctx, getApp, 'ping', {}, flags, false);
    if (replies.length === 0) return noReply(ctx, setCode);
    const merged = flattenReplies(replies);
    if (flags.json === true) ctx.io.out(`${pyJsonStringify(merged)}\n`);
    ctx.io.out(formatNodeCount(Object.keys(merged).length));
  });
}
