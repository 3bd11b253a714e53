/**
 * @module test/support/rabbitmqctl
 * `rabbitmqctl` for the RabbitMQ tests, without vitest so that the suite's global setup
 * (scripts/test-vhosts.ts) can use it as well as the test files (through amqp-env.ts).
 *
 * Every `rabbitmqctl` call starts an Erlang VM: about a CPU-second and 2-4 s of wall time on
 * the 2-core test machine. So vhosts are added and deleted many in one eval, and the evals, and
 * the helpers below that stand for the CLI's verbs (`list_queues`, `close_all_connections`,
 * `delete_queue`), go to one Erlang node per process that stays (rabbit-eval.ts).
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { rabbitEval } from './rabbit-eval.js';

const run = promisify(execFile);

/** Host:port of the test RabbitMQ. */
export const TEST_AMQP_HOST = process.env['CELERIAC_TEST_AMQP_HOST'] ?? '127.0.0.1:5672';

/** The broker URL of a vhost. */
export function vhostUrl(vhost: string, query = ''): string {
  return `amqp://guest:guest@${TEST_AMQP_HOST}/${encodeURIComponent(vhost)}${query}`;
}

/** How long a vhost is given to be made: a healthy node adds a batch in 1-3 s. */
export const VHOST_ADD_TIMEOUT_MS = 30_000;

/**
 * The error of a `rabbitmqctl` call that did not answer in time, naming the state that makes
 * it so: after hours of tests creating and deleting quorum queues, RabbitMQ 3.10 stops adding
 * vhosts and elects quorum leaders slowly.
 */
export function wedgedError(what: string, timeoutMs: number, cause?: unknown): Error {
  return new Error(
    `rabbitmqctl ${what} did not answer in ${timeoutMs / 1000} s: the RabbitMQ node may be wedged ` +
      '(after much quorum-queue churn vhost adds hang and quorum leader elections stall; on 2026-11-25 it had also run out ' +
      "of file descriptors, `grep emfile /var/log/rabbitmq/*.log`, with ~950 connections in CLOSE-WAIT). Look with " +
      "`rabbitmqctl eval 'rabbit_vhost_sup_sup:check().'`, `rabbitmqctl list_queues -p <vhost> name type leader` and " +
      "`ss -tan state close-wait '( sport = :5672 )' | wc -l`; vhosts left by tests: `rabbitmqctl list_vhosts | grep ^celeriac-`",
    { cause },
  );
}

/**
 * Runs `rabbitmqctl` with `args`; returns stdout. A call that takes over `timeoutMs` is killed
 * and rejects with {@link wedgedError} naming `what` (the verb by default).
 */
export async function rabbitmqctl(...args: string[]): Promise<string> {
  return rabbitmqctlWithin({ timeoutMs: 60_000 }, ...args);
}

/** The processes below `pid` (Linux /proc; none elsewhere). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return [];
  }
  for (const e of entries) {
    try {
      // The parent pid is the 2nd field after the parenthesised command name.
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  for (let next = children.get(pid) ?? []; next.length > 0; next = next.flatMap((p) => children.get(p) ?? [])) out.push(...next);
  return out;
}

/**
 * {@link rabbitmqctl} with its time limit, the name its timeout error gives the call, and (for
 * tests) the command. On timeout the whole process tree goes: run as root, the wrapper starts
 * the CLI's Erlang VM through `su` in a session of its own, which a kill of the wrapper alone
 * leaves running, holding one of the 11 ports rabbitmqctl may use (35672-35682); eleven such
 * and every rabbitmqctl fails with "Distribution failed: nodistribution".
 */
export async function rabbitmqctlWithin(opts: { timeoutMs: number; what?: string; command?: string }, ...args: string[]): Promise<string> {
  const call = run(opts.command ?? 'rabbitmqctl', ['-q', ...args]);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    const pid = call.child.pid;
    if (pid === undefined) return;
    // Collected before any is killed: an orphan's parent would no longer say it was ours.
    for (const p of [pid, ...descendants(pid)]) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }, opts.timeoutMs);
  try {
    return (await call).stdout;
  } catch (error) {
    if (timedOut) throw wedgedError(opts.what ?? args[0] ?? '', opts.timeoutMs, error);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Evaluates Erlang expressions ending in `ok.` on the broker's node (rabbit-eval.ts;
 * `rabbitmqctl eval` where that node cannot be had) and resolves with what they printed. Rejects when they raise, and
 * with {@link wedgedError} naming `what` after `timeoutMs`.
 */
export function evalOnBroker(expr: string, opts: { timeoutMs: number; what: string }): Promise<string> {
  // rabbitmqctl prints the expression's value last: the helpers here all end in `ok`, left out.
  const viaCli = async (e: string) => (await rabbitmqctlWithin(opts, 'eval', e)).replace(/(^|\n)ok\n?$/, '$1');
  return rabbitEval(expr, opts.timeoutMs, (cause) => wedgedError(opts.what, opts.timeoutMs, cause), viaCli);
}

/** Every vhost a test makes starts with this; {@link deleteVhosts} deletes no other. */
export const TEST_VHOST_PREFIX = 'celeriac-';

/** A fresh vhost name, `celeriac-<label>-<random>`. */
export function newVhostName(label: string): string {
  if (!/^[a-z0-9-]+$/.test(label)) throw new Error(`vhost label ${JSON.stringify(label)}: use a-z, 0-9 and -`);
  return `${TEST_VHOST_PREFIX}${label}-${randomUUID().slice(0, 8)}`;
}

/** `names` as an Erlang list of binaries, after checking each is a test vhost name. */
function erlangList(names: readonly string[]): string {
  for (const name of names) {
    if (!name.startsWith(TEST_VHOST_PREFIX) || !/^[a-z0-9-]+$/.test(name)) throw new Error(`not a test vhost: ${JSON.stringify(name)}`);
  }
  return `[${names.map((n) => `<<"${n}">>`).join(', ')}]`;
}

/** The acting user RabbitMQ records, as `rabbitmqctl add_vhost` does. */
const ACTING_USER = '<<"rmq-cli">>';

/**
 * Adds each vhost of `names` and gives guest every permission on it: `add_vhost` and
 * `set_permissions` for all of them in one `rabbitmqctl eval`, one Erlang VM. A failure (an
 * `{error, _}` instead of `ok`) makes rabbitmqctl exit non-zero, so this rejects.
 */
export async function addVhosts(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await evalOnBroker(
    `U = ${ACTING_USER}, [begin ok = rabbit_vhost:add(V, U), ok = rabbit_auth_backend_internal:set_permissions(<<"guest">>, V, <<".*">>, <<".*">>, <<".*">>, U) end || V <- ${erlangList(names)}], ok.`,
    { timeoutMs: VHOST_ADD_TIMEOUT_MS, what: 'add_vhost' },
  );
}

/** Deletes each vhost of `names` (and everything in it) in one `rabbitmqctl eval`; one already gone is no error. */
export async function deleteVhosts(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  // A vhost's queues go with it: 2 minutes for the run's last call, which deletes them all.
  await evalOnBroker(`[rabbit_vhost:delete(V, ${ACTING_USER}) || V <- ${erlangList(names)}], ok.`, { timeoutMs: 120_000, what: 'delete_vhost' });
}

/** The names of the queues and exchanges in a vhost (the default exchange `''` and `amq.*` included). */
export interface VhostContents {
  readonly queues: string[];
  readonly exchanges: string[];
}

/** Lists a test vhost's queues and exchanges, in one `rabbitmqctl eval` (AMQP cannot list). */
export async function listVhost(vhost: string): Promise<VhostContents> {
  const v = erlangList([vhost]).slice(1, -1);
  const out = await evalOnBroker(
    `V = ${v}, io:format("~s~n", [rabbit_json:encode(#{queues => [element(4, amqqueue:get_name(Q)) || Q <- rabbit_amqqueue:list(V)], exchanges => [element(4, element(2, X)) || X <- rabbit_exchange:list(V)]})]), ok.`,
    { timeoutMs: VHOST_ADD_TIMEOUT_MS, what: `eval (list the queues of ${vhost})` },
  );
  const line = out.split('\n').find((l) => l.startsWith('{'));
  if (line === undefined) throw new Error(`rabbitmqctl listed no contents of ${vhost}: ${out}`);
  return JSON.parse(line) as VhostContents;
}

/** `name` as an Erlang binary, after checking it holds nothing to escape. */
function erlangBinary(name: string): string {
  if (!/^[\w.~@:+-]+$/.test(name)) throw new Error(`not a plain RabbitMQ name: ${JSON.stringify(name)}`);
  return `<<"${name}">>`;
}

/** The `list_queues` columns the tests read: the name, then numbers. */
export type QueueColumn = 'messages' | 'consumers' | 'messages_unacknowledged' | 'messages_ready';

/**
 * `rabbitmqctl list_queues -p <vhost> name <columns> --no-table-headers --quiet`: one line per
 * queue of the test vhost, its name and the columns, tab-separated.
 */
export async function listQueues(vhost: string, columns: readonly QueueColumn[]): Promise<string> {
  const v = erlangList([vhost]).slice(1, -1);
  const items = columns.join(', ');
  const out = await evalOnBroker(
    `Ks = [${items}], [io:format("~ts~n", [lists:join("\t", [binary_to_list(element(4, proplists:get_value(name, I))) | [integer_to_list(proplists:get_value(K, I)) || K <- Ks]])]) || I <- rabbit_amqqueue:info_all(${v}, [name | Ks])], ok.`,
    { timeoutMs: 60_000, what: 'list_queues' },
  );
  return out
    .split('\n')
    .filter((line) => line !== '')
    .join('\n');
}

/** `rabbitmqctl close_all_connections --vhost <vhost> <reason>`: closes every client connection to the test vhost. */
export async function closeConnections(vhost: string, reason: string): Promise<void> {
  const v = erlangList([vhost]).slice(1, -1);
  await evalOnBroker(
    `[rabbit_networking:close_connection(proplists:get_value(pid, I), ${JSON.stringify(reason)}) || I <- rabbit_networking:connection_info_all([pid, vhost]), proplists:get_value(vhost, I) =:= ${v}], ok.`,
    { timeoutMs: 60_000, what: 'close_all_connections' },
  );
}

/** `rabbitmqctl delete_queue --vhost <vhost> <queue>`: deletes the queue, consumers and messages and all. */
export async function deleteQueue(vhost: string, queue: string): Promise<void> {
  const v = erlangList([vhost]).slice(1, -1);
  await evalOnBroker(`{ok, Q} = rabbit_amqqueue:lookup(rabbit_misc:r(${v}, queue, ${erlangBinary(queue)})), {ok, _} = rabbit_amqqueue:delete(Q, false, false, ${ACTING_USER}), ok.`, {
    timeoutMs: 60_000,
    what: 'delete_queue',
  });
}
