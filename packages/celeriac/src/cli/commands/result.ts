/**
 * @module cli/commands/result
 * `celeriac result <id>`: wait for a task's result and print it as JSON.
 */
import type { Command } from 'commander';
import type { App } from '../../core/app.js';
import { fullJsonText } from '../../protocol/repr.js';
import type { Json } from '../../protocol/types.js';
import { type CliContext, parseNumberOption } from '../io.js';
import { warnIfMemoryBackend } from './call.js';

/** Registers the command; `setCode` records a non-zero exit for a failed task. */
export function registerResult(program: Command, ctx: CliContext, getApp: (required: boolean) => Promise<{ app: App }>, setCode: (code: number) => void): void {
  program
    .command('result <id>')
    .description('Wait for a task result and print it as JSON (or its traceback).')
    .option('--traceback', 'print the stored traceback instead of the result')
    .option('--timeout <seconds>', 'give up after this many seconds (fractions allowed)')
    .action(async (id: string, flags: { traceback?: boolean; timeout?: string }) => {
      const timeoutSec = parseNumberOption('--timeout', flags.timeout);
      const { app } = await getApp(false);
      warnIfMemoryBackend(app, ctx);
      const result = app.asyncResult(id);
      if (flags.traceback) {
        ctx.io.out(`${(await result.traceback()) ?? ''}\n`);
        return;
      }
      const value = await result.get({ ...(timeoutSec === undefined ? {} : { timeoutMs: timeoutSec * 1000 }), propagate: false });
      if (value instanceof Error) {
        ctx.io.err(`${value.name}: ${value.message}\n`);
        setCode(1);
        return;
      }
      // Always JSON, also a bigint or a value thousands of levels deep (those printed as a Python repr).
      ctx.io.out(`${fullJsonText(value as Json)}\n`);
    });
}
