/**
 * @module cli/commands/multi
 * `celeriac multi start|stop|stopwait|restart|kill <nodes...> [worker options]`, as Celery's
 * `celery multi`: each node is a detached `celeriac worker` named `<node>@%h`, found again by
 * its pidfile (`--pidfile`, default `%n.pid`) and logging to `--logfile` (default `%n%I.log`).
 * `3` names three nodes, `celery1` to `celery3`. An option may be for some nodes only, as in
 * Celery: `-c:w1 3`, `--logfile:w2=/var/log/w2.log`, `-Q:1-2 images` (by name, by position or
 * a range of positions, several joined by commas). Give `stop` the same options as `start`:
 * the pidfiles are how it finds the workers.
 */
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { waitFor } from '../../testing/wait-for.js';
import { makeDirs } from '../../core/make-dirs.js';
import { expandNodeName } from '../../worker/nodename.js';
import { type CliContext, type GlobalOptions, UsageError } from '../io.js';
import { expandPathTemplate } from '../path-template.js';
import { processAlive, readPidfile } from '../pidfile.js';

const ACTIONS = ['start', 'stop', 'stopwait', 'restart', 'kill'] as const;
type Action = (typeof ACTIONS)[number];

/** Options that belong before `worker` (the program's), with their short forms. */
const GLOBAL_FLAGS: Readonly<Record<string, string>> = { '-A': '--app', '--app': '--app', '-b': '--broker', '--broker': '--broker', '--result-backend': '--result-backend' };

/** How long `start` waits for a node's pidfile, and `stop` for a node to exit. */
const START_WAIT_MS = 30_000;
const STOP_WAIT_MS = 120_000;

/** One node of the command line. */
interface Node {
  readonly name: string;
  readonly pidfile: string;
  /** `--pidfile` as given (the worker expands it again). */
  readonly pidfileTemplate: string;
  readonly logfile: string;
  readonly worker: readonly string[];
}

/** An option for some nodes only (`-c:w1 3`). */
interface NodeOption {
  /** Node names, 1-based positions or ranges of positions (`w1`, `2`, `1-3`). */
  readonly selectors: readonly string[];
  readonly flag: string;
  readonly value: string | undefined;
}

/** The command line split: node names, the program's options, the worker's options, the file templates. */
interface Plan {
  readonly names: string[];
  readonly globals: string[];
  readonly worker: string[];
  readonly pidfile: string;
  readonly logfile: string;
  readonly perNode: NodeOption[];
}

/** Whether `selector` picks the node `name` at 1-based `position`. */
function selects(selector: string, name: string, position: number): boolean {
  const range = /^(\d+)-(\d+)$/.exec(selector);
  if (range !== null) return position >= Number(range[1]) && position <= Number(range[2]);
  if (/^\d+$/.test(selector)) return position === Number(selector);
  return selector === name || selector === name.split('@')[0];
}

/** The node-specific options of node `name` at 1-based `position`: pidfile, logfile and worker arguments. */
export function nodeOptions(plan: Plan, name: string, position: number): { pidfile: string; logfile: string; worker: string[] } {
  const out = { pidfile: plan.pidfile, logfile: plan.logfile, worker: [...plan.worker] };
  for (const option of plan.perNode) {
    if (!option.selectors.some((sel) => selects(sel, name, position))) continue;
    if (option.flag === '--pidfile' && option.value !== undefined) out.pidfile = option.value;
    else if ((option.flag === '-f' || option.flag === '--logfile') && option.value !== undefined) out.logfile = option.value;
    else out.worker.push(option.flag, ...(option.value === undefined ? [] : [option.value]));
  }
  return out;
}

/** The most nodes one `multi` command starts or addresses by count. */
const MAX_NODES = 1024;

/** Splits `args` (after the action) as Celery's multi reads them. */
export function planMulti(args: readonly string[], globals: GlobalOptions): Plan {
  const names: string[] = [];
  let i = 0;
  for (; i < args.length && !args[i]!.startsWith('-'); i += 1) names.push(args[i]!);
  if (names.length === 1 && /^\d+$/.test(names[0]!)) {
    const count = Number(names[0]);
    // `multi start 99999999` made that many names, then plans, and grew to 3 GB without a word.
    if (count > MAX_NODES) throw new UsageError(`multi: ${names[0]} nodes is more than ${MAX_NODES}; start them from several hosts or in batches`);
    names.splice(0, 1, ...Array.from({ length: count }, (_v, k) => `celery${k + 1}`));
  }
  if (names.length === 0) throw new UsageError('multi: name at least one node (`multi start w1 w2`, or a count: `multi start 3`)');
  const plan = { names, globals: [] as string[], worker: [] as string[], pidfile: '%n.pid', logfile: '%n%I.log', perNode: [] as NodeOption[] };
  if (globals.app !== undefined) plan.globals.push('--app', globals.app);
  if (globals.broker !== undefined) plan.globals.push('--broker', globals.broker);
  if (globals.resultBackend !== undefined) plan.globals.push('--result-backend', globals.resultBackend);
  for (; i < args.length; i += 1) {
    const arg = args[i]!;
    const perNode = /^(--?[\w-]+):([^=\s]+)(?:=(.*))?$/s.exec(arg);
    if (perNode !== null) {
      // `-c:w1 3`: the next word is the value unless it is an option (a flag that takes none).
      const next = args[i + 1];
      const value = perNode[3] ?? (next !== undefined && !next.startsWith('-') ? (i += 1, next) : undefined);
      if (['-n', '--hostname', '-D', '--detach'].includes(perNode[1]!)) throw new UsageError(`multi: ${perNode[1]} is set by multi for each node`);
      plan.perNode.push({ selectors: perNode[2]!.split(','), flag: perNode[1]!, value });
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = flag === arg ? undefined : arg.slice(eq + 1);
    const value = () => {
      if (inline !== undefined) return inline;
      const next = args[i + 1];
      if (next === undefined) throw new UsageError(`multi: ${flag} needs a value`);
      i += 1;
      return next;
    };
    if (GLOBAL_FLAGS[flag] !== undefined) plan.globals.push(GLOBAL_FLAGS[flag], value());
    else if (flag === '--pidfile') plan.pidfile = value();
    else if (flag === '-f' || flag === '--logfile') plan.logfile = value();
    else if (flag === '-n' || flag === '--hostname' || flag === '-D' || flag === '--detach') throw new UsageError(`multi: ${flag} is set by multi for each node`);
    else plan.worker.push(arg);
  }
  return plan;
}

/** The node name of `name` (`w1` -> `w1@host`), its pidfile, logfile and worker arguments. */
function nodeOf(name: string, position: number, plan: Plan, cwd: string): Node {
  const full = expandNodeName(name.includes('@') ? name : `${name}@%h`);
  const options = nodeOptions(plan, full, position);
  return { name: full, pidfile: resolve(cwd, expandPathTemplate(options.pidfile, full)), pidfileTemplate: options.pidfile, logfile: options.logfile, worker: options.worker };
}

/** The live pid in a node's pidfile, or null. */
function livePid(node: Node): number | null {
  const pid = readPidfile(node.pidfile);
  return pid !== null && processAlive(pid) ? pid : null;
}

/** Registers the command. */
export function registerMulti(program: Command, ctx: CliContext, setCode: (code: number) => void): void {
  program
    .command('multi')
    .description('Start, stop or restart several detached workers (as celery multi): multi start w1 w2 -l info')
    .argument('<action>', ACTIONS.join(', '))
    .argument('[args...]', 'node names (or a count), then worker options')
    .allowUnknownOption()
    .action(async (action: string, args: string[]) => {
      if (!(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`multi: unknown action ${JSON.stringify(action)}; use ${ACTIONS.join(', ')}`);
      const plan = planMulti(args, program.opts<GlobalOptions>());
      const nodes = plan.names.map((n, k) => nodeOf(n, k + 1, plan, ctx.io.cwd));
      ctx.io.out(`celeriac multi (${hostname()})\n`);
      let ok = true;
      if (action !== 'start') ok = (await stopNodes(ctx, nodes, action as Exclude<Action, 'start'>)) && ok;
      if (action === 'start' || action === 'restart') ok = (await startNodes(ctx, nodes, plan)) && ok;
      setCode(ok ? 0 : 1);
    });
}

/** Sends each live node SIGTERM (SIGKILL for `kill`) and waits for it to exit. */
async function stopNodes(ctx: CliContext, nodes: readonly Node[], action: Exclude<Action, 'start'>): Promise<boolean> {
  ctx.io.out(`> Stopping nodes...\n`);
  const stopping: { node: Node; pid: number }[] = [];
  for (const node of nodes) {
    const pid = livePid(node);
    if (pid === null) {
      ctx.io.out(`\t> ${node.name}: DOWN (not running)\n`);
      continue;
    }
    process.kill(pid, action === 'kill' ? 'SIGKILL' : 'SIGTERM');
    ctx.io.out(`\t> ${node.name}: ${action === 'kill' ? 'KILL' : 'TERM'} -> ${pid}\n`);
    stopping.push({ node, pid });
  }
  let ok = true;
  for (const { node, pid } of stopping) {
    try {
      await waitFor(() => !processAlive(pid), `${node.name} (pid ${pid}) to exit`, { timeoutMs: STOP_WAIT_MS, maxIntervalMs: 100 });
      ctx.io.out(`\t> ${node.name}: DOWN\n`);
    } catch {
      ok = false;
      ctx.io.err(`\t> ${node.name}: still running (pid ${pid}) after ${STOP_WAIT_MS / 1000}s\n`);
    }
  }
  return ok;
}

/**
 * Starts each node that is not running as a detached worker and waits for its pidfile. The
 * nodes start at the same time (each is its own process; none waits for another), and their
 * lines are printed in the order of the command line.
 */
async function startNodes(ctx: CliContext, nodes: readonly Node[], plan: Plan): Promise<boolean> {
  const script = ctx.argv?.[1];
  if (script === undefined || ctx.app !== undefined) throw new UsageError('multi needs the celeriac command line (it starts the command again for each node)');
  ctx.io.out(`> Starting nodes...\n`);
  const startOne = async (node: Node): Promise<{ ok: boolean; line: string; err: string }> => {
    const running = livePid(node);
    if (running !== null) return { ok: true, line: `\t> ${node.name}: already running (pid ${running})\n`, err: '' };
    const args = [...plan.globals, 'worker', '--detach', '-n', node.name, '--pidfile', node.pidfileTemplate, '--logfile', node.logfile, ...node.worker];
    // As `celery multi`: the pidfile's folder is made for the node (the worker makes its log
    // file's). One that cannot be made is the worker's to report, in its log file.
    try {
      makeDirs(dirname(node.pidfile));
    } catch {
      // reported by the worker
    }
    let err = '';
    const code = await new Promise<number | null>((done) => {
      const child = spawn(process.execPath, [...process.execArgv, script, ...args], { cwd: ctx.io.cwd, stdio: ['ignore', 'ignore', 'pipe'], env: process.env });
      child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
      child.once('error', () => done(null));
      child.once('close', (c) => done(c));
    });
    if (code === 0) err = '';
    const pid = code === 0 ? await waitFor(() => livePid(node), `${node.name} to write its pidfile`, { timeoutMs: START_WAIT_MS, maxIntervalMs: 100 }).catch(() => null) : null;
    if (pid === null) return { ok: false, line: `\t> ${node.name}: FAILED (see ${expandPathTemplate(node.logfile, node.name)})\n`, err };
    return { ok: true, line: `\t> ${node.name}: OK (pid ${pid})\n`, err };
  };
  let ok = true;
  for (const result of await Promise.all(nodes.map(startOne))) {
    if (result.err !== '') ctx.io.err(result.err);
    ctx.io.out(result.line);
    ok = result.ok && ok;
  }
  return ok;
}
