/**
 * @module cli/commands/shell
 * `celeriac shell`: a Node REPL with the app in scope as `app`, every task under its name
 * (`tasks['proj.add']`, and by its last dotted part when that is a free identifier, e.g.
 * `add`), and every export of celeriac (also as `celeriac`). Top-level `await` works.
 */
import { start, type REPLServer } from 'node:repl';
import type { Command } from 'commander';
import type { App } from '../../core/app.js';
import * as celeriac from '../../index.js';
import type { CliContext } from '../io.js';

/** Where the shell reads and writes. */
export interface ShellOptions {
  app: App;
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** Colours and line editing (a real terminal). */
  terminal: boolean;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** The names the shell puts in scope. */
export function shellScope(app: App): Record<string, unknown> {
  const scope: Record<string, unknown> = { ...celeriac, celeriac };
  const tasks: Record<string, unknown> = {};
  for (const [name, task] of app.tasks) tasks[name] = task;
  for (const [name, task] of app.tasks) {
    const short = name.split('.').at(-1) ?? name;
    if (IDENTIFIER.test(short) && !(short in scope)) scope[short] = task;
  }
  return { ...scope, app, tasks };
}

/** Starts the REPL; resolves when it exits (`.exit`, Ctrl-D, end of input). */
export function startShell(options: ShellOptions): Promise<void> {
  const server: REPLServer = start({ prompt: 'celeriac> ', input: options.input, output: options.output, terminal: options.terminal, useGlobal: false });
  Object.assign(server.context, shellScope(options.app));
  return new Promise((resolve) => server.once('exit', () => resolve()));
}

/** Registers the command. */
export function registerShell(program: Command, ctx: CliContext, getApp: (required: boolean) => Promise<{ app: App }>): void {
  program
    .command('shell')
    .description('Start a Node REPL with the app, its tasks and the celeriac exports in scope.')
    .action(async () => {
      const { app } = await getApp(false);
      const names = [...app.tasks.keys()].sort();
      ctx.io.out(`celeriac shell: app (${app.brokerUrl}), tasks: ${names.length === 0 ? '(none)' : names.join(', ')}\n`);
      await startShell({ app, input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY === true });
      if (ctx.app === undefined) await app.close();
    });
}
