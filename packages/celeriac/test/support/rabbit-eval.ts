/**
 * @module test/support/rabbit-eval
 * Erlang expressions evaluated on the test RabbitMQ node, for the RabbitMQ tests' `rabbitmqctl
 * eval`s, without an Erlang VM started for each.
 *
 * Every `rabbitmqctl` call starts one (through a shell wrapper and `su`): about a CPU-second
 * and 2-4 s of wall time on the 2-core test machine, and the RabbitMQ tests made some 60 such
 * calls a run, many in `waitFor` loops (a queue's count asked again and again). Here a process
 * starts one hidden Erlang node of its own the first time it asks, connected to the broker's
 * node as `rabbitmqctl` is (the node's cookie, read as root), and sends it each expression as
 * a line on its stdin; it evaluates the expression on the broker's node (`rpc:call` of
 * `erl_eval`) and answers with what the expression printed and a last line saying how it
 * ended. The node ends with the process (its stdin closes).
 *
 * Where the cookie cannot be read or the node cannot reach the broker, each call runs
 * `rabbitmqctl -q eval` instead, as before: the same expression, the same output.
 * No vitest here: the run's global setup (scripts/test-vhosts.ts) uses it as well.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/** The broker's node name: `NODENAME` of rabbitmq-env.conf (as rabbitmqctl reads it), else `rabbit@<short host name>`. */
export function rabbitNodeName(envConf = '/etc/rabbitmq/rabbitmq-env.conf'): string {
  const fromEnv = process.env['RABBITMQ_NODENAME'];
  if (fromEnv) return fromEnv;
  try {
    const line = readFileSync(envConf, 'utf8').split('\n').find((l) => /^\s*(export\s+)?(RABBITMQ_)?NODENAME=/.test(l));
    const value = line?.split('=')[1]?.trim().replace(/^["']|["']$/g, '');
    if (value) return value.includes('@') ? value : `${value}@${hostname().split('.')[0]}`;
  } catch {
    // no file: the default name
  }
  return `rabbit@${hostname().split('.')[0]}`;
}

/**
 * The node's loop: read `<id> <expression>` lines, evaluate each on the broker's node, print
 * its output, then `@@ctl <id> ok|error <term>`. `halt` at the end of stdin.
 */
const LOOP = [
  'Node = list_to_atom(os:getenv("CELERIAC_RABBIT_NODE")),',
  'Loop = fun Loop() ->',
  '  case io:get_line("") of',
  '    eof -> halt(0);',
  '    {error, _} -> halt(0);',
  '    Line ->',
  '      {Id, Src} = lists:splitwith(fun(C) -> C =/= $\\s end, string:trim(Line, trailing, "\\n")),',
  '      Reply = try',
  '          {ok, Toks, _} = erl_scan:string(Src),',
  '          {ok, Exprs} = erl_parse:parse_exprs(Toks),',
  '          case rpc:call(Node, erl_eval, exprs, [Exprs, erl_eval:new_bindings()]) of',
  '            {badrpc, R} -> {error, R};',
  '            {value, V, _} -> {ok, V}',
  '          end',
  '        catch C:E -> {error, {C, E}}',
  '        end,',
  '      {Tag, Term} = Reply,',
  '      io:format("~n@@ctl ~s ~s ~0p~n", [Id, Tag, Term]),',
  '      Loop()',
  '  end',
  'end,',
  'Loop().',
].join(' ');

/** A failed evaluation: the expression raised, or the node could not reach the broker. */
export class RabbitEvalError extends Error {}

interface Pending {
  readonly id: string;
  resolve(output: string): void;
  reject(error: Error): void;
}

/** One hidden Erlang node and the requests it answers, one at a time. */
class ControlNode {
  readonly #child: ChildProcessWithoutNullStreams;
  #out = '';
  #pending: Pending | undefined;
  #dead: Error | undefined;

  constructor(cookie: string, target: string) {
    const host = target.split('@')[1] ?? 'localhost';
    this.#child = spawn('erl', ['-sname', `celeriac-ctl-${process.pid}-${randomUUID().slice(0, 8)}@${host}`, '-setcookie', cookie, '-hidden', '-noshell', '-eval', LOOP], {
      env: { ...process.env, CELERIAC_RABBIT_NODE: target },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // The node must not keep a test process (or vitest's) alive: it ends when stdin closes.
    this.#child.unref();
    for (const stream of [this.#child.stdin, this.#child.stdout, this.#child.stderr] as unknown as { unref?: () => void }[]) stream.unref?.();
    this.#child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      this.#out += chunk;
      this.#settle();
    });
    this.#child.stderr.setEncoding('utf8').on('data', (chunk: string) => (this.#out += chunk));
    this.#child.on('error', (error) => this.#fail(error));
    this.#child.on('exit', (code, signal) => this.#fail(new Error(`the Erlang control node exited (${signal ?? code}): ${this.#out.trim().slice(-500)}`)));
    this.#child.stdin.on('error', (error) => this.#fail(error));
  }

  get dead(): boolean {
    return this.#dead !== undefined;
  }

  /** Sends one expression; resolves with what it printed, rejects when it raised. */
  eval(expr: string): Promise<string> {
    if (this.#dead) return Promise.reject(this.#dead);
    if (this.#pending) return Promise.reject(new Error('one request at a time'));
    const id = randomUUID().slice(0, 8);
    return new Promise<string>((resolve, reject) => {
      this.#pending = { id, resolve, reject };
      this.#out = '';
      this.#child.stdin.write(`${id} ${expr.replace(/\s*\n\s*/g, ' ')}\n`);
    });
  }

  kill(): void {
    this.#fail(new Error('killed'));
    this.#child.kill('SIGKILL');
  }

  #settle(): void {
    const p = this.#pending;
    if (!p) return;
    const marker = `\n@@ctl ${p.id} `;
    const at = this.#out.indexOf(marker);
    if (at === -1) return;
    const end = this.#out.indexOf('\n', at + marker.length);
    if (end === -1) return;
    const [tag, ...rest] = this.#out.slice(at + marker.length, end).split(' ');
    const output = this.#out.slice(0, at);
    this.#out = this.#out.slice(end + 1);
    this.#pending = undefined;
    if (tag === 'ok') p.resolve(output);
    else p.reject(new RabbitEvalError(`${rest.join(' ')}${output ? `\n${output}` : ''}`));
  }

  #fail(error: Error): void {
    this.#dead ??= error;
    const p = this.#pending;
    this.#pending = undefined;
    p?.reject(error);
  }
}

/** The cookie of the broker's node (rabbitmqctl's, run as the rabbitmq user); undefined when unreadable. */
function readCookie(): string | undefined {
  for (const file of [process.env['CELERIAC_TEST_ERLANG_COOKIE_FILE'], '/var/lib/rabbitmq/.erlang.cookie'].filter((f): f is string => f !== undefined)) {
    try {
      const cookie = readFileSync(file, 'utf8').trim();
      if (cookie) return cookie;
    } catch {
      // not readable (not root): the next, else rabbitmqctl
    }
  }
  return undefined;
}

/** The process's node: unknown, usable (started and answering), or given up for rabbitmqctl. */
let node: Promise<ControlNode | undefined> | undefined;
/** Requests wait for the one before them. */
let queue: Promise<unknown> = Promise.resolve();
/** How the last call went to the broker (for the tests of this module). */
let lastPath: 'node' | 'rabbitmqctl' | undefined;

/** How the last {@link rabbitEval} of this process reached the broker: its Erlang node, or `rabbitmqctl eval`. */
export function lastRabbitEvalPath(): 'node' | 'rabbitmqctl' | undefined {
  return lastPath;
}

/** Starts the node and checks that it reaches the broker's; undefined (rabbitmqctl from then on) when it does not. */
async function startNode(): Promise<ControlNode | undefined> {
  const cookie = readCookie();
  if (cookie === undefined) return undefined;
  const target = rabbitNodeName();
  const started = new ControlNode(cookie, target);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      started.eval('node().'),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no answer in 15 s')), 15_000))),
    ]);
    return started;
  } catch {
    started.kill();
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** What a timed-out evaluation rejects with: the caller's own error (rabbitmqctl.ts's `wedgedError`). */
export type TimeoutError = (cause?: unknown) => Error;

/**
 * Evaluates `expr` (Erlang expressions ending in `.`) on the broker's node and resolves with
 * what it printed; rejects when it raised (an `ok = ...` that did not match), and with
 * `onTimeout()` when it took over `timeoutMs` (the node is then dropped; the next call starts
 * another). Through `rabbitmqctl -q eval` when no node of this process can reach the broker.
 */
export function rabbitEval(expr: string, timeoutMs: number, onTimeout: TimeoutError, viaCli: (expr: string) => Promise<string>): Promise<string> {
  const call = queue.then(async () => {
    if (node === undefined || (await node)?.dead === true) node = startNode();
    const n = await node;
    lastPath = n === undefined ? 'rabbitmqctl' : 'node';
    if (n === undefined) return viaCli(expr);
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        n.eval(expr),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            reject(onTimeout());
            n.kill();
          }, timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  });
  queue = call.catch(() => undefined);
  return call;
}
