/**
 * @module cli/commands/shell
 * `celeriac shell`: a Node REPL with the app in scope as `app`, every task under its name
 * (`tasks['proj.add']`, and by its last dotted part when that is a free identifier, e.g.
 * `add`), and every export of celeriac (also as `celeriac`). Top-level `await` works. Input
 * that is not a terminal (`echo 'await add.delay(1, 2)' | celeriac shell`, a here-document) is
 * run as one async script with the same names in scope, to its end, before the app closes: the
 * REPL would read every line at once and close the app under a pending `await`.
 */
import type { REPLServer } from 'node:repl';
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

/**
 * Starts the REPL; resolves when it exits (`.exit`, Ctrl-D, end of input). node:repl (with
 * readline, vm and their kin: about 1 MB of resident memory) is loaded here, not by every
 * `celeriac` process that registers the command, a worker above all.
 */
export async function startShell(options: ShellOptions): Promise<void> {
  const { start } = await import('node:repl');
  const server: REPLServer = start({ prompt: 'celeriac> ', input: options.input, output: options.output, terminal: options.terminal, useGlobal: false });
  Object.assign(server.context, shellScope(options.app));
  await new Promise<void>((resolve) => server.once('exit', () => resolve()));
}

/** An async function made from source text (`new AsyncFunction(...params, body)`). */
type AsyncFunctionConstructor = new (...args: string[]) => (...values: unknown[]) => Promise<unknown>;

/** Runs `source` as the body of one async function with the shell's names as its parameters. */
export async function runShellScript(app: App, source: string): Promise<void> {
  const scope = shellScope(app);
  const names = Object.keys(scope).filter((name) => IDENTIFIER.test(name));
  const AsyncFunction = (async () => {}).constructor as AsyncFunctionConstructor;
  await new AsyncFunction(...names, source)(...names.map((name) => scope[name]));
}

async function readAll(input: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  input.setEncoding('utf8');
  for await (const chunk of input) text += chunk as string;
  return text;
}

/** Registers the command. */
export function registerShell(program: Command, ctx: CliContext, getApp: (required: boolean) => Promise<{ app: App }>): void {
  program
    .command('shell')
    .description('Start a Node REPL with the app, its tasks and the celeriac exports in scope.')
    .action(async () => {
      const { app } = await getApp(false);
      try {
        if (process.stdin.isTTY !== true) {
          await runShellScript(app, await readAll(process.stdin));
          return;
        }
        const names = [...app.tasks.keys()].sort();
        ctx.io.out(`celeriac shell: app (${app.brokerUrl}), tasks: ${names.length === 0 ? '(none)' : names.join(', ')}\n`);
        await startShell({ app, input: process.stdin, output: process.stdout, terminal: true });
      } finally {
        if (ctx.app === undefined) await app.close();
      }
    });
}
