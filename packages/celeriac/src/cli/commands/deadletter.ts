/**
 * @module cli/commands/deadletter
 * `celeriac deadletter list|show|replay|purge|stats`: the broker's set-aside store (dead letters
 * past `workerMaxDeliveries`, malformed or unsafe messages: two parts with quotas of their
 * own, core/set-aside.ts), on every broker that keeps one
 * (memory, Redis; RabbitMQ keeps none: core/spi/roles.ts). `replay` puts messages back at the
 * back of their queue as new ones; `purge` deletes them, asking first unless `-f`.
 */
import type { Command } from 'commander';
import type { App } from '../../core/app.js';
import { setAsideListingOf } from '../../core/spi/roles.js';
import type { SetAsideListing, SetAsidePartStats, SetAsideRecord } from '../../core/spi/broker.js';
import { SET_ASIDE_CATEGORIES, type SetAsideCategory } from '../../core/set-aside.js';
import { decodeEnvelope } from '../../protocol/envelope.js';
import { unreadableIdentity } from '../../worker/unreadable.js';
import { CeleriacError, ErrorCodes } from '../../errors.js';
import { type CliContext, parseNumberOption, UsageError } from '../io.js';
import { confirm } from '../prompt.js';
import { warnIfMemoryBroker } from './inspect.js';

type GetApp = (required: boolean) => Promise<{ app: App }>;

/** What a record's envelope says about its task, as far as it can be read. */
interface TaskOf {
  task: string | null;
  taskId: string | null;
  args: unknown;
  kwargs: unknown;
}

/** Task name, id and arguments of an envelope, or nulls when it cannot be read. */
export function taskOf(raw: string): TaskOf {
  try {
    const { message } = decodeEnvelope(raw);
    const h = message.headers as Record<string, unknown>;
    let args: unknown = null;
    let kwargs: unknown = null;
    if (message.contentType.toLowerCase() === 'application/json') {
      try {
        const body = JSON.parse(message.body) as unknown;
        if (Array.isArray(body)) [args, kwargs] = body as [unknown, unknown];
      } catch {
        // A body that is not JSON: shown as null.
      }
    }
    return { task: typeof h['task'] === 'string' ? h['task'] : null, taskId: typeof h['id'] === 'string' ? h['id'] : null, args, kwargs };
  } catch {
    // An envelope whose body cannot be decoded (pickle, msgpack, bad base64): its headers may
    // still name the task, as the worker read them to store FAILURE for it (worker/unreadable.ts).
    const who = unreadableIdentity({ raw });
    return { task: who?.task ?? null, taskId: who?.id ?? null, args: null, kwargs: null };
  }
}

/** The broker's set-aside store. @throws CeleriacError CONFIG when the broker keeps none. */
function storeOf(app: App): SetAsideListing {
  const store = setAsideListingOf(app.broker);
  if (store === undefined) {
    const where = app.broker.kind === 'amqp' ? ': on RabbitMQ they are the queues celeriac.set-aside (malformed messages) and celeriac.deadletters (dead letters); read them with rabbitmqctl list_queues, the management UI or a client' : '';
    throw new CeleriacError(ErrorCodes.CONFIG, `the ${app.broker.kind} broker keeps no set-aside store that this command reads (dead letters)${where}`);
  }
  return store;
}

const plural = (n: number, word: string) => (n === 1 ? word : `${word}s`);
const oneLine = (text: string, max: number) => {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

/** The task of a record: from its envelope, or (truncated) from what was kept of it. */
function recordTask(r: SetAsideRecord): TaskOf {
  if (r.truncated === undefined) return taskOf(r.raw);
  return { task: r.task ?? null, taskId: r.taskId ?? null, args: null, kwargs: null };
}

/** One line of `deadletter list`. */
export function listLine(r: SetAsideRecord): string {
  const t = recordTask(r);
  const task = t.task === null ? '(unreadable)' : `${t.task}[${t.taskId ?? '?'}]`;
  const cut = r.truncated === undefined ? '' : ` (truncated: ${r.truncated} bytes)`;
  return `${r.id}  ${new Date(r.at).toISOString()}  ${r.category}  ${r.queue}  ${task}${cut}  ${oneLine(r.reason, 120)}\n`;
}

/** The lines of `deadletter stats`. */
export function statsLines(stats: Record<SetAsideCategory, SetAsidePartStats>): string {
  const rows = SET_ASIDE_CATEGORIES.map((c) => {
    const s = stats[c];
    return `${c.padEnd(12)}${String(s.count).padStart(8)} / ${String(s.maxCount).padEnd(8)}${String(s.bytes).padStart(12)} / ${s.maxBytes}`;
  });
  return `${'part'.padEnd(12)}${'records'.padStart(8)} / ${'max'.padEnd(8)}${'bytes'.padStart(12)} / max\n${rows.join('\n')}\n`;
}

/** The records chosen by ids or `--all` (optionally of `-Q` queues). */
async function chosen(store: SetAsideListing, ids: readonly string[], flags: { all?: boolean; queues?: string }): Promise<SetAsideRecord[]> {
  if (ids.length > 0 && flags.all === true) throw new UsageError('give ids or --all, not both');
  if (ids.length === 0 && flags.all !== true) throw new UsageError('give the ids of the messages (see `deadletter list`), or --all');
  const queues = new Set((flags.queues ?? '').split(',').map((q) => q.trim()).filter(Boolean));
  const records = await store.setAsideMessages();
  const wanted = new Set(ids);
  const picked = records.filter((r) => (flags.all === true || wanted.has(r.id)) && (queues.size === 0 || queues.has(r.queue)));
  const missing = ids.filter((id) => !records.some((r) => r.id === id));
  if (missing.length > 0) throw new UsageError(`no set-aside message with id ${missing.join(', ')}`);
  return picked;
}

/** Registers `deadletter` and its subcommands; `setCode` gets 1 when the user declines a purge. */
export function registerDeadletter(program: Command, ctx: CliContext, getApp: GetApp, setCode: (code: number) => void): void {
  const cmd = program.command('deadletter').description('List, show, replay or purge the messages the broker set aside (dead letters, malformed messages).');
  const open = async () => {
    const { app } = await getApp(false);
    warnIfMemoryBroker(app, ctx);
    return { app, store: storeOf(app), done: async () => (ctx.app === undefined ? app.close() : undefined) };
  };

  cmd
    .command('list')
    .description('List set-aside messages, oldest first: id, time, part (malformed or dead-letter), queue, task[id], reason.')
    .option('-Q, --queues <list>', 'only these comma-separated queues')
    .option('--limit <n>', 'at most this many (the newest)')
    .option('--json', 'print the records as JSON, one per line')
    .action(async (flags: { queues?: string; limit?: string; json?: boolean }) => {
      const limit = parseNumberOption('--limit', flags.limit, { integer: true });
      const { store, done } = await open();
      const queues = new Set((flags.queues ?? '').split(',').map((q) => q.trim()).filter(Boolean));
      let records = (await store.setAsideMessages()).filter((r) => queues.size === 0 || queues.has(r.queue));
      if (limit !== undefined) records = limit === 0 ? [] : records.slice(-limit);
      if (flags.json === true) for (const r of records) ctx.io.out(`${JSON.stringify({ ...r, ...recordTask(r) })}\n`);
      else if (records.length === 0) ctx.io.out('No set-aside messages.\n');
      else for (const r of records) ctx.io.out(listLine(r));
      await done();
    });

  cmd
    .command('show <id>')
    .description('Print one set-aside message: its reason, queue, time, task and whole envelope.')
    .action(async (id: string) => {
      const { store, done } = await open();
      const record = (await store.setAsideMessages()).find((r) => r.id === id);
      if (record === undefined) throw new UsageError(`no set-aside message with id ${id}`);
      const t = recordTask(record);
      let envelope: unknown = record.raw;
      try {
        envelope = JSON.parse(record.raw);
      } catch {
        // Not JSON: printed as the text it is.
      }
      const cut = record.truncated === undefined ? {} : { truncated: record.truncated };
      ctx.io.out(`${JSON.stringify({ id: record.id, queue: record.queue, at: new Date(record.at).toISOString(), category: record.category, reason: record.reason, ...cut, ...t, envelope }, null, 2)}\n`);
      await done();
    });

  cmd
    .command('stats')
    .description('Records and bytes kept in each part of the store (malformed messages, dead-lettered tasks), with their quotas.')
    .option('--json', 'print the figures as JSON')
    .action(async (flags: { json?: boolean }) => {
      const { store, done } = await open();
      const stats = await store.setAsideStats();
      ctx.io.out(flags.json === true ? `${JSON.stringify(stats)}\n` : statsLines(stats));
      await done();
    });

  cmd
    .command('replay [ids...]')
    .description('Put set-aside messages back at the back of their queue, as new messages (their delivery count starts again).')
    .option('--all', 'every set-aside message (of the -Q queues, if given)')
    .option('-Q, --queues <list>', 'with --all: only these comma-separated queues')
    .action(async (ids: string[], flags: { all?: boolean; queues?: string }) => {
      const { store, done } = await open();
      const records = await chosen(store, ids, flags);
      const taken = records.length === 0 ? [] : await store.takeSetAside(records.map((r) => r.id), 'replay');
      ctx.io.out(`Replayed ${taken.length} ${plural(taken.length, 'message')}.\n`);
      const kept = records.filter((r) => r.truncated !== undefined).length;
      if (kept > 0) ctx.io.err(`${kept} truncated ${plural(kept, 'record')} kept: only the start of ${kept === 1 ? 'its envelope was' : 'their envelopes were'} stored (purge ${kept === 1 ? 'it' : 'them'} when done)\n`);
      for (const r of taken) ctx.io.out(`  ${r.id} -> ${r.queue}\n`);
      await done();
    });

  cmd
    .command('purge [ids...]')
    .description('Delete set-aside messages for good. There is no undo.')
    .option('--all', 'every set-aside message (of the -Q queues, if given)')
    .option('-Q, --queues <list>', 'with --all: only these comma-separated queues')
    .option('-f, --force', 'do not ask for confirmation')
    .action(async (ids: string[], flags: { all?: boolean; queues?: string; force?: boolean }) => {
      const { store, done } = await open();
      const records = await chosen(store, ids, flags);
      if (records.length > 0 && flags.force !== true) {
        const question = `WARNING: This will delete ${records.length} set-aside ${plural(records.length, 'message')}.\n         There is no undo for this operation!\n\n(to skip this prompt use the -f option)\nAre you sure?`;
        if (!(await confirm(ctx.io, question))) {
          ctx.io.err('Aborted!\n');
          setCode(1);
          await done();
          return;
        }
      }
      const taken = records.length === 0 ? [] : await store.takeSetAside(records.map((r) => r.id), 'purge');
      ctx.io.out(`Purged ${taken.length} set-aside ${plural(taken.length, 'message')}.\n`);
      await done();
    });
}
