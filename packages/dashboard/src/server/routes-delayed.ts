/**
 * @module server/routes-delayed
 * `GET /api/broker/delayed`: the ETA / countdown tasks the broker holds for later delivery
 * (Redis: `celeriac.delayed`; RabbitMQ: the delay queues, browsed), for the broker and tasks
 * pages. Read through the engine (celeriac/monitor's readDelayedTasks); one read at a time,
 * reused for a short while, because on RabbitMQ a read takes the delay queues' messages and
 * gives them back.
 */
import type { FastifyInstance } from 'fastify';
import { readDelayedTasks, type DelayedTasks } from 'celeriac/monitor';
import type { ServerContext } from './context.js';
import { withDeadline } from '../ingest/deadline.js';
import { int } from './params.js';

/** Most tasks one answer lists (RabbitMQ browses at most 1,000 messages per read anyway). */
const MAX_LISTED = 500;
/** How long one read of the broker answers every page asking. */
const REUSE_MS = 2000;

/** The answer of `/api/broker/delayed`. */
export interface DelayedAnswer {
  transport: string;
  /** False when the broker keeps no listing of delayed messages. */
  supported: boolean;
  /** Delayed messages of every queue, or null when not counted (or unreadable). */
  total: number | null;
  /** Whether `tasks` lists every one of them. */
  complete: boolean;
  error: string | null;
  tasks: { uuid: string; name: string; queue: string; eta: string; deliver_at: number; priority: number; args: string; kwargs: string }[];
}

/** Registers the route on `server`. */
export function registerDelayedRoute(server: FastifyInstance, ctx: ServerContext): void {
  let last: { at: number; read: Promise<DelayedTasks | null> } | undefined;
  const read = (): Promise<DelayedTasks | null> => {
    const now = Date.now();
    if (last === undefined || now - last.at > REUSE_MS) last = { at: now, read: withDeadline(readDelayedTasks(ctx.app.broker, MAX_LISTED), 5000, 'delayed messages') };
    return last.read;
  };

  server.get('/api/broker/delayed', async (req): Promise<DelayedAnswer> => {
    const limit = int(req, 'limit', 100, { min: 1, max: MAX_LISTED }) ?? 100;
    const transport = ctx.app.broker.kind;
    let found: DelayedTasks | null;
    try {
      found = await read();
    } catch (error) {
      last = undefined;
      return { transport, supported: true, total: null, complete: false, error: `Broker unavailable: ${(error as Error).message}`, tasks: [] };
    }
    if (found === null) return { transport, supported: false, total: null, complete: false, error: null, tasks: [] };
    const tasks = found.tasks.slice(0, limit).map((t) => ({
      uuid: t.id, name: t.name, queue: t.queue, eta: new Date(t.deliverAt).toISOString(), deliver_at: t.deliverAt / 1000, priority: t.priority, args: t.args, kwargs: t.kwargs,
    }));
    return { transport, supported: true, total: found.total, complete: found.total !== null && tasks.length >= found.total, error: null, tasks };
  });
}
