/**
 * @module worker/control/control-handlers
 * The remote-control commands that change a worker (`celery control ...`), with Python's
 * argument names and reply texts (docs/protocol.md §5.4).
 */
import type { Json, JsonObject } from '../../protocol/types.js';
import type { ControlTarget } from './control-target.js';
import { INSPECT_HANDLERS, NO_REPLY, nok, ok, type ControlHandler } from './inspect-handlers.js';
import { parseRate } from '../../core/rate.js';
import { describeGiven } from '../../core/option-names.js';

/**
 * An argument a command could not take, for its error reply. Read leniently before: a value of
 * the wrong type fell back to the default, so `time_limit` with `hard: 'x'` lifted the limit,
 * and `add_consumer` with `queue: {}` consumed a queue named "[object Object]".
 */
class BadArgument extends Error {}

/** Celery's `maybe_list`: one id or a list of ids (strings or numbers). */
function ids(value: Json | undefined): string[] {
  const list = Array.isArray(value) ? value.filter((v) => v !== null) : value === undefined || value === null || value === '' ? [] : [value];
  const bad = list.find((v) => typeof v !== 'string' && typeof v !== 'number');
  if (bad !== undefined) throw new BadArgument(`task_id must be a task id or a list of them, got ${describeGiven(bad)}`);
  return list.map(String);
}

/** A number argument (a numeric string too), `fallback` when absent; `whole`: an integer >= `least`. */
function num(args: JsonObject, key: string, fallback: number | null, least: number, whole = false): number | null {
  const value = args[key];
  if (value === undefined || value === null || value === '') return fallback;
  const n = typeof value === 'number' || typeof value === 'string' ? Number(value) : NaN;
  if (!Number.isFinite(n) || n < least || (whole && !Number.isInteger(n))) throw new BadArgument(`${key} must be ${whole ? 'a whole number' : 'a number'} >= ${least}, got ${describeGiven(value)}`);
  return n;
}

/** The `queue` argument: a non-empty name. */
function queueName(args: JsonObject): string {
  const queue = args['queue'];
  if (typeof queue !== 'string' || queue === '') throw new BadArgument(`queue name required, got ${describeGiven(queue)}`);
  return queue;
}

/** `handler` with a {@link BadArgument} answered as an error reply, as Celery answers a ValueError. */
function checked(handler: ControlHandler): ControlHandler {
  return async (t, args) => {
    try {
      return await handler(t, args);
    } catch (err) {
      if (err instanceof BadArgument) return nok(err.message);
      throw err;
    }
  };
}

async function revoke(t: ControlTarget, args: JsonObject): Promise<Json> {
  const taskIds = [...new Set(ids(args['task_id']))];
  const terminate = args['terminate'] === true;
  const signal = typeof args['signal'] === 'string' && args['signal'] !== '' ? args['signal'] : 'SIGTERM';
  const terminated = await t.revoke(taskIds, { terminate, signal });
  if (terminate) return terminated.length === 0 ? ok('terminate: tasks unknown') : ok(`terminate: ${terminated.join(', ')}`);
  return ok(`tasks ${taskIds.join(', ')} flagged as revoked`);
}

function rateLimit(t: ControlTarget, args: JsonObject): Json {
  const name = String(args['task_name'] ?? '');
  const raw = args['rate_limit'];
  const limit = raw === null || raw === undefined || raw === '' || raw === 0 || raw === '0' ? null : String(raw);
  if (limit !== null) {
    try {
      parseRate(limit);
    } catch (err) {
      return nok(`Invalid rate limit string: ValueError(${JSON.stringify((err as Error).message)})`);
    }
  }
  if (!t.app.tasks.has(name)) return nok('unknown task');
  t.setRateLimit(name, limit);
  return limit === null ? ok('rate limit disabled successfully') : ok('new rate limit set successfully');
}

function timeLimit(t: ControlTarget, args: JsonObject): Json {
  const name = String(args['task_name'] ?? '');
  if (!t.app.tasks.has(name)) return nok('unknown task');
  t.setTimeLimit(name, { hard: num(args, 'hard', null, 0), soft: num(args, 'soft', null, 0) });
  return ok('time limits set successfully');
}

function resize(t: ControlTarget, args: JsonObject, sign: 1 | -1): Json {
  const verb = sign > 0 ? 'grow' : 'shrink';
  if (t.pool().autoscale !== null) return nok(`pool_${verb} is not supported with autoscale. Adjust autoscale range instead.`);
  t.resizePool(sign * (num(args, 'n', 1, 1, true) ?? 1));
  return ok(`pool will ${verb}`);
}

function autoscale(t: ControlTarget, args: JsonObject): Json {
  const current = t.pool();
  const max = num(args, 'max', current.autoscale?.max ?? current.size, 1, true) ?? current.size;
  const min = num(args, 'min', current.autoscale?.min ?? Math.min(max, 1), 0, true) ?? 1;
  const applied = t.autoscale(max, min);
  return ok(`autoscale now max=${applied.max} min=${applied.min}`);
}

async function addConsumer(t: ControlTarget, args: JsonObject): Promise<Json> {
  const queue = queueName(args);
  await t.addConsumer(queue);
  return ok(`add consumer ${queue}`);
}

async function cancelConsumer(t: ControlTarget, args: JsonObject): Promise<Json> {
  const queue = queueName(args);
  await t.cancelConsumer(queue);
  return ok(`no longer consuming from ${queue}`);
}

/** The control commands by name. */
export const CONTROL_HANDLERS: Readonly<Record<string, ControlHandler>> = {
  revoke: checked(revoke),
  terminate: checked((t, args) => revoke(t, { ...args, terminate: true })),
  rate_limit: rateLimit,
  time_limit: checked(timeLimit),
  pool_grow: checked((t, args) => resize(t, args, 1)),
  pool_shrink: checked((t, args) => resize(t, args, -1)),
  autoscale: checked(autoscale),
  add_consumer: checked(addConsumer),
  cancel_consumer: checked(cancelConsumer),
  enable_events: (t) => ok(t.setTaskEvents(true) ? 'task events enabled' : 'task events already enabled'),
  disable_events: (t) => ok(t.setTaskEvents(false) ? 'task events disabled' : 'task events already disabled'),
  heartbeat: async (t) => {
    await t.heartbeat();
    return null;
  },
  shutdown: (t) => {
    t.shutdown();
    return NO_REPLY;
  },
};

/** Every command a Celeriac worker answers. */
export const HANDLERS: Readonly<Record<string, ControlHandler>> = { ...INSPECT_HANDLERS, ...CONTROL_HANDLERS };
