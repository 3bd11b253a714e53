/**
 * @module cli/commands/graph
 * `celeriac graph <workflow>`: print a workflow (a signature, chain, group or chord) as a
 * Graphviz DOT graph. The workflow is Celery's signature dict as JSON (inline, or `@file`),
 * or `<module>#<export>`: a module export holding a signature built with chain/group/chord.
 * Celery's own `celery graph` draws bootsteps and workers; drawing a workflow is what a
 * canvas user asks for, so that is what this twin does.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { isSignatureDict } from '../../canvas/dicts.js';
import { isTypeScriptModule } from '../../core/typescript-modules.js';
import { workflowToDot } from '../../canvas/graph.js';
import type { SignatureDict } from '../../protocol/types.js';
import { resolveAppPath } from '../load-app.js';
import { type CliContext, UsageError } from '../io.js';

/**
 * The DOT text of `dict`. A workflow nested past what the call stack holds (about a thousand
 * chains in chains; a TypeScript canvas stops at 64, a hand-written or generated dict need
 * not) is a usage error, not a RangeError stack.
 */
function drawn(dict: SignatureDict, name: string): string {
  try {
    return workflowToDot(dict, name);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    throw new UsageError(`the workflow is nested too deep to draw (${err.message}); a chain's steps go side by side, not a chain in a chain in a chain`);
  }
}

function parseDict(text: string, where: string): SignatureDict {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${where} is not JSON: ${(err as Error).message}`);
  }
  if (!isSignatureDict(value)) throw new UsageError(`${where} is not a signature dict ({"task": ..., "args": [...], ...})`);
  return value;
}

async function fromModule(spec: string, cwd: string, beforeTypeScript?: () => Promise<void>): Promise<SignatureDict> {
  const hash = spec.lastIndexOf('#');
  const [path, name] = [spec.slice(0, hash), spec.slice(hash + 1)];
  if (path === '' || name === '') throw new UsageError(`expected <module>#<export>, got ${JSON.stringify(spec)}`);
  const file = resolveAppPath(path, cwd);
  if (isTypeScriptModule(file)) await beforeTypeScript?.();
  const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  const value = mod[name];
  const dict = typeof (value as { toDict?: unknown } | undefined)?.toDict === 'function' ? (value as { toDict(): unknown }).toDict() : value;
  if (!isSignatureDict(dict)) throw new UsageError(`export ${JSON.stringify(name)} of ${path} is not a signature (exports: ${Object.keys(mod).join(', ')})`);
  return dict;
}

/** Reads the workflow named on the command line. */
export async function readWorkflow(source: string, cwd: string, beforeTypeScript?: () => Promise<void>): Promise<SignatureDict> {
  const text = source.trim();
  if (text.startsWith('{')) return parseDict(text, 'the workflow argument');
  if (text.startsWith('@')) {
    const file = text.slice(1);
    let content: string;
    try {
      content = readFileSync(resolveAppPath(file, cwd), 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
    }
    return parseDict(content, file);
  }
  if (text.includes('#')) return fromModule(text, cwd, beforeTypeScript);
  throw new UsageError('give the workflow as a JSON signature dict, @file.json, or <module>#<export>');
}

/** Registers the command. */
export function registerGraph(program: Command, ctx: CliContext): void {
  program
    .command('graph <workflow>')
    .description('Print a workflow as a Graphviz DOT graph: a JSON signature dict, @file.json, or <module>#<export>.')
    .option('--name <name>', 'graph name', 'workflow')
    .action(async (workflow: string, flags: { name: string }) => {
      const dict = await readWorkflow(workflow, ctx.io.cwd, ctx.beforeTypeScript);
      ctx.io.out(drawn(dict, flags.name));
    });
}
